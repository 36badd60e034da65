"""Sparse RMSProp (same rule as tf.compat.v1.train.RMSPropOptimizer's sparse path).

TF's IndexedSlices path (ResourceSparseApplyRMSProp, or
ResourceSparseApplyCenteredRMSProp when centered) updates the touched rows
and their state only; untouched rows' state neither decays nor moves them.
Like TF v1, a row's mean square "rms" starts at 1.0, not 0.
"""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer
from mx_rec.util.validation import check_bool, check_positive, check_real


class RMSPropHashOptimizer(HashOptimizer):
    """State per row, with TF's slot names: "rms", "momentum" and, centered, "mg"."""

    def __init__(self, learning_rate, decay, momentum, epsilon, centered, name):
        super().__init__(learning_rate, name)
        self._decay, self._momentum = (
            check_real(arg, value, lambda v: 0.0 <= v < 1.0, "in [0, 1)")
            for arg, value in (("decay", decay), ("momentum", momentum)))
        self._epsilon = check_positive("epsilon", epsilon)
        self._centered = check_bool("centered", centered)

    def state_specs(self):
        return [("rms", 1.0), ("momentum", 0.0)] + ([("mg", 0.0)] if self._centered else [])

    def _apply_rows(self, table, slots, grads, state):
        hyper = dict(lr=self._lr(), rho=tf.constant(self._decay),
                     momentum=tf.constant(self._momentum), epsilon=tf.constant(self._epsilon))
        common = dict(var=table.variable.handle, ms=state["rms"].handle,
                      mom=state["momentum"].handle, grad=grads, indices=slots, use_locking=True)
        if self._centered:
            return tf.raw_ops.ResourceSparseApplyCenteredRMSProp(mg=state["mg"].handle, **common,
                                                                 **hyper)
        return tf.raw_ops.ResourceSparseApplyRMSProp(**common, **hyper)


def create_hash_optimizer(learning_rate=0.001, decay=0.9, momentum=0.0, epsilon=1e-10,
                          centered=False, name="RMSPropHash"):
    """RMSProp for sparse tables, per touched row:

        rms = decay * rms + (1 - decay) * g^2           (rms starts at 1.0)
        mg  = decay * mg + (1 - decay) * g               (centered only)
        mom = momentum * mom + lr * g / sqrt(rms - mg^2 + epsilon)   (mg = 0 uncentered)
        row -= mom

    Defaults are TF's (its learning_rate has none).
    """
    return RMSPropHashOptimizer(learning_rate, decay, momentum, epsilon, centered, name)
