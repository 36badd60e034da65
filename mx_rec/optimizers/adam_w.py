"""AdamW: lazy Adam plus decoupled weight decay (Loshchilov & Hutter) of the touched
rows (AdamWHashOptimizer), and the same rule for dense variables (AdamWOptimizer).

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


class AdamWOptimizer(tf.compat.v1.train.AdamOptimizer):
    """AdamW for dense variables: tf.contrib.opt's AdamWOptimizer (EasyRec's
    adam_w_optimizer), the same rule as AdamWHashOptimizer. Before each Adam
    step a variable loses weight_decay * its value (not scaled by the
    learning rate); with an IndexedSlices gradient only the rows it touches
    decay (after duplicate indices are summed), and their Adam moments are
    those of tf.compat.v1.train.AdamOptimizer (every row's moments decay)."""

    def __init__(self, weight_decay=1e-6, learning_rate=0.001, beta1=0.9, beta2=0.999,
                 epsilon=1e-8, use_locking=False, name="AdamW"):
        super().__init__(learning_rate, beta1, beta2, epsilon, use_locking, name)
        self._weight_decay = check_real("weight_decay", weight_decay, lambda v: 0.0 <= v < 1.0,
                                        "in [0, 1)")

    def _decayed(self, var, indices=None):
        """A control-dependency context: var (its `indices` rows) decayed first."""
        if indices is None:
            decay = var.assign_sub(self._weight_decay * var, use_locking=self._use_locking)
        else:
            decay = var.scatter_sub(tf.IndexedSlices(
                self._weight_decay * tf.gather(var, indices), indices))
        return tf.control_dependencies([decay])

    def _apply_dense(self, grad, var):
        with self._decayed(var):
            return super()._apply_dense(grad, var)

    def _resource_apply_dense(self, grad, var):
        with self._decayed(var):
            return super()._resource_apply_dense(grad, var)

    def _apply_sparse(self, grad, var):
        with self._decayed(var, grad.indices):
            return super()._apply_sparse(grad, var)

    def _resource_apply_sparse(self, grad, var, indices):
        with self._decayed(var, indices):
            return super()._resource_apply_sparse(grad, var, indices)


def create_hash_optimizer(learning_rate=0.001, weight_decay=1e-6, beta1=0.9, beta2=0.999,
                          epsilon=1e-8, name="AdamWHash"):
    """AdamW for sparse tables (lazy Adam with decoupled weight decay of touched
    rows). Arguments are EasyRec's adam_w_optimizer fields with its defaults
    (weight_decay 1e-6) and TF's Adam epsilon."""
    return AdamWHashOptimizer(learning_rate, weight_decay, beta1, beta2, epsilon, name)
