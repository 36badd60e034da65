"""GAUC: the AUC of each user's samples, averaged over users.

Users whose samples are all of one label have no AUC and are left out. The
reductions (eval_config GAUC.reduction): "mean" (each user counts once),
"mean_by_sample_num" (weighted by the user's samples), "mean_by_positive_num"
(by the user's positives). With no user having both labels, GAUC is 0.0.

As a streaming metric, every evaluated sample's (user, label, probability) is
kept in local variables until the end of the evaluation, which then
computes the exact (rank-based, ties averaged) AUC per user in NumPy.
"""

import numpy as np
import tensorflow as tf
from mx_rec.config.metrics import GAUC_REDUCTIONS


def average_ranks(values):
    """1-based ranks of `values`, ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    ranks = np.empty(len(values))
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def gauc_numpy(users, labels, probs, reduction="mean"):
    """GAUC of 1-D arrays (labels: > 0 is positive)."""
    if reduction not in GAUC_REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(GAUC_REDUCTIONS)}, "
                         f"got {reduction!r}")
    users, positive, probs = np.asarray(users), np.asarray(labels) > 0, np.asarray(probs)
    order = np.argsort(users, kind="stable")
    users, positive, probs = users[order], positive[order], probs[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    total, weights = 0.0, 0.0
    for begin, end in zip(starts, np.r_[starts[1:], len(users)]):
        group = positive[begin:end]
        n_pos = int(group.sum())
        n_neg = len(group) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = average_ranks(probs[begin:end])
        auc = (ranks[group].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        weight = {"mean": 1.0, "mean_by_sample_num": float(len(group)),
                  "mean_by_positive_num": float(n_pos)}[reduction]
        total += weight * auc
        weights += weight
    return total / weights if weights else 0.0


def _collected(name, values):
    """(local variable of every batch's `values` so far, op appending this batch's)."""
    variable = tf.compat.v1.Variable(
        tf.zeros([0], values.dtype), trainable=False, validate_shape=False,
        shape=tf.TensorShape([None]), name=name,
        collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES,
                     tf.compat.v1.GraphKeys.METRIC_VARIABLES])
    return variable, variable.assign(tf.concat([variable, values], axis=0))


def gauc(users, labels, probs, reduction="mean", name="gauc"):
    """(value, update_op) for eval_metric_ops: users are [batch] int64 ids
    (or strings, fingerprinted), labels and probs [batch]."""
    with tf.compat.v1.variable_scope(None, default_name=name):
        if users.dtype == tf.string:
            users = tf.strings.to_hash_bucket_fast(users, 2**63 - 1)
        parts = [_collected(part, tensor) for part, tensor in (
            ("users", tf.cast(tf.reshape(users, [-1]), tf.int64)),
            ("labels", tf.cast(tf.reshape(labels, [-1]), tf.float32)),
            ("probs", tf.cast(tf.reshape(probs, [-1]), tf.float32)))]
        value = tf.numpy_function(lambda u, y, p: np.float64(gauc_numpy(u, y, p, reduction)),
                                  [variable.read_value() for variable, _ in parts], tf.float64)
        return tf.reshape(value, []), tf.group(*[update for _, update in parts])
