"""get_asc_insert_func: the key pipeline's map function for tf.data (FeatureSpec mode).

    dataset = dataset.batch(B).map(get_asc_insert_func(specs, is_training=True))
    dataset = dataset.prefetch(2)

The function adds each feature's KeyBatch (unique keys, restore index,
occurrence counts, number of unique keys: the stateless key work) to the batch
dict, so it runs in tf.data's threads, ahead of the step that consumes the
batch. The stateful work (admission counts, key -> slot, tier moves) stays in
the step, in order. Pass the batch to sparse_lookup(table, spec, batch=batch).
"""

import tensorflow as tf

from mx_rec.core import multi_hot
from mx_rec.core.asc import admission
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.key_batch import PIPELINE_PREFIX, dedup_keys, feature_entries


def get_asc_insert_func(tgt_key_specs, is_training=True):
    """A function for dataset.map over batches that are dicts (or (dict, labels)).

    Args:
      tgt_key_specs: a FeatureSpec or a list of them; at most one may be a
        timestamp feature.
      is_training: whether the dataset feeds training lookups; eval datasets
        carry no timestamp (eval never counts keys).
    """
    specs = [tgt_key_specs] if isinstance(tgt_key_specs, FeatureSpec) else list(tgt_key_specs)
    if not specs or not all(isinstance(s, FeatureSpec) for s in specs):
        raise TypeError("tgt_key_specs must be a FeatureSpec or a non-empty list of FeatureSpec, "
                        f"got {tgt_key_specs!r}")
    if not isinstance(is_training, bool):
        raise TypeError(f"is_training must be a bool, got {is_training!r}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"tgt_key_specs: feature names must be unique, got {names}")
    stamps = [s for s in specs if s.is_timestamp]
    if len(stamps) > 1:
        raise ValueError("tgt_key_specs: at most one timestamp feature (is_timestamp=True), got "
                         f"{[s.name for s in stamps]}")

    def insert(features, *rest):
        # tf.data calls this with a dict, or with the parts of a tuple element.
        if not isinstance(features, dict):
            raise TypeError("get_asc_insert_func: dataset elements must be dicts of features "
                            "(or (features dict, labels) tuples)")
        if any(k.startswith(PIPELINE_PREFIX) for k in features):
            raise ValueError("get_asc_insert_func was applied twice to this dataset")
        out = dict(features)
        for spec in specs:
            if spec.index_key not in features:
                raise KeyError(f"feature '{spec.name}': the batch has no entry "
                               f"'{spec.index_key}' (index_key); entries: {sorted(features)}")
            ids = features[spec.index_key]
            if spec.is_timestamp:
                if is_training:
                    out[admission.TIME_ENTRY] = tf.reduce_max(tf.cast(ids, tf.int64))
                continue
            if ids.dtype not in (tf.int32, tf.int64):
                raise TypeError(f"feature '{spec.name}': ids must be int32 or int64, "
                                f"got {ids.dtype.name}")
            keys = dedup_keys(multi_hot.key_values(ids, spec.name))
            out.update(feature_entries(spec.name, keys))
        return (out,) + rest if rest else out

    return insert
