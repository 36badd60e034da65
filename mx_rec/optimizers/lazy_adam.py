"""Lazy Adam: Adam moments and updates only for the rows a step touched.

Bias correction uses one step count per optimizer (beta powers advance once per
apply_gradients), as in TF's Adam, so rows that are touched rarely still see
the global step's correction.
"""

import weakref

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer
from mx_rec.util.validation import check_positive, check_real


class LazyAdamHashOptimizer(HashOptimizer):
    def __init__(self, learning_rate, beta1, beta2, epsilon, name):
        super().__init__(learning_rate, name)
        self._beta1, self._beta2 = (check_real(arg, value, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
                                    for arg, value in (("beta1", beta1), ("beta2", beta2)))
        self._epsilon = check_positive("epsilon", epsilon)
        self._powers = weakref.WeakKeyDictionary()  # graph -> (beta1_power, beta2_power)

    def _beta_powers(self):
        graph = tf.compat.v1.get_default_graph()
        if graph not in self._powers:
            with tf.compat.v1.name_scope(None):
                self._powers[graph] = tuple(
                    tf.compat.v1.Variable(b, trainable=False, use_resource=True, dtype=tf.float32,
                                          name=f"{self._name}/{n}")
                    for n, b in (("beta1_power", self._beta1), ("beta2_power", self._beta2)))
        return self._powers[graph]

    def state_specs(self):
        return [("m", 0.0), ("v", 0.0)]

    def _apply_rows(self, table, slots, grads, state):
        b1_power, b2_power = self._beta_powers()
        b1, b2 = self._beta1, self._beta2
        lr = self._lr() * tf.sqrt(1.0 - b2_power) / (1.0 - b1_power)
        m_var, v_var = state["m"], state["v"]
        m = b1 * m_var.sparse_read(slots) + (1.0 - b1) * grads
        v = b2 * v_var.sparse_read(slots) + (1.0 - b2) * tf.square(grads)
        m_up = m_var.scatter_update(tf.IndexedSlices(m, slots))
        v_up = v_var.scatter_update(tf.IndexedSlices(v, slots))
        step = lr * m / (tf.sqrt(v) + self._epsilon)
        var_up = table.variable.scatter_sub(tf.IndexedSlices(step, slots))
        return tf.group(m_up, v_up, var_up)

    def _finish(self, update_ops):
        b1_power, b2_power = self._beta_powers()
        with tf.control_dependencies(update_ops):
            return tf.group(b1_power.assign(b1_power * self._beta1),
                            b2_power.assign(b2_power * self._beta2))


def create_hash_optimizer(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                          name="LazyAdamHash"):
    """Adam for sparse tables, updating moments of touched rows only."""
    return LazyAdamHashOptimizer(learning_rate, beta1, beta2, epsilon, name)
