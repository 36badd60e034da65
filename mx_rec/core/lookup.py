"""Builds the graph of one sparse_lookup (see DESIGN.md, "Data path").

  KeyBatch (unique keys, restore index, counts: from AscDedup in-step or
  from the tf.data key pipeline, see core/asc/key_batch.py)
      -> FAAE tables: AscAdmit (count occurrences, stamp last-seen time);
         keys below the access threshold get slot -1 below, read the
         default value and take no update
      -> train: AscFindOrInsert -> slots, is_new, capacity
                AscEnsureRows (expandable tables) -> initialise new rows
                -> gather rows by slot
         DDR:   AscPlanLookup -> slots, is_new, rows to move; gather the
                evicted slots' rows (embedding + optimizer state) ->
                AscCommitEvicted -> scatter the loaded rows -> initialise new
                rows -> gather rows by slot
      -> eval:  AscFind (DDR: AscFindRows) -> rows, default value where absent
      -> gather by restore: ids.shape + [dim]

The gradient a hash optimizer needs is d(loss)/d(rows), the [unique, dim]
tensor read here: duplicates of a key are summed into its row by the
gradient of the final gather.
"""

import tensorflow as tf

from mx_rec.core.sparse_table import LOOKUP_RECORDS, LookupRecord
from mx_rec.ops import asc_ops


def build(table, keys, static_count, is_train, access=None):
    """Rows of a KeyBatch's keys, shaped like its restore index + [dim].

    access: the lookup's FeatureAccess (FAAE tables, training only), else None.
    """
    if is_train:
        # Most unique keys a batch can hold, when the graph knows it.
        bound = static_count or keys.restore.shape.num_elements()
        rows = _train_rows(table, keys, bound, padded=static_count > 0, access=access)
    else:
        rows = _eval_rows(table, keys.unique)
    return tf.gather(rows, keys.restore)


def _train_rows(table, keys, bound, padded, access):
    unique, n_valid = keys.unique, keys.n_valid
    # Training lookups of one table run in construction order: a key inserted
    # by an earlier lookup of this step must have its initial row written
    # before a later lookup that merely finds it reads that row.
    earlier = table.previous_train_reads()
    counted = []
    if access is not None:
        with tf.control_dependencies(earlier):
            counted = [asc_ops.admit(table.name, unique, keys.counts, n_valid, access.time,
                                     access.coefficient, begin_step=not earlier)]
    with tf.control_dependencies(earlier + counted):
        if table.host_vocabulary_size:
            slots, is_new, ready = _plan_and_move_rows(table, unique, n_valid,
                                                       begin_step=not earlier)
            capacity = None  # a fixed-size cache
        else:
            slots, is_new, capacity = asc_ops.find_or_insert(table.name, unique, n_valid)
            ready = table.ensure_rows(table.variable, capacity, 0.0)
    with tf.control_dependencies([ready]):
        new_pos = tf.reshape(tf.where(is_new), [-1])
        new_slots = tf.gather(slots, new_pos)
        values = _new_row_values(table, tf.size(new_slots), new_pos, bound)
        init = table.variable.scatter_update(tf.IndexedSlices(values, new_slots))
    admitted = None
    with tf.control_dependencies([init]):
        if access is None:
            rows = table.variable.sparse_read(slots)
        else:
            # Keys not admitted (slot -1) read the default value.
            admitted = slots >= 0
            rows = _or_default(table, admitted, table.variable.sparse_read(tf.maximum(slots, 0)))
    table.note_train_read(rows)
    tf.compat.v1.add_to_collection(
        LOOKUP_RECORDS, LookupRecord(table=table, keys=unique, rows=rows, slots=slots, is_new=is_new,
                                     n_valid=n_valid if padded else None,
                                     capacity=capacity if table.dynamic_expansion else None,
                                     admitted=admitted))
    return rows


def _plan_and_move_rows(table, unique, n_valid, begin_step):
    """DDR mode: slots for the keys, with rows moved between the tiers.

    Returns (slots, is_new, op): once `op` has run, every key of the lookup
    that was already known has its row (and optimizer state) in its slot.
    """
    slots, is_new, evict_slots, load_slots, load_rows = asc_ops.plan_lookup(
        table.name, unique, n_valid, table.row_width, begin_step)
    variables = table.row_variables
    # Victims' rows leave before anything is written into their slots.
    evicted = tf.concat([v.sparse_read(evict_slots) for v in variables], axis=1)
    commit = asc_ops.commit_evicted(table.name, evicted)
    with tf.control_dependencies([commit]):
        loads = [v.scatter_update(tf.IndexedSlices(
                     load_rows[:, i * table.dim:(i + 1) * table.dim], load_slots))
                 for i, v in enumerate(variables)]
    return slots, is_new, tf.group(commit, *loads)


def initial_rows(table, n):
    """[n, dim] initial rows from the table's initializer (n: int32 scalar tensor)."""
    return _new_row_values(table, n, tf.range(n), None)


def _new_row_values(table, n_new, new_pos, bound):
    """Initial rows for the new keys, drawn from the table's initializer.

    Initializers that refuse a shape tensor (constant and fan-based ones) are
    called with the static bound of the batch (send_count, or the ids' static
    size) and the new keys' rows picked out of that block; without a static
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


def _eval_rows(table, unique):
    if table.host_vocabulary_size:
        slots, host_rows, found = asc_ops.find_rows(table.name, unique, table.row_width)
    else:
        slots = asc_ops.find(table.name, unique)
        found = slots >= 0
    rows = table.variable.sparse_read(tf.maximum(slots, 0))
    if table.host_vocabulary_size:
        rows = tf.where((slots >= 0)[:, None], rows, host_rows[:, :table.dim])
    return _or_default(table, found, rows)


def _or_default(table, present, rows):
    default = tf.constant(table.default_value, tf.float32)
    return tf.where(present[:, None], rows, default[None, :])
