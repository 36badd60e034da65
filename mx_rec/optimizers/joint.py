"""One backward pass for a model's dense variables and its table rows.

`tf.group(dense_opt.minimize(loss), hash_opt.minimize(loss))` works, but each
minimize() builds its own backward pass through the whole network, and TF
does not merge them: the dense layers' gradients are computed twice
(bench/dlrm_bench.py measured 0.75x of a dense-table model that way, 0.91x
with this function). Two minimize() calls also race: nothing orders one
optimizer's update of a dense weight after the other's backward pass read it,
so with ref variables (tf.compat.v1.disable_v2_behavior()) losses can differ
from run to run. Here one gated backward pass feeds both updates.
"""

import tensorflow as tf

from mx_rec.optimizers.base import HashOptimizer, commit, warn_unupdated
from mx_rec.util.validation import check_positive


def minimize(loss, dense_optimizer, hash_optimizer, global_step=None, var_list=None,
             name=None, clip_norm=None):
    """Returns one train op updating dense variables and touched table rows.

    Gradients are gated like TF's default GATE_OP: an op's gradients are all
    computed before any of them is applied, so an update never lands before
    the backward pass has read the weight (bit-identical losses across runs).
    The op ends by committing the step's table lookups (see HashOptimizer).

    Args:
      loss: scalar tensor.
      dense_optimizer: any tf.compat.v1.train.Optimizer, for the dense variables.
      hash_optimizer: an mx_rec hash optimizer, for the tables the loss uses.
      global_step: incremented once per step.
      var_list: dense variables (default: TRAINABLE_VARIABLES; table variables
        are never among them).
      name: name of the returned op.
      clip_norm: None, or a number > 0: scale all gradients, the dense
        variables' and the table rows' together, by clip_norm / max(their
        global norm, clip_norm) (tf.clip_by_global_norm). A table row's
        gradient counts once, after its duplicates in the batch are summed.
    """
    if not isinstance(hash_optimizer, HashOptimizer):
        raise TypeError("hash_optimizer must be an mx_rec hash optimizer (mx_rec.optimizers."
                        "{gradient_descent,adagrad,lazy_adam,ftrl,momentum,rms_prop,adam_w}."
                        "create_hash_optimizer()), got "
                        f"{hash_optimizer!r}; without tables, call dense_optimizer.minimize(loss)")
    if not isinstance(dense_optimizer, tf.compat.v1.train.Optimizer):
        raise TypeError("dense_optimizer must be a tf.compat.v1.train.Optimizer, got "
                        f"{dense_optimizer!r}")
    dense_vars = list(var_list) if var_list is not None else tf.compat.v1.trainable_variables()
    records = hash_optimizer.records()
    grads = tf.gradients(loss, dense_vars + [r.rows for r in records], gate_gradients=True)
    dense_pairs = [(g, v) for g, v in zip(grads[:len(dense_vars)], dense_vars) if g is not None]
    sparse_pairs = hash_optimizer.gradient_pairs(records, grads[len(dense_vars):])
    if clip_norm is not None:
        dense_pairs, sparse_pairs = _clip(dense_pairs, sparse_pairs, clip_norm)
    warn_unupdated(loss, records)
    # No update before the loss value exists: a step whose loss fails (a feed
    # only the loss value needs, say) changes nothing.
    with tf.compat.v1.name_scope(name, default_name="minimize"), tf.control_dependencies([loss]):
        update, tables = hash_optimizer.update_op(sparse_pairs)
        updates = [update]
        if dense_pairs:
            updates.append(dense_optimizer.apply_gradients(dense_pairs, global_step=global_step))
        elif global_step is not None:
            updates.append(tf.compat.v1.assign_add(global_step, 1))
        return commit(tables, after=updates)


def _clip(dense_pairs, sparse_pairs, clip_norm):
    """Both lists of (grad, variable) with their gradients clipped by one global norm."""
    check_positive("clip_norm", clip_norm)
    pairs = dense_pairs + sparse_pairs
    if not pairs:
        return dense_pairs, sparse_pairs
    clipped, _ = tf.clip_by_global_norm([g for g, _ in pairs], clip_norm)
    pairs = [(g, v) for g, (_, v) in zip(clipped, pairs)]
    return pairs[:len(dense_pairs)], pairs[len(dense_pairs):]
