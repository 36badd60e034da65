"""Sparse Adagrad (same rule as tf.compat.v1.train.AdagradOptimizer's sparse path)."""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer
from mx_rec.util.validation import check_positive


class AdagradHashOptimizer(HashOptimizer):
    def __init__(self, learning_rate, initial_accumulator_value, name):
        super().__init__(learning_rate, name)
        self._initial_accumulator_value = check_positive("initial_accumulator_value",
                                                         initial_accumulator_value)

    def state_specs(self):
        return [("accumulator", self._initial_accumulator_value)]

    def _apply_rows(self, table, slots, grads, state):
        return tf.raw_ops.ResourceSparseApplyAdagrad(
            var=table.variable.handle, accum=state["accumulator"].handle, lr=self._lr(),
            grad=grads, indices=slots, use_locking=True)


def create_hash_optimizer(learning_rate=0.001, initial_accumulator_value=0.1, name="AdagradHash"):
    """Adagrad for sparse tables: accum += g^2; row -= lr * g / sqrt(accum)."""
    return AdagradHashOptimizer(learning_rate, initial_accumulator_value, name)
