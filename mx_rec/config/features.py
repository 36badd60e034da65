"""model_config.features: their tables and key feeding, as create_table()
arguments and FeatureSpecs, and their checks."""

import math
import os
import re

import tensorflow as tf

from mx_rec.config import data
from mx_rec.config.convert import error_at
from mx_rec.config.errors import ConfigError, Problems
from mx_rec.config.protos.dataset_pb2 import DatasetConfig
from mx_rec.config.protos.feature_pb2 import Feature, TableConfig
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.embedding import HOT_DEFAULT_FRACTION, MAX_SEND_COUNT
from mx_rec.libasc import _libasc

LOOKED_UP = (Feature.IdFeature, Feature.TagFeature)
COMBINERS = ("sum", "mean", "sqrtn")
# The input types each feature type reads.
_INPUT_TYPES = {
    Feature.IdFeature: (DatasetConfig.INT32, DatasetConfig.INT64, DatasetConfig.STRING),
    Feature.TagFeature: (DatasetConfig.STRING,),
    Feature.RawFeature: (DatasetConfig.INT32, DatasetConfig.INT64, DatasetConfig.FLOAT,
                         DatasetConfig.DOUBLE, DatasetConfig.BOOL),
}
# Fields that only features looked up in a table use.
_TABLE_ONLY = ("table_name", "table", "string_to_key", "access_threshold", "eviction_threshold",
               "faae_coefficient", "send_count")


def feature_name(feature):
    return feature.feature_name or feature.input_name


def table_name(feature):
    return feature.table_name or feature_name(feature)


def tables(config):
    """{table name: (TableConfig, its dotted path)}, in order of first use;
    a shared table's options come from the first feature that sets them."""
    found = {}
    for i, feature in enumerate(config.model_config.features):
        name = table_name(feature)
        if feature.feature_type in LOOKED_UP and feature.HasField("table") and name not in found:
            found[name] = (feature.table, f"model_config.features[{i}].table")
    return found


def table_arguments(config):
    """{table name: create_table() keyword arguments} of every table."""
    return {name: create_table_arguments(name, table)
            for name, (table, _) in tables(config).items()}


def create_table_arguments(name, table):
    """create_table() keyword arguments of table `name` with options `table`
    (key_dtype int64; the sizes of tiers outside cache_mode are left out)."""
    host = table.cache_mode in (TableConfig.DDR, TableConfig.SSD)
    ssd = table.cache_mode == TableConfig.SSD
    return dict(
        key_dtype=tf.int64, dim=table.dim, name=name,
        emb_initializer=tf.compat.v1.truncated_normal_initializer(stddev=table.init_stddev),
        device_vocabulary_size=table.device_vocabulary_size,
        host_vocabulary_size=table.host_vocabulary_size if host else 0,
        ssd_vocabulary_size=table.ssd_vocabulary_size if ssd else 0,
        ssd_data_path=list(table.ssd_data_path) if ssd else None,
        default_value=table.default_value,
        cache_policy=TableConfig.CachePolicy.Name(table.cache_policy),
        hot_embedding=table.hot_embedding,
        hot_vocabulary_size=table.hot_vocabulary_size
        if table.HasField("hot_vocabulary_size") else None,
        hot_refresh_steps=table.hot_refresh_steps
        if table.HasField("hot_refresh_steps") else None)


def feature_spec(feature):
    """The FeatureSpec of a feature looked up in a table (its ids are the
    batch entry named after its input field)."""
    return FeatureSpec(
        feature_name(feature), table_name=table_name(feature), index_key=feature.input_name,
        access_threshold=feature.access_threshold
        if feature.HasField("access_threshold") else None,
        eviction_threshold=feature.eviction_threshold
        if feature.HasField("eviction_threshold") else None,
        faae_coefficient=feature.faae_coefficient)


def feature_specs(config):
    """[FeatureSpec] of the features looked up in tables, in config order."""
    return [feature_spec(f) for f in config.model_config.features
            if f.feature_type in LOOKED_UP]


def check(config):
    """ConfigError listing what is wrong in model_config.features and
    model_config.embedding."""
    problems = Problems()
    features = config.model_config.features
    if not features:
        problems.add("model_config.features", "is required: the model's inputs")
    names = set()
    for i, feature in enumerate(features):
        path = f"model_config.features[{i}]"
        if feature.input_name:  # (a missing input_name is reported once, below)
            problems.check_name(feature_name(feature), names, f"{path}.feature_name")
        problems.check(_check_feature, config, feature, path)
    for name, (table, path) in tables(config).items():
        problems.check(_check_table, name, table, path)
    problems.check(_check_sharing, config)
    problems.check(_check_embedding, config)
    problems.raise_if_any()


def _check_feature(config, feature, path):
    problems = Problems()
    if not feature.input_name:
        raise ConfigError.at(f"{path}.input_name", "is required: a data_config input field")
    problems.check(data.check_input_name, config, feature.input_name, f"{path}.input_name")
    if feature.input_name in config.data_config.label_fields:
        problems.add(f"{path}.input_name", f"{feature.input_name!r} is a label field")
    kind = Feature.FeatureType.Name(feature.feature_type)
    input_type = data.input_types(config).get(feature.input_name)
    if input_type is not None and input_type not in _INPUT_TYPES[feature.feature_type]:
        allowed = ", ".join(map(DatasetConfig.FieldType.Name, _INPUT_TYPES[feature.feature_type]))
        problems.add(f"{path}.input_name", f"{kind} reads {allowed} input, and "
                     f"{feature.input_name!r} is {DatasetConfig.FieldType.Name(input_type)}")
    if feature.feature_type == Feature.RawFeature:
        for field in _TABLE_ONLY:
            if feature.HasField(field):
                problems.add(f"{path}.{field}", "is only used by features looked up in a table "
                             "(IdFeature, TagFeature)")
    else:
        problems.check(_check_lookup, config, feature, path)
        if feature.HasField("normalizer"):
            problems.add(f"{path}.normalizer", "is only used by RawFeature")
    if feature.feature_type != Feature.TagFeature:
        for field in ("separator", "combiner"):
            if feature.HasField(field):
                problems.add(f"{path}.{field}", "is only used by TagFeature")
    elif feature.combiner not in COMBINERS:
        problems.add(f"{path}.combiner", f"{feature.combiner!r} is not one of "
                     f"{', '.join(COMBINERS)}")
    elif not feature.separator:
        problems.add(f"{path}.separator", "must not be empty")
    problems.raise_if_any()


def _check_sharing(config):
    """Features sharing a table agree on its options and thresholds."""
    problems, users = Problems(), {}
    for i, feature in enumerate(config.model_config.features):
        if feature.feature_type in LOOKED_UP:
            users.setdefault(table_name(feature), []).append((i, feature))
    for name, features in users.items():
        blocks = [(i, feature) for i, feature in features if feature.HasField("table")]
        if not blocks:
            problems.add(f"model_config.features[{features[0][0]}].table", "is required: the "
                         f"options of table {name!r} (dim, device_vocabulary_size, ...)")
        for i, feature in blocks[1:]:
            if feature.table != blocks[0][1].table:
                problems.add(f"model_config.features[{i}].table", "differs from the options "
                             f"feature {feature_name(blocks[0][1])!r} gives the same table "
                             f"{name!r}: set them once, or equal")
        thresholds = [(i, feature) for i, feature in features if any(_thresholds(feature))]
        for i, feature in thresholds[1:]:
            if _thresholds(feature) != _thresholds(thresholds[0][1]):
                problems.add(f"model_config.features[{i}].access_threshold", "differs from "
                             f"feature {feature_name(thresholds[0][1])!r}'s: features of one "
                             f"table ({name!r}) share its admission and eviction thresholds")
    problems.raise_if_any()


def _thresholds(feature):
    return tuple(getattr(feature, field) if feature.HasField(field) else None
                 for field in ("access_threshold", "eviction_threshold"))


def _check_embedding(config):
    """Eviction triggers need a feature that evicts."""
    problems, embedding = Problems(), config.model_config.embedding
    evicting = any(feature.HasField("eviction_threshold")
                   for feature in config.model_config.features)
    for field in ("evict_step_interval", "evict_time_interval"):
        path = f"model_config.embedding.{field}"
        if embedding.HasField(field) and getattr(embedding, field) < 1:
            problems.add(path, "must be >= 1")
        elif embedding.HasField(field) and not evicting:
            problems.add(path, "is set, but no feature has an eviction_threshold")
    problems.raise_if_any()


def _check_lookup(config, feature, path):
    """Admission, static-shape and key options of a feature looked up in a table."""
    problems = Problems()
    problems.check(_check_feature_spec, feature, path)
    if feature.HasField("string_to_key") and \
            data.input_types(config).get(feature.input_name) != DatasetConfig.STRING:
        problems.add(f"{path}.string_to_key", "is only used with a STRING input field")
    embedding = config.model_config.embedding
    if not embedding.use_dynamic and not 1 <= feature.send_count <= MAX_SEND_COUNT:
        problems.add(f"{path}.send_count", "is required with embedding.use_dynamic false "
                     f"(static shapes): unique ids per batch, in [1, {MAX_SEND_COUNT}]")
    table = tables(config).get(table_name(feature), (None,))[0]
    if not embedding.use_dynamic and table is not None and \
            feature.send_count > table.device_vocabulary_size and \
            not (embedding.use_dynamic_expansion and table.cache_mode == TableConfig.HBM):
        problems.add(f"{path}.send_count", f"{feature.send_count} is more than table "
                     f"{table_name(feature)!r}'s {table.device_vocabulary_size} device rows, "
                     "which must hold one batch's unique ids (unless an HBM table grows: "
                     "embedding.use_dynamic_expansion)")
    problems.raise_if_any()


def _check_feature_spec(feature, path):
    """FeatureSpec's own check of the admission options."""
    try:
        feature_spec(feature)
    except (TypeError, ValueError) as error:
        raise error_at(path, feature.DESCRIPTOR, error) from None


def _check_table(name, table, path):
    """ConfigError unless `table` (the options of table `name`, at `path`)
    makes a table create_table() accepts."""
    problems = Problems()
    for field in ("dim", "device_vocabulary_size"):
        if not table.HasField(field):
            problems.add(f"{path}.{field}", "is required")
    mode = TableConfig.CacheMode.Name(table.cache_mode)
    if table.cache_mode != TableConfig.HBM and table.host_vocabulary_size < 1:
        problems.add(f"{path}.host_vocabulary_size", f"must be >= 1 with cache_mode {mode}")
    if table.cache_mode == TableConfig.SSD:
        if table.ssd_vocabulary_size < 1:
            problems.add(f"{path}.ssd_vocabulary_size", "must be >= 1 with cache_mode SSD")
        if not table.ssd_data_path:
            problems.add(f"{path}.ssd_data_path", "is required with cache_mode SSD: "
                         "the directories of the SSD tier")
    if not table.hot_embedding:
        for field in ("hot_vocabulary_size", "hot_refresh_steps"):
            if table.HasField(field):
                problems.add(f"{path}.{field}", "is only used with hot_embedding: true")
    if not (math.isfinite(table.init_stddev) and table.init_stddev > 0):
        problems.add(f"{path}.init_stddev", "must be a finite number > 0")
    if not math.isfinite(table.default_value):
        problems.add(f"{path}.default_value", "must be finite")
    if not problems.found:
        problems.check(_check_native_options, name, table, path)
    problems.raise_if_any()


def _check_native_options(name, table, path):
    """libasc's own check of the table's options (ranges, tiers, hot rows)."""
    arguments = create_table_arguments(name, table)
    options = _libasc.TableOptions()
    options.name = name
    options.key_dtype = "int64"
    options.dim = table.dim
    options.device_vocabulary_size = table.device_vocabulary_size
    options.host_vocabulary_size = arguments["host_vocabulary_size"]
    options.ssd_vocabulary_size = arguments["ssd_vocabulary_size"]
    # Missing SSD directories are created with the table: check where they would be.
    options.ssd_data_path = [_nearest_existing(p) for p in arguments["ssd_data_path"] or []]
    options.cache_policy = arguments["cache_policy"]
    if table.hot_embedding:
        options.hot_vocabulary_size = table.hot_vocabulary_size if table.HasField(
            "hot_vocabulary_size") else max(1, int(table.device_vocabulary_size
                                                   * HOT_DEFAULT_FRACTION))
    if table.HasField("hot_refresh_steps"):
        options.hot_refresh_steps = table.hot_refresh_steps
    try:
        options.validate()
    except ValueError as error:
        # The path names the feature; a range's features then share one message.
        message = re.sub(r" \(table '[^']*'\)$", "", str(error))
        raise error_at(path, table.DESCRIPTOR, message) from None


def _nearest_existing(path):
    """`path`, or its closest ancestor that exists."""
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path
