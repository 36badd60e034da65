"""One backward pass for a model's dense variables and its table rows.

`tf.group(dense_opt.minimize(loss), hash_opt.minimize(loss))` works, but each
minimize() builds its own backward pass through the whole network, and TF
does not merge them: the dense layers' gradients are computed twice
(bench/dlrm_bench.py measured 0.75x of a dense-table model that way, 0.91x
with this function).
"""

import tensorflow as tf


def minimize(loss, dense_optimizer, hash_optimizer, global_step=None, var_list=None,
             name=None):
    """Returns one train op updating dense variables and touched table rows.

    Args:
      loss: scalar tensor.
      dense_optimizer: any tf.compat.v1.train.Optimizer, for the dense variables.
      hash_optimizer: an mx_rec hash optimizer, for the tables the loss uses.
      global_step: incremented once per step (by the dense optimizer).
      var_list: dense variables (default: TRAINABLE_VARIABLES; table variables
        are never among them).
      name: name of the returned op.
    """
    dense_vars = list(var_list) if var_list is not None else tf.compat.v1.trainable_variables()
    records = hash_optimizer.records()
    grads = tf.gradients(loss, dense_vars + [r.rows for r in records])
    dense_pairs = [(g, v) for g, v in zip(grads[:len(dense_vars)], dense_vars) if g is not None]
    sparse_pairs = hash_optimizer.gradient_pairs(records, grads[len(dense_vars):])
    updates = [hash_optimizer.apply_gradients(sparse_pairs)]
    if dense_pairs:
        updates.append(dense_optimizer.apply_gradients(dense_pairs, global_step=global_step))
    elif global_step is not None:
        updates.append(tf.compat.v1.assign_add(global_step, 1))
    return tf.group(*updates, name=name)
