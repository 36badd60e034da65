"""Builds the graph of one sparse_lookup (see docs/architecture.md, "A step").

  KeyBatch (unique keys, restore index, counts: from AscDedup in-step or
  from the tf.data key pipeline, see core/asc/key_batch.py)
      -> train: AscLookup: admission counts and last-seen time (FAAE tables),
                key -> slot, rows moved between the tiers, slots pinned
                until the step ends; says which keys need an initial row
                -> the table's initializer draws rows for those keys only
                -> AscFill: writes them (and their optimizer state), returns
                   the rows of every key (default value where not admitted)
      -> eval:  AscRead: rows from whichever tier holds each key, the default
                value for the others
      -> gather by restore: ids.shape + [dim]

is_train given as a tensor builds both: AscLookup does nothing when it is
false at run time and AscRead nothing when it is true.

The gradient a hash optimizer needs is d(loss)/d(rows), the [unique, dim]
tensor AscFill returns: duplicates of a key are summed into its row by the
gradient of the final gather.
"""

import tensorflow as tf

from mx_rec.core.asc import admission
from mx_rec.core.sparse_table import LOOKUP_RECORDS, LookupRecord
from mx_rec.ops import asc_ops
from mx_rec.util import graph_records


def build(table, keys, static_count, is_train, access=None, trained=None):
    """Rows of a KeyBatch's keys, shaped like its restore index + [dim].

    is_train: Python bool or scalar bool tensor. access: the lookup's
    FeatureAccess (FAAE tables, training only), else None. trained: bool
    [unique keys], the keys whose rows this lookup's gradients update (a
    weighted multi-hot lookup, see core/multi_hot.py), else None (all).
    """
    state = table.in_graph()
    default = tf.constant(table.default_value, tf.float32)
    if is_train is False:
        rows = asc_ops.read(state.handle, state.variable, keys.unique, True, default)
    else:
        # Most unique keys a batch can hold, when the graph knows it.
        bound = static_count or keys.restore.shape.num_elements()
        training = tf.constant(True) if is_train is True else is_train
        rows = _train_rows(table, state, keys, bound, training, padded=static_count > 0,
                           access=access, default=default, switchable=is_train is not True,
                           trained=trained)
        if is_train is not True:
            read = asc_ops.read(state.handle, state.variable, keys.unique,
                                tf.logical_not(training), default)
            rows = tf.where(training, rows, read)
    return tf.gather(rows, keys.restore)


def _train_rows(table, state, keys, bound, training, padded, access, default, switchable,
                trained):
    unique, n_valid = keys.unique, keys.n_valid
    # Training lookups of one table run in construction order, so a key that
    # an earlier lookup of the step inserts takes that lookup's initial row.
    earlier = [] if state.last_train_read is None else [state.last_train_read]
    time = tf.constant(-1, tf.int64) if access is None else access.time
    thresholds = table.thresholds if access is not None else None
    with tf.control_dependencies(earlier):
        slots, fill_index = asc_ops.lookup(
            state.handle, state.variable, unique, n_valid, keys.counts, time, training,
            coefficient=access.coefficient if access is not None else 1,
            **admission.op_attrs(thresholds))
    initial = _new_row_values(table, tf.size(fill_index), fill_index, bound)
    rows = asc_ops.fill(state.handle, state.variable, slots, fill_index, initial, default)
    state.last_train_read = rows
    # Keys without a row (slot -1: not admitted, or not training) take no update.
    admitted = slots >= 0 if access is not None or switchable else None
    if trained is not None:
        admitted = trained if admitted is None else tf.logical_and(admitted, trained)
    graph_records.add(
        LOOKUP_RECORDS, LookupRecord(table=table, keys=unique, rows=rows, slots=slots,
                                     n_valid=n_valid if padded else None, admitted=admitted,
                                     fill_index=fill_index))
    return rows


def _new_row_values(table, n_new, new_pos, bound):
    """Initial rows for the keys at positions new_pos, from the table's initializer.

    Initializers that refuse a shape tensor (constant and fan-based ones) are
    called with the static bound of the batch (send_count, or the ids' static
    size) and the keys' rows picked out of that block; without a static
    bound, once per new row (slower, but any initializer works).
    """
    try:
        return table.initializer(tf.stack([n_new, table.dim]), dtype=tf.float32)
    except (TypeError, ValueError, NotImplementedError):
        pass
    if bound:
        block = table.initializer([bound, table.dim], dtype=tf.float32)
        return tf.gather(block, new_pos)
    return tf.map_fn(
        lambda _: tf.reshape(table.initializer([1, table.dim], dtype=tf.float32), [table.dim]),
        new_pos, fn_output_signature=tf.float32)
