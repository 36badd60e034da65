"""data_config: its checks, and the input fields other sections refer to."""

from mx_rec.config.errors import ConfigError, Problems
from mx_rec.config.protos.dataset_pb2 import DatasetConfig

COMPRESSION_TYPES = ("", "GZIP", "ZLIB")


def input_types(config):
    """{input_name: FieldType} of data_config.input_fields."""
    return {field.input_name: field.input_type for field in config.data_config.input_fields}


def check_input_name(config, name, path):
    """ConfigError at `path` unless `name` is an input field."""
    if name not in input_types(config):
        fields = ", ".join(input_types(config)) or "none"
        raise ConfigError.at(path, f"{name!r} is not a data_config.input_fields input_name "
                             f"(they are: {fields})")


def check(config):
    """ConfigError listing what is wrong in data_config."""
    problems, data = Problems(), config.data_config
    if not data.HasField("input_type"):
        problems.add("data_config.input_type", "is required: one of "
                     f"{', '.join(DatasetConfig.InputType.keys())}")
    if data.batch_size < 1:
        problems.add("data_config.batch_size", "must be >= 1")
    if len(data.separator) != 1:
        problems.add("data_config.separator", f"must be one character, got {data.separator!r}")
    if data.shuffle and data.shuffle_buffer_size < 1:
        problems.add("data_config.shuffle_buffer_size", "must be >= 1 when shuffle is true")
    if data.data_compression_type not in COMPRESSION_TYPES:
        problems.add("data_config.data_compression_type", f"{data.data_compression_type!r} is "
                     f"not one of {', '.join(map(repr, COMPRESSION_TYPES))}")
    if not data.input_fields:
        problems.add("data_config.input_fields", "is required: the input's columns")
    seen = set()
    for i, field in enumerate(data.input_fields):
        path = f"data_config.input_fields[{i}]"
        problems.check_name(field.input_name, seen, f"{path}.input_name")
        if field.HasField("default_val"):
            problems.check(_check_default, field, f"{path}.default_val")
    if not data.label_fields:
        problems.add("data_config.label_fields", "is required: the label column(s)")
    for i, name in enumerate(data.label_fields):
        problems.check(check_input_name, config, name, f"data_config.label_fields[{i}]")
    if data.HasField("sample_weight"):
        problems.check(check_input_name, config, data.sample_weight, "data_config.sample_weight")
    problems.raise_if_any()


def _check_default(field, path):
    """ConfigError unless default_val reads as a value of the field's type."""
    text, kind = field.default_val, field.input_type
    try:
        if kind in (DatasetConfig.INT32, DatasetConfig.INT64):
            int(text)
        elif kind in (DatasetConfig.FLOAT, DatasetConfig.DOUBLE):
            float(text)
        elif kind == DatasetConfig.BOOL and text.lower() not in ("true", "false", "0", "1"):
            raise ValueError(text)
    except ValueError:
        raise ConfigError.at(path, f"{text!r} is not a {DatasetConfig.FieldType.Name(kind)} "
                             "value") from None
