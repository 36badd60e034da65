"""Sparse SGD: row -= lr * grad on the touched rows."""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer


class GradientDescentHashOptimizer(HashOptimizer):
    def _apply_rows(self, table, slots, grads, state):
        return table.variable.scatter_sub(tf.IndexedSlices(grads * self._lr(), slots))


def create_hash_optimizer(learning_rate=0.01, name="GradientDescentHash"):
    """SGD for sparse tables. learning_rate > 0 (float or scalar tensor)."""
    return GradientDescentHashOptimizer(learning_rate, name)
