"""KeyBatch: the stateless key work of one lookup, wherever it ran.

The same four tensors come from AscDedup run in-step (the default), inside a
tf.data map ahead of the step (FeatureSpec mode, get_asc_insert_func), or
after automatic graph modification. The lookup graph (core/lookup.py) starts
from a KeyBatch and does not care which.
"""

import dataclasses

import tensorflow as tf

from mx_rec.ops import asc_ops

# Prefix of the entries the key pipeline adds to a batch dict.
PIPELINE_PREFIX = "__mx_rec__"
_FIELDS = ("unique", "restore", "counts", "n_valid")


@dataclasses.dataclass(frozen=True)
class KeyBatch:
    """unique[restore] == ids.

    unique:  1-D unique keys in order of first occurrence (padded with 0 to
             send_count in static-shape mode).
    restore: int32, same shape as the ids.
    counts:  int32 occurrences of each unique key (0 for padding).
    n_valid: int32 scalar, number of real unique keys.
    """

    unique: tf.Tensor
    restore: tf.Tensor
    counts: tf.Tensor
    n_valid: tf.Tensor

    def tensors(self):
        return [getattr(self, f) for f in _FIELDS]


def dedup_keys(ids, send_count=0):
    """KeyBatch of an ids tensor of any shape (AscDedup; padded if send_count > 0)."""
    unique, restore, counts, n_valid = asc_ops.dedup(tf.reshape(ids, [-1]), send_count=send_count)
    restore = tf.reshape(restore, tf.shape(ids))
    restore.set_shape(ids.shape)
    return KeyBatch(unique, restore, counts, n_valid)


def pad_to(keys, send_count):
    """Pads a dynamic KeyBatch to send_count unique keys (static-shape mode).

    Fails the step, as in-step AscDedup does, when the batch holds more unique
    keys than send_count.
    """
    check = tf.debugging.assert_less_equal(
        keys.n_valid, tf.constant(send_count, tf.int32),
        message=f"send_count={send_count} is smaller than the number of unique ids of this "
                "batch; raise send_count (static shape mode, init(use_dynamic=False))")
    with tf.control_dependencies([check]):
        extra = send_count - tf.size(keys.unique)
        unique = tf.pad(keys.unique, [[0, extra]])
        counts = tf.pad(keys.counts, [[0, extra]])
    unique.set_shape([send_count])
    counts.set_shape([send_count])
    return KeyBatch(unique, keys.restore, counts, keys.n_valid)


def feature_entries(feature_name, keys):
    """{batch key: tensor} under which the pipeline ships a feature's KeyBatch."""
    return {f"{PIPELINE_PREFIX}/{feature_name}/{f}": t for f, t in zip(_FIELDS, keys.tensors())}


def from_batch(batch, feature_name):
    """The KeyBatch the pipeline put into `batch` for a feature, or None."""
    names = [f"{PIPELINE_PREFIX}/{feature_name}/{f}" for f in _FIELDS]
    if not isinstance(batch, dict) or not all(n in batch for n in names):
        return None
    return KeyBatch(*[batch[n] for n in names])
