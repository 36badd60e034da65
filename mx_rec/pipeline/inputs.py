"""The input pipeline: CSV (CSVInput, e.g. Criteo's TSV) or TFRecord
(TFRecordInput) files -> batches of (features, labels) for the Estimator.

  fn = input_fn(config, "train")     # or "eval", "predict"
  features, labels = fn()            # inside the Estimator

features: every input field except the labels, by input_name, one value per
sample; fields that features look up in tables hold int64 keys (keys.py),
TagFeature fields RaggedTensors of keys. In FeatureSpec key mode the batch
also carries each looked-up feature's KeyBatch (get_asc_insert_func).
labels: {label field: [batch]}.

Training reads the files data_config.num_epochs times (0: without end),
shuffled by a buffer of shuffle_buffer_size lines when shuffle is set;
evaluation and prediction read them once, in order.

CSV: one sample per line, columns in input_fields order split by
data_config.separator (no quoting); a line may stop early (missing trailing
columns), and empty or missing columns read as their default_val. A line
with more columns than input_fields fails the step, naming the count.
Empty lines are skipped; with_header skips each file's first line.
"""

import tensorflow as tf

from mx_rec.config.errors import ConfigError
from mx_rec.config.features import feature_specs
from mx_rec.config.protos.dataset_pb2 import DatasetConfig
from mx_rec.config.protos.feature_pb2 import EmbeddingConfig
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.pipeline import fields, keys

MODES = ("train", "eval", "predict")
# Prefix of the raw copies of the columns predict writes out unchanged.
RESERVED_PREFIX = "reserved/"


def input_files(paths, option):
    """The files of comma-separated `paths` (globs allowed); ConfigError at
    `option` (the config field or command option) if one matches nothing."""
    files = []
    for path in filter(None, (p.strip() for p in paths.split(","))):
        matched = sorted(tf.io.gfile.glob(path))
        if not matched:
            raise ConfigError.at(option, f"{path!r} matches no file")
        files.extend(matched)
    if not files:
        raise ConfigError.at(option, "is required: the input files")
    return files


def input_fn(config, mode, paths=None, reserved_cols=()):
    """An Estimator input_fn reading `paths` (default: the config's
    train_input_path for "train", else eval_input_path) as `mode` does;
    reserved_cols (predict) are also passed on raw under RESERVED_PREFIX."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    option = "train_input_path" if mode == "train" else "eval_input_path"
    files = input_files(paths if paths is not None else getattr(config, option), option)
    data = config.data_config
    columns = {field.input_name for field in data.input_fields}
    for name in reserved_cols:
        if name not in columns:
            raise ValueError(f"reserved_cols: {name!r} is not a data_config.input_fields "
                             f"input_name (they are: {', '.join(sorted(columns))})")

    def fn():
        dataset = _records(data, files)
        if mode == "train":
            if data.shuffle:
                dataset = dataset.shuffle(data.shuffle_buffer_size, reshuffle_each_iteration=True)
            dataset = dataset.repeat(data.num_epochs or None)
        dataset = dataset.batch(data.batch_size)
        parse = _parse_csv if data.input_type == DatasetConfig.CSVInput else _parse_tfrecord
        dataset = dataset.map(lambda records: _split(config, parse(data, records),
                                                     reserved_cols),
                              num_parallel_calls=data.num_parallel_calls)
        if config.model_config.embedding.key_mode == EmbeddingConfig.FEATURE_SPEC:
            dataset = dataset.map(get_asc_insert_func(feature_specs(config),
                                                      is_training=mode == "train"))
        return dataset.prefetch(data.prefetch_size)

    return fn


def _records(data, files):
    """A dataset of one record per sample: CSV lines or serialized Examples."""
    if data.input_type == DatasetConfig.TFRecordInput:
        return tf.data.TFRecordDataset(files, compression_type=data.data_compression_type)
    skip = 1 if data.with_header else 0
    lines = tf.data.Dataset.from_tensor_slices(files).flat_map(
        lambda path: tf.data.TextLineDataset(path).skip(skip))
    return lines.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)


def _split(config, columns, reserved_cols):
    """(features, labels) of one batch of parsed columns."""
    labels = {name: columns[name] for name in config.data_config.label_fields}
    features = {name: value for name, value in columns.items() if name not in labels}
    features = keys.model_keys(config, features)
    features.update((RESERVED_PREFIX + name, columns[name]) for name in reserved_cols)
    return features, labels


def _parse_csv(data, lines):
    """{input_name: [batch] column} of a batch of CSV lines."""
    lines = tf.strings.regex_replace(lines, "\r$", "")
    cells = tf.strings.split(lines, sep=data.separator)
    count = len(data.input_fields)
    check = tf.debugging.assert_less_equal(
        cells.row_lengths(), tf.constant(count, tf.int64),
        message=f"a line has more columns than the {count} of data_config.input_fields "
                f"(separator {data.separator!r})")
    with tf.control_dependencies([check]):
        cells = cells.to_tensor(default_value="", shape=[None, count])
    return {field.input_name: _column(field, cells[:, i])
            for i, field in enumerate(data.input_fields)}


def _column(field, text):
    """A [batch] string column as the field's type (empty: default_val)."""
    text = tf.where(tf.equal(text, ""), fields.default_text(field), text)
    dtype = fields.dtype(field)
    if dtype == tf.string:
        return text
    if dtype == tf.bool:
        lower = tf.strings.lower(text)
        return tf.equal(lower, "true") | tf.equal(lower, "1")
    return tf.strings.to_number(text, out_type=dtype)


# How TFRecord (tf.train.Example) stores each dtype, and back.
_STORED = {tf.int32: tf.int64, tf.bool: tf.int64, tf.float64: tf.float32}


def _parse_tfrecord(data, records):
    """{input_name: [batch] column} of a batch of serialized tf.train.Examples."""
    spec = {}
    for field in data.input_fields:
        dtype = fields.dtype(field)
        stored = _STORED.get(dtype, dtype)
        default = fields.default_value(field)
        spec[field.input_name] = tf.io.FixedLenFeature(
            [], stored, default_value=int(default) if stored == tf.int64 else default)
    parsed = tf.io.parse_example(records, spec)
    return {field.input_name: tf.cast(parsed[field.input_name], fields.dtype(field))
            for field in data.input_fields}
