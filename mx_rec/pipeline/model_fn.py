"""The Estimator model_fn of a pipeline config.

Every mode: features -> keys (keys.model_keys: raw ids of an export's
placeholders), the tables (created in the mode's graph) and their lookups,
the model, each task's predictions. PREDICT returns the predictions (an
export's outputs; predict's reserved columns too); EVAL the loss and
eval_config's metrics; TRAIN the train op, with summaries of the loss terms,
learning rates and every table's tier counters (mx_rec/<table>/<counter>),
the metrics over the training batches with eval_config.eval_online, the
progress line, eviction (features with an eviction_threshold) and, with
train_config.is_profiling, TF's ProfilerHook (timelines in model_dir).
"""

import tensorflow as tf

from mx_rec.core import tier_stats
from mx_rec.core.feature_process import EvictHook
from mx_rec.pipeline import embedding, heads, inputs, keys, metrics, training
from mx_rec.pipeline.models import build_model
from mx_rec.pipeline.progress import ProgressHook

_DAY = 24 * 60 * 60


def make_model_fn(config):
    """model_fn(features, labels, mode) of `config` (a validated PipelineConfig)."""
    tasks = heads.tasks(config)
    num_class_of = {task.name: task.num_class for task in tasks}

    def model_fn(features, labels, mode):
        training_mode = mode == tf.estimator.ModeKeys.TRAIN
        features = keys.model_keys(config, features)
        tables = embedding.create_tables(config)
        model_inputs = embedding.feature_inputs(config, tables, features, training_mode)
        outputs = build_model(config, model_inputs, num_class_of)
        predictions = dict(outputs.extra)
        for task in tasks:
            predictions.update(heads.predictions(task, outputs.logits[task.name]))
        hooks = embedding.key_hooks(config)
        if mode == tf.estimator.ModeKeys.PREDICT:
            predictions.update((name, value) for name, value in features.items()
                               if name.startswith(inputs.RESERVED_PREFIX))
            return tf.estimator.EstimatorSpec(mode, predictions=predictions,
                                              prediction_hooks=hooks)
        weight_field = config.data_config.sample_weight
        loss, terms = heads.training_loss(tasks, outputs, labels,
                                          features[weight_field] if weight_field else None)
        if mode == tf.estimator.ModeKeys.EVAL:
            return tf.estimator.EstimatorSpec(
                mode, loss=loss, evaluation_hooks=hooks,
                eval_metric_ops=metrics.eval_metric_ops(config, tasks, predictions, labels,
                                                        features))
        for name, term in terms.items():
            tf.compat.v1.summary.scalar(name, term)
        tier_stats.add_summaries(list(tables.values()))
        train = config.train_config
        train_op = training.train_op(train, loss, tf.compat.v1.train.get_global_step())
        if config.eval_config.eval_online:
            train_op = _online_metrics(config, tasks, predictions, labels, features, train_op)
        hooks.append(ProgressHook(loss, train.log_step_count_steps, config.data_config.batch_size,
                                  train.num_steps or None))
        hooks.extend(_evict_hooks(config))
        if train.is_profiling:
            hooks.append(tf.compat.v1.train.ProfilerHook(save_steps=train.log_step_count_steps,
                                                         output_dir=config.model_dir))
        return tf.estimator.EstimatorSpec(mode, loss=loss, training_hooks=hooks,
                                          train_op=train_op)

    return model_fn


def _online_metrics(config, tasks, predictions, labels, features, train_op):
    """eval_online: train_op also updates eval_config's metrics over every
    training batch so far, summarised as online/<metric> (GAUC keeps every
    training sample until the run ends)."""
    with tf.compat.v1.name_scope("online_metrics"):
        online = metrics.eval_metric_ops(config, tasks, predictions, labels, features)
    for name, (value, _) in online.items():
        tf.compat.v1.summary.scalar(f"online/{name}", value)
    return tf.group(train_op, *[update for _, update in online.values()])


def _evict_hooks(config):
    """[EvictHook] when a feature has an eviction_threshold."""
    if not any(f.HasField("eviction_threshold") for f in config.model_config.features):
        return []
    embedding_config = config.model_config.embedding
    steps = embedding_config.evict_step_interval or None
    seconds = embedding_config.evict_time_interval or (None if steps else _DAY)
    return [EvictHook(evict_enable=True, evict_time_interval=seconds, evict_step_interval=steps)]
