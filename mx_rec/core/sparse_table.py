"""SparseTable: one embedding table whose keys live in libasc.

The device tier is a TF resource variable of [capacity, dim] rows (plus the
optimizer state variables registered by hash optimizers, all indexed by the
same slot). libasc maps each key to its slot. Table variables are kept out of
TRAINABLE_VARIABLES: only hash optimizers update them, and only the rows the
step touched.
"""

import dataclasses
import weakref
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops

# Collection holding every table's embedding and optimizer-state variables.
TABLE_VARIABLES = "mx_rec_table_variables"
# Collection of LookupRecord objects, one per training lookup in the graph.
LOOKUP_RECORDS = "mx_rec_lookup_records"


@dataclasses.dataclass
class LookupRecord:
    """What a hash optimizer needs from one training lookup.

    rows[i] is the device row of unique key keys[i], read at slot slots[i]. In
    static-shape mode only the first n_valid entries are real (the rest is
    padding); n_valid is None for unpadded lookups. is_new marks keys inserted
    by this step; capacity is the table's device rows after it (None when the
    table cannot grow). On a table with feature admission, admitted marks the
    keys that hold a row (the others read the default value, slot -1, and take
    no update); None when every key does.
    """

    table: "SparseTable"
    keys: tf.Tensor
    rows: tf.Tensor
    slots: tf.Tensor
    is_new: tf.Tensor
    n_valid: Optional[tf.Tensor]
    capacity: Optional[tf.Tensor]
    admitted: Optional[tf.Tensor] = None


@dataclasses.dataclass
class StateSlot:
    """An optimizer state variable that lives beside the table's rows."""

    variable: tf.Variable
    init_value: float

    def reset(self, slots):
        """Op writing the initial state into rows `slots` (a 1-D int tensor)."""
        fill = tf.fill(tf.stack([tf.size(slots), self.variable.shape[1]]),
                       tf.constant(self.init_value, tf.float32))
        return self.variable.scatter_update(tf.IndexedSlices(fill, slots))


class SparseTable:
    """An embedding table with an unbounded vocabulary (see create_table)."""

    def __init__(self, name, key_dtype, dim, initializer, device_vocabulary_size,
                 dynamic_expansion, default_value, host_vocabulary_size=0,
                 ssd_vocabulary_size=0, ssd_paths=(), cache_policy="lru", hash_optimizers=(),
                 hot_vocabulary_size=0, hot_refresh_steps=_libasc.HOT_REFRESH_STEPS):
        self.name = name
        self.key_dtype = key_dtype
        self.dim = dim
        self.initializer = initializer
        self.device_vocabulary_size = device_vocabulary_size
        # A host tier makes the device tier a fixed-size cache.
        self.host_vocabulary_size = host_vocabulary_size
        self.ssd_vocabulary_size = ssd_vocabulary_size
        # Device rows that may hold pinned hot keys (0: hot embedding off).
        self.hot_vocabulary_size = hot_vocabulary_size
        self.hot_refresh_steps = hot_refresh_steps
        self.dynamic_expansion = dynamic_expansion and not host_vocabulary_size
        self.default_value = default_value
        self._released = False
        # FAAE thresholds (core/asc/admission.Thresholds), None until a feature
        # or lookup sets them.
        self.thresholds = None
        # Whether a training lookup without thresholds was built (then none
        # may add thresholds later: its keys would not be counted).
        self.has_unfiltered_lookup = False
        self._state_slots: Dict[str, StateSlot] = {}
        # graph -> rows tensor of its latest training lookup (graphs may be freed)
        self._last_train_read = weakref.WeakKeyDictionary()
        # Rows that travel between tiers hold the embedding, then the state of
        # every hash optimizer created before the table, in that order.
        tiered_state = [(opt.name, slot, init) for opt in hash_optimizers
                        for slot, init in opt.state_specs()] if host_vocabulary_size else []
        self.row_width = dim * (1 + len(tiered_state))
        _libasc.create_table(name=name, key_type=key_dtype.name, dim=dim,
                             device_capacity=device_vocabulary_size,
                             dynamic_expansion=self.dynamic_expansion,
                             host_capacity=host_vocabulary_size, row_width=self.row_width,
                             ssd_capacity=ssd_vocabulary_size, ssd_paths=list(ssd_paths),
                             device_policy=cache_policy, hot_capacity=hot_vocabulary_size,
                             hot_refresh_steps=hot_refresh_steps)
        try:
            self.variable = self._new_row_variable(name, 0.0)
            for owner, slot, init in tiered_state:
                self._add_state_slot(owner, slot, init)
        except Exception:
            _libasc.drop_table(name)
            raise

    # ---- device-tier variables -------------------------------------------------

    def _new_row_variable(self, var_name, fill):
        rows = self.device_vocabulary_size
        # Expandable tables declare an unknown row count so their variables may
        # be grown in place by AscEnsureRows.
        shape = tf.TensorShape([None if self.dynamic_expansion else rows, self.dim])
        with tf.compat.v1.name_scope(None):
            return tf.compat.v1.Variable(
                initial_value=lambda: tf.fill([rows, self.dim], np.float32(fill)),
                shape=shape, dtype=tf.float32, trainable=False, use_resource=True,
                collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES, TABLE_VARIABLES],
                name=f"mx_rec/{var_name}")

    def _add_state_slot(self, owner, slot_name, init_value):
        key = f"{owner}/{slot_name}"
        var = self._new_row_variable(f"{self.name}/{key}", init_value)
        self._state_slots[key] = StateSlot(var, float(init_value))
        return self._state_slots[key]

    def state_slot(self, owner, slot_name, init_value):
        """The optimizer state variable `owner/slot_name`.

        Created on first use in HBM mode. A table with a host tier fixed its
        rows' layout at creation, so its state exists from then on.
        """
        key = f"{owner}/{slot_name}"
        if key in self._state_slots:
            return self._state_slots[key]
        if self.host_vocabulary_size:
            raise ValueError(
                f"table '{self.name}' has a host tier, so optimizer state travels with its rows: "
                f"create the hash optimizer '{owner}' before create_table('{self.name}', ...)")
        return self._add_state_slot(owner, slot_name, init_value)

    @property
    def state_slots(self) -> List[StateSlot]:
        return list(self._state_slots.values())

    @property
    def row_variables(self) -> List[tf.Variable]:
        """Embedding then state variables: the column order of a moved row."""
        return [self.variable] + [s.variable for s in self._state_slots.values()]

    def ensure_rows(self, variable, capacity, fill):
        """Op growing `variable` to `capacity` rows when the table may expand."""
        if not self.dynamic_expansion:
            return tf.no_op()
        return asc_ops.ensure_rows(variable, capacity, fill)

    # ---- lookup ordering ---------------------------------------------------------------

    def previous_train_reads(self):
        """[rows tensor of the latest training lookup in the default graph], or []."""
        last = self._last_train_read.get(tf.compat.v1.get_default_graph())
        return [] if last is None else [last]

    def note_train_read(self, rows):
        self._last_train_read[rows.graph] = rows

    # ---- lifecycle ---------------------------------------------------------------

    @property
    def released(self):
        return self._released

    def check_usable(self):
        if self._released:
            raise RuntimeError(
                f"table '{self.name}' was released by terminate_config_initializer(); "
                "call init() and create_table() again before looking it up")

    def release(self):
        if not self._released and _libasc.has_table(self.name):
            _libasc.drop_table(self.name)
        self._released = True

    # ---- introspection -------------------------------------------------------------

    def size(self):
        """Number of keys the table holds."""
        return _libasc.table_size(self.name)

    def capacity(self):
        """Device rows currently reserved in libasc."""
        return _libasc.table_capacity(self.name)

    def stats(self):
        """Counters (dict, _libasc.STAT_NAMES): keys per tier, hits, misses, loads,
        evictions, new keys, SSD traffic, hot_keys / hot_hits (hot embedding).
        mx_rec.core.tier_stats.hit_rates(stats) turns them into hit rates."""
        return _libasc.stats(self.name)

    def export_slots(self):
        """(keys, slots) numpy arrays of every key held, in unspecified order."""
        return _libasc.snapshot(self.name)

    def __repr__(self):
        return (f"SparseTable(name={self.name!r}, key_dtype={self.key_dtype.name}, dim={self.dim}, "
                f"device_vocabulary_size={self.device_vocabulary_size})")
