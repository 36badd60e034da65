"""data_config's input fields as TensorFlow values: dtypes, defaults, and
the serving inputs of an export."""

import tensorflow as tf

from mx_rec.config.errors import ConfigError
from mx_rec.config.features import LOOKED_UP, feature_name
from mx_rec.config.protos.dataset_pb2 import DatasetConfig

# The dtype a column of each FieldType is read as.
DTYPES = {
    DatasetConfig.INT32: tf.int32,
    DatasetConfig.INT64: tf.int64,
    DatasetConfig.STRING: tf.string,
    DatasetConfig.FLOAT: tf.float32,
    DatasetConfig.DOUBLE: tf.float64,
    DatasetConfig.BOOL: tf.bool,
}


def dtype(field):
    """The tf.DType of a data_config.input_fields entry."""
    return DTYPES[field.input_type]


def default_text(field):
    """The text an empty or missing column reads as: default_val, else the
    type's zero ("" for STRING, "0" otherwise)."""
    if field.HasField("default_val"):
        return field.default_val
    return "" if field.input_type == DatasetConfig.STRING else "0"


def default_value(field):
    """default_text(field) as a Python value of the field's type."""
    text = default_text(field)
    if field.input_type in (DatasetConfig.INT32, DatasetConfig.INT64):
        return int(text)
    if field.input_type in (DatasetConfig.FLOAT, DatasetConfig.DOUBLE):
        return float(text)
    if field.input_type == DatasetConfig.BOOL:
        return text.lower() in ("true", "1")
    return text


def model_fields(config):
    """The input fields the model's features read, in data_config order."""
    read = {feature.input_name for feature in config.model_config.features}
    return [field for field in config.data_config.input_fields if field.input_name in read]


def serving_features(config):
    """{input_name: tf.TensorSpec of one row} of the export's inputs: one
    value per row of every field the model reads, in its column type (id
    fields raw, e.g. strings: the model turns them into keys). A TagFeature
    is served as its training input is, one string of ids joined by its
    separator."""
    if config.export_config.multi_value_fields.input_name:
        raise ConfigError.at("export_config.multi_value_fields", (
            "is not supported: a TagFeature's serving input is one string of ids joined by "
            "the feature's separator, as in training; remove multi_value_fields"))
    return {field.input_name: tf.TensorSpec([], dtype(field)) for field in model_fields(config)}


def looked_up(config):
    """[(feature_name, Feature)] of the features looked up in tables."""
    return [(feature_name(f), f) for f in config.model_config.features
            if f.feature_type in LOOKED_UP]
