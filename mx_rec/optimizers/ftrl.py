"""Sparse FTRL-Proximal (same rule as tf.compat.v1.train.FtrlOptimizer's sparse path)."""

import math
import numbers

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer


class FtrlHashOptimizer(HashOptimizer):
    def __init__(self, learning_rate, learning_rate_power, initial_accumulator_value,
                 l1_regularization_strength, l2_regularization_strength, name):
        super().__init__(learning_rate, name)
        for arg, value, sign in (("learning_rate_power", learning_rate_power, -1),
                                 ("initial_accumulator_value", initial_accumulator_value, 1),
                                 ("l1_regularization_strength", l1_regularization_strength, 1),
                                 ("l2_regularization_strength", l2_regularization_strength, 1)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(value) or value * sign < 0:
                raise ValueError(f"{arg} must be a finite number {'<=' if sign < 0 else '>='} 0, "
                                 f"got {value!r}")
        self._lr_power = float(learning_rate_power)
        self._initial_accumulator_value = float(initial_accumulator_value)
        self._l1 = float(l1_regularization_strength)
        self._l2 = float(l2_regularization_strength)

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
