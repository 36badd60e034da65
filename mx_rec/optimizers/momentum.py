"""Sparse Momentum (same rule as tf.compat.v1.train.MomentumOptimizer's sparse path).

TF's IndexedSlices path (ResourceSparseApplyMomentum) touches the rows that
have a gradient and nothing else: their accumulators decay and take the
gradient, the other rows' accumulators stay as they are.
"""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer
from mx_rec.util.validation import check_bool, check_real


class MomentumHashOptimizer(HashOptimizer):
    """State: one accumulator per row ("momentum", TF's slot name)."""

    def __init__(self, learning_rate, momentum, use_nesterov, name):
        super().__init__(learning_rate, name)
        self._momentum = check_real("momentum", momentum, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
        self._use_nesterov = check_bool("use_nesterov", use_nesterov)

    def state_specs(self):
        return [("momentum", 0.0)]

    def _apply_rows(self, table, slots, grads, state):
        return tf.raw_ops.ResourceSparseApplyMomentum(
            var=table.variable.handle, accum=state["momentum"].handle, lr=self._lr(),
            grad=grads, indices=slots, momentum=tf.constant(self._momentum), use_locking=True,
            use_nesterov=self._use_nesterov)


def create_hash_optimizer(learning_rate=0.01, momentum=0.9, use_nesterov=False,
                          name="MomentumHash"):
    """Momentum for sparse tables, per touched row:

        accum = momentum * accum + g
        row  -= lr * accum                      (use_nesterov=False)
        row  -= lr * (g + momentum * accum)     (use_nesterov=True)

    TF's MomentumOptimizer has no defaults for learning_rate and momentum;
    momentum=0.9 is EasyRec's momentum_optimizer_value default.
    """
    return MomentumHashOptimizer(learning_rate, momentum, use_nesterov, name)
