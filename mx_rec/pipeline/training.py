"""train_config -> the train op: dense variables by the TF v1 optimizer of
optimizer_config, tables by its hash rule (mx_rec.optimizers), one backward
pass (mx_rec.optimizers.minimize), gradient_clipping_by_norm over both, and
the learning rates as summaries."""

import tensorflow as tf

from mx_rec import optimizers
from mx_rec.config.optimizer import optimizer_settings
from mx_rec.optimizers.adam_w import AdamWOptimizer
from mx_rec.optimizers.learning_rate import build_learning_rate

# OptimizerSetting.kind -> the TF v1 optimizer of dense variables; each takes
# the setting's arguments as they are named.
DENSE_OPTIMIZERS = {
    "adam_optimizer": tf.compat.v1.train.AdamOptimizer,
    "lazy_adam_optimizer": tf.compat.v1.train.AdamOptimizer,
    "adam_w_optimizer": AdamWOptimizer,
    "adagrad_optimizer": tf.compat.v1.train.AdagradOptimizer,
    "momentum_optimizer": tf.compat.v1.train.MomentumOptimizer,
    "rms_prop_optimizer": tf.compat.v1.train.RMSPropOptimizer,
    "ftrl_optimizer": tf.compat.v1.train.FtrlOptimizer,
    "gradient_descent_optimizer": tf.compat.v1.train.GradientDescentOptimizer,
}


def dense_optimizer(setting, learning_rate):
    """The tf.compat.v1.train.Optimizer of an OptimizerSetting."""
    return DENSE_OPTIMIZERS[setting.kind](learning_rate=learning_rate, **setting.arguments)


def hash_optimizer(setting, learning_rate):
    """The mx_rec hash optimizer of an OptimizerSetting."""
    rule = getattr(optimizers, setting.hash_rule)
    return rule.create_hash_optimizer(learning_rate, **setting.arguments)


def train_op(train_config, loss, global_step):
    """The op of one training step; adds summaries "learning_rate" (one
    optimizer_config entry) or "learning_rate/dense" and "learning_rate/sparse"."""
    dense, sparse = optimizer_settings(train_config)
    # (Their ops in a scope of their own: the summaries' names stay free.)
    with tf.compat.v1.name_scope("optimizer"):
        dense_rate = build_learning_rate(dense.learning_rate, global_step)
        sparse_rate = dense_rate if dense is sparse else \
            build_learning_rate(sparse.learning_rate, global_step)
    if dense is sparse:
        tf.compat.v1.summary.scalar("learning_rate", dense_rate)
    else:
        tf.compat.v1.summary.scalar("learning_rate/dense", dense_rate)
        tf.compat.v1.summary.scalar("learning_rate/sparse", sparse_rate)
    clip = train_config.gradient_clipping_by_norm
    return optimizers.minimize(loss, dense_optimizer(dense, dense_rate),
                               hash_optimizer(sparse, sparse_rate), global_step=global_step,
                               clip_norm=clip if clip > 0 else None)
