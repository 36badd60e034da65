"""eval_config.metrics_set -> the Estimator's eval_metric_ops.

Keys are mx_rec.config.metric_names': the metric's field name, per task
"<name>_<tower_name>" in multi-task models ("loss" the Estimator adds).
Classification tasks are scored on "probs", regressions on "y":
  auc: tf.compat.v1.metrics.auc (ROC, 200 thresholds); binary tasks.
  gauc: AUC per user of gauc.uid_field, reduced over users (gauc.py); binary.
  logloss: mean of -y log p - (1 - y) log(1 - p), p clipped to [1e-7, 1 - 1e-7].
  accuracy: p > 0.5 (multi-class: the most probable class) against the label.
  mean_squared_error, mean_absolute_error, root_mean_squared_error: of the
    prediction (a regression's y, a binary task's probability) and the label.
  recall_at_topk: the label among the topk most probable classes; multi-class.
"""

import tensorflow as tf

from mx_rec.pipeline import gauc as gauc_metric
from mx_rec.pipeline.heads import label_tensor

_EPSILON = 1e-7


def _score(task, predictions):
    return predictions[task.key("y" if task.is_regression else "probs")]


def _task(task):
    return f"task {task.name!r}" if task.name else "the model"


def _binary_only(kind, task):
    if task.is_regression or task.num_class > 1:
        what = "a regression" if task.is_regression else f"{task.num_class} classes"
        raise ValueError(f"eval_config.metrics_set {kind}: {_task(task)} has {what}; {kind} "
                         "scores binary classification")


def _auc(entry, task, label, score, features):
    _binary_only("auc", task)
    return tf.compat.v1.metrics.auc(label, score)


def _gauc(entry, task, label, score, features):
    _binary_only("gauc", task)
    return gauc_metric.gauc(features[entry.gauc.uid_field], label, score, entry.gauc.reduction)


def _logloss(entry, task, label, score, features):
    _binary_only("logloss", task)
    p = tf.clip_by_value(score, _EPSILON, 1 - _EPSILON)
    return tf.compat.v1.metrics.mean(-label * tf.math.log(p) - (1 - label) * tf.math.log(1 - p))


def _accuracy(entry, task, label, score, features):
    if task.num_class > 1:
        return tf.compat.v1.metrics.accuracy(label, tf.argmax(score, axis=1))
    return tf.compat.v1.metrics.accuracy(label, tf.cast(score > 0.5, tf.float32))


def _recall_at_topk(entry, task, label, score, features):
    if task.num_class < 2:
        raise ValueError(f"eval_config.metrics_set recall_at_topk: {_task(task)} has one "
                         "output; recall_at_topk needs num_class > 1")
    return tf.compat.v1.metrics.recall_at_k(label, score, entry.recall_at_topk.topk)


def _regression(metric):
    def compute(entry, task, label, score, features):
        if task.num_class > 1:
            raise ValueError(f"eval_config.metrics_set: {metric.__name__} needs one output per "
                             f"sample; {_task(task)} has {task.num_class} classes")
        return metric(label, score)
    return compute


METRICS = {
    "auc": _auc,
    "gauc": _gauc,
    "logloss": _logloss,
    "accuracy": _accuracy,
    "recall_at_topk": _recall_at_topk,
    "mean_squared_error": _regression(tf.compat.v1.metrics.mean_squared_error),
    "mean_absolute_error": _regression(tf.compat.v1.metrics.mean_absolute_error),
    "root_mean_squared_error": _regression(tf.compat.v1.metrics.root_mean_squared_error),
}


def eval_metric_ops(config, tasks, predictions, labels, features):
    """{metric key: (value, update_op)} of every metrics_set entry and task."""
    ops = {}
    for entry in config.eval_config.metrics_set:
        kind = entry.WhichOneof("metric")
        for task in tasks:
            with tf.compat.v1.name_scope(task.key(kind)):
                ops[task.key(kind)] = METRICS[kind](entry, task, label_tensor(task, labels),
                                                    _score(task, predictions), features)
    return ops
