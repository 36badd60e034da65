"""AdamW: lazy Adam plus decoupled weight decay (Loshchilov & Hutter) of the touched rows.

The decay is that of tf.contrib.opt's DecoupledWeightDecayExtension (TF 1.x;
EasyRec's AdamWOptimizer is the same code, compat/weight_decay_optimizers.py):
on its IndexedSlices path it scales only the rows that have a gradient,
before the gradient step and not by the learning rate:

    row -= weight_decay * row
    row -= lr_t * m / (sqrt(v) + epsilon)        (lazy Adam, lazy_adam.py)

so this rule equals extend_with_decoupled_weight_decay(LazyAdamOptimizer)
there. To decay weight_decay with a learning-rate schedule, scale it as
that extension's docs say. Keras' AdamW (tf.keras.optimizers.AdamW) is a
different rule: it multiplies the decay by the learning rate and decays
every row each step.
"""

import tensorflow as tf

from mx_rec.optimizers.lazy_adam import LazyAdamHashOptimizer
from mx_rec.util.validation import check_real


class AdamWHashOptimizer(LazyAdamHashOptimizer):
    """Lazy Adam's moments and bias correction, after the decay of the touched rows."""

    def __init__(self, learning_rate, weight_decay, beta1, beta2, epsilon, name):
        super().__init__(learning_rate, beta1, beta2, epsilon, name)
        self._weight_decay = check_real("weight_decay", weight_decay, lambda v: 0.0 <= v < 1.0,
                                        "in [0, 1)")

    def _apply_rows(self, table, slots, grads, state):
        rows = table.variable
        decay = rows.scatter_sub(tf.IndexedSlices(self._weight_decay * rows.sparse_read(slots),
                                                  slots))
        with tf.control_dependencies([decay]):
            return super()._apply_rows(table, slots, grads, state)


def create_hash_optimizer(learning_rate=0.001, weight_decay=1e-6, beta1=0.9, beta2=0.999,
                          epsilon=1e-8, name="AdamWHash"):
    """AdamW for sparse tables (lazy Adam with decoupled weight decay of touched
    rows). Arguments are EasyRec's adam_w_optimizer fields with its defaults
    (weight_decay 1e-6) and TF's Adam epsilon."""
    return AdamWHashOptimizer(learning_rate, weight_decay, beta1, beta2, epsilon, name)
