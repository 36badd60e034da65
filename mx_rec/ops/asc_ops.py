"""Thin wrappers over the kernels in libasc_tf_ops.so.

The op library is loaded once, lazily, after _libasc so that both resolve the
same libasc.so.
"""

import functools

import tensorflow as tf

from mx_rec.libasc import OP_LIBRARY, _libasc  # noqa: F401  (_libasc loads libasc.so first)


@functools.lru_cache(maxsize=None)
def _ops():
    return tf.load_op_library(OP_LIBRARY)


def dedup(keys, send_count=0, name=None):
    """De-duplicates a 1-D batch of int32/int64 keys.

    Returns (unique, restore, counts, n_valid): unique keys in order of first
    occurrence, restore indices with unique[restore] == keys, occurrence counts,
    and the number of real unique keys. With send_count > 0 unique/counts are
    padded to exactly send_count.
    """
    return _ops().asc_dedup(keys, send_count=send_count, name=name)


def find_or_insert(table_name, unique_keys, n_valid=None, name=None):
    """(slots int64, is_new bool, capacity int64) for unique keys, inserting absent ones."""
    if n_valid is None:
        n_valid = tf.size(unique_keys, out_type=tf.int32)
    return _ops().asc_find_or_insert(unique_keys, n_valid, table_name=table_name, name=name)


def find(table_name, keys, name=None):
    """Slots of keys (int64), -1 for keys the table does not hold. Never inserts."""
    return _ops().asc_find(keys, table_name=table_name, name=name)


def ensure_rows(variable, rows, fill=0.0, name=None):
    """Grows a float32 [n, dim] resource variable in place to at least `rows` rows."""
    return _ops().asc_ensure_rows(variable.handle, rows, tf.constant(fill, tf.float32), name=name)


def plan_lookup(table_name, unique_keys, n_valid, row_width, begin_step, name=None):
    """DDR mode: (slots, is_new, evict_slots, load_slots, load_rows) for unique keys.

    The graph must gather evict_slots' rows and pass them to commit_evicted
    before writing load_rows / new rows into any slot.
    """
    return _ops().asc_plan_lookup(unique_keys, n_valid, table_name=table_name,
                                  row_width=row_width, begin_step=begin_step, name=name)


def commit_evicted(table_name, rows, name=None):
    """Hands libasc the [evicted, row_width] rows of the outstanding plan."""
    return _ops().asc_commit_evicted(rows, table_name=table_name, name=name)


def find_rows(table_name, keys, row_width, name=None):
    """DDR-mode eval read: (slots, host_rows, found); slot -1 when not on the device."""
    return _ops().asc_find_rows(keys, table_name=table_name, row_width=row_width, name=name)


def table_stats(table_name, name=None):
    """int64 counters of a table, in the order of _libasc.STAT_NAMES."""
    return _ops().asc_table_stats(table_name=table_name, name=name)


def admit(table_name, unique_keys, counts, n_valid, time, coefficient, begin_step, name=None):
    """FAAE: counts a training lookup's keys (weighted) and stamps them seen at `time`.

    time: int64 scalar (batch timestamp or global step), < 0 for the table's
    own step count. Must run before the lookup's find_or_insert/plan_lookup.
    """
    return _ops().asc_admit(unique_keys, n_valid, counts, tf.cast(time, tf.int64),
                            table_name=table_name, coefficient=coefficient,
                            begin_step=begin_step, name=name)


def evict_stale(table_name, name=None):
    """(freed_slots, evicted): removes keys unseen for the table's eviction_threshold."""
    return _ops().asc_evict_stale(table_name=table_name, name=name)
