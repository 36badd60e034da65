"""Sparse FTRL-Proximal (same rule as tf.compat.v1.train.FtrlOptimizer's sparse path)."""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer
from mx_rec.util.validation import check_real


class FtrlHashOptimizer(HashOptimizer):
    def __init__(self, learning_rate, learning_rate_power, initial_accumulator_value,
                 l1_regularization_strength, l2_regularization_strength, name):
        super().__init__(learning_rate, name)
        self._lr_power = check_real("learning_rate_power", learning_rate_power,
                                    lambda v: v <= 0, "a finite number <= 0")
        self._initial_accumulator_value, self._l1, self._l2 = (
            check_real(arg, value, lambda v: v >= 0, "a finite number >= 0")
            for arg, value in (("initial_accumulator_value", initial_accumulator_value),
                               ("l1_regularization_strength", l1_regularization_strength),
                               ("l2_regularization_strength", l2_regularization_strength)))

    def state_specs(self):
        return [("accumulator", self._initial_accumulator_value), ("linear", 0.0)]

    def _apply_rows(self, table, slots, grads, state):
        return tf.raw_ops.ResourceSparseApplyFtrl(
            var=table.variable.handle, accum=state["accumulator"].handle,
            linear=state["linear"].handle, grad=grads, indices=slots, lr=self._lr(),
            l1=tf.constant(self._l1), l2=tf.constant(self._l2),
            lr_power=tf.constant(self._lr_power), use_locking=True)


def create_hash_optimizer(learning_rate=0.001, learning_rate_power=-0.5,
                          initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                          l2_regularization_strength=0.0, name="FtrlHash"):
    """FTRL-Proximal for sparse tables (per-row accumulator and linear terms)."""
    return FtrlHashOptimizer(learning_rate, learning_rate_power, initial_accumulator_value,
                             l1_regularization_strength, l2_regularization_strength, name)
