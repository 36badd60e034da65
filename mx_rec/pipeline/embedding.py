"""model_config.features -> the model's inputs: each looked-up feature's rows
from its mx_rec table (one table per table_name, shared by the features
naming it) and each RawFeature's values.

Keys reach the tables as model_config.embedding.key_mode says: IN_STEP
(sparse_lookup(table, ids)), FEATURE_SPEC (the input pipeline ran
get_asc_insert_func; sparse_lookup(table, spec, batch=features)) or
MODIFY_GRAPH (sparse_lookup(..., modify_graph=True) and a GraphModifierHook
in every mode's hooks). All three give the same result.
"""

import dataclasses

import tensorflow as tf

from mx_rec.config.features import feature_spec, table_arguments, table_name
from mx_rec.config.protos.feature_pb2 import EmbeddingConfig, Feature
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.graph.modifier import GraphModifierHook
from mx_rec.pipeline.fields import looked_up


@dataclasses.dataclass
class FeatureInputs:
    """The model's inputs of one batch, by feature_name, in config order.

    rows: [batch, dim] float32 of each feature looked up in a table.
    raw: [batch, 1] float32 of each RawFeature.
    """

    rows: dict
    raw: dict

    def concat(self, names=None):
        """[batch, sum of widths]: the rows and raw values of `names` (default
        every feature), in config order."""
        parts = [value for name, value in {**self.rows, **self.raw}.items()
                 if names is None or name in names]
        return tf.concat(parts, axis=1)


def create_tables(config):
    """{table name: SparseTable} of every table the features name."""
    return {name: create_table(**arguments) for name, arguments in table_arguments(config).items()}


def feature_inputs(config, tables, features, is_training):
    """The FeatureInputs of a batch (`features` as the input pipeline gives
    them, ids already keys)."""
    embedding = config.model_config.embedding
    rows, raw = {}, {}
    looked = dict(looked_up(config))
    for feature in config.model_config.features:
        name = feature.feature_name or feature.input_name
        if name not in looked:
            raw[name] = _raw_value(feature, features[feature.input_name])
            continue
        lookup = dict(is_train=is_training, name=f"{name}_lookup")
        if not embedding.use_dynamic:
            lookup["send_count"] = feature.send_count
        if feature.feature_type == Feature.TagFeature:
            lookup["combiner"] = feature.combiner
        table, spec = tables[table_name(feature)], feature_spec(feature)
        if embedding.key_mode == EmbeddingConfig.FEATURE_SPEC:
            rows[name] = sparse_lookup(table, spec, batch=features, **lookup)
        else:
            if spec.thresholds is not None:
                lookup["access_and_evict_config"] = {
                    "access_threshold": spec.access_threshold,
                    "eviction_threshold": spec.eviction_threshold,
                    "faae_coefficient": spec.faae_coefficient}
            rows[name] = sparse_lookup(
                table, features[feature.input_name],
                modify_graph=embedding.key_mode == EmbeddingConfig.MODIFY_GRAPH, **lookup)
    return FeatureInputs(rows, raw)


def _raw_value(feature, value):
    """A RawFeature's [batch, 1] float32 model input, normalised."""
    value = tf.reshape(tf.cast(value, tf.float32), [-1, 1])
    if feature.normalizer == Feature.LOG1P:
        value = tf.math.log1p(tf.maximum(value, 0.0))
    return value


def key_hooks(config):
    """The hooks every mode's graph needs for its key mode."""
    if config.model_config.embedding.key_mode == EmbeddingConfig.MODIFY_GRAPH:
        return [GraphModifierHook()]
    return []
