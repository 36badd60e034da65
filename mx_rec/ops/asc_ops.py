"""Thin wrappers over the kernels in libasc_tf_ops.so.

The op library is loaded once, lazily, after _libasc so that both resolve the
same libasc.so. Table ops take the table's resource handle (table_handle);
see src/cpp/tf_ops/ for what each kernel does.
"""

import functools

import tensorflow as tf

from mx_rec.libasc import OP_LIBRARY, _libasc  # noqa: F401  (_libasc loads libasc.so first)


@functools.lru_cache(maxsize=None)
def _ops():
    library = tf.load_op_library(OP_LIBRARY)
    for op in ("AscTableHandle", "AscTableReset", "AscAttachState", "AscCommitStep",
               "AscTableStats", "AscTableSnapshot", "AscTableLocate", "AscEvictStale",
               "AscExportAdmission", "AscLookup", "AscFill", "AscRead", "AscDedup",
               "AscTableSave", "AscTableRestore"):
        tf.no_gradient(op)
    return library


def dedup(keys, send_count=0, name=None):
    """De-duplicates a 1-D batch of int32/int64 keys.

    Returns (unique, restore, counts, n_valid): unique keys in order of first
    occurrence, restore indices with unique[restore] == keys, occurrence counts,
    and the number of real unique keys. With send_count > 0 unique/counts are
    padded to exactly send_count.
    """
    return _ops().asc_dedup(keys, send_count=send_count, name=name)


def table_handle(options, shared_name, name=None):
    """The resource handle of a table (serialised TableOptions); creates it on first run."""
    return _ops().asc_table_handle(options=options, shared_name=shared_name, name=name)


def table_reset(table, name=None):
    """Op emptying the table (keys, host/SSD rows, admission records, hot set)."""
    return _ops().asc_table_reset(table, name=name)


def attach_state(table, embedding, states, initial_values, state_names, name=None):
    """Op making optimizer-state variables travel (and grow) with the table's rows."""
    return _ops().asc_attach_state(table, embedding.handle, [s.handle for s in states],
                                   initial_values=list(initial_values),
                                   state_names=list(state_names), name=name)


def commit_step(tables, name=None):
    """Op keeping what this step's training lookups did to `tables` (handles)."""
    return _ops().asc_commit_step(list(tables), name=name)


def lookup(table, embedding, unique_keys, n_valid, counts, time, training, access_threshold=0,
           eviction_threshold=0, coefficient=1, name=None):
    """Training lookup, phase 1: (slots, fill_index). See AscLookup."""
    return _ops().asc_lookup(table, embedding.handle, unique_keys, n_valid, counts,
                             tf.cast(time, tf.int64), training,
                             access_threshold=access_threshold,
                             eviction_threshold=eviction_threshold, coefficient=coefficient,
                             name=name)


def fill(table, embedding, slots, fill_index, initial_rows, default_value, name=None):
    """Training lookup, phase 2: writes new keys' rows, returns [len(slots), dim] rows."""
    return _ops().asc_fill(table, embedding.handle, slots, fill_index, initial_rows,
                           default_value, name=name)


def read(table, embedding, keys, enabled, default_value, name=None):
    """Evaluation read: [len(keys), dim] rows, default_value where absent."""
    return _ops().asc_read(table, embedding.handle, keys, enabled, default_value, name=name)


def table_stats(table, name=None):
    """int64 counters of a table, in the order of _libasc.STAT_NAMES."""
    return _ops().asc_table_stats(table, name=name)


def table_snapshot(table, name=None):
    """(keys, slots) of every key with a written row; slot -1 off the device."""
    return _ops().asc_table_snapshot(table, name=name)


def table_locate(table, keys, name=None):
    """int8 tier of each key: 0 device, 1 host, 2 SSD, -1 absent."""
    return _ops().asc_table_locate(table, keys, name=name)


def evict_stale(table, access_threshold, eviction_threshold, name=None):
    """Keys removed (int64): every key unseen for eviction_threshold, from every tier."""
    return _ops().asc_evict_stale(table, access_threshold=access_threshold,
                                  eviction_threshold=eviction_threshold, name=name)


def export_admission(table, name=None):
    """(keys, counts, last_seen) of every admission record."""
    return _ops().asc_export_admission(table, name=name)


def table_save(table, embedding, states, initial_values, state_names, prefix, global_step,
               incremental=False, full_every_secs=0, name=None):
    """Op writing the table's checkpoint directory "<prefix>.mx_rec/<entry>" (a
    delta when `incremental` and a full one is not due); returns entry."""
    return _ops().asc_table_save(table, embedding.handle, [s.handle for s in states], prefix,
                                 global_step, initial_values=list(initial_values),
                                 state_names=list(state_names), incremental=incremental,
                                 full_every_secs=full_every_secs, name=name)


def table_restore(table, embedding, states, initial_values, state_names, prefix, entry,
                  access_threshold=0, eviction_threshold=0, name=None):
    """Op emptying the table and loading "<prefix>.mx_rec/<entry>" into it."""
    return _ops().asc_table_restore(table, embedding.handle, [s.handle for s in states], prefix,
                                    entry, initial_values=list(initial_values),
                                    state_names=list(state_names),
                                    access_threshold=access_threshold,
                                    eviction_threshold=eviction_threshold, name=name)
