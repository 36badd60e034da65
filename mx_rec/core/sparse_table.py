"""SparseTable: one embedding table whose keys live in libasc.

The device tier is a TF resource variable of [capacity, dim] rows (plus the
optimizer state variables registered by hash optimizers, all indexed by the
same slot). libasc maps each key to its slot. Table variables are kept out of
TRAINABLE_VARIABLES: only hash optimizers update them, and only the rows the
step touched.
"""

import dataclasses
import weakref
from typing import Dict, List

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

    rows[i] is the device row of unique key i, read at slot slots[i]; the first
    n_valid entries are real (the rest is static-shape padding). is_new marks
    keys inserted by this step; capacity is the table's device rows after it.
    """

    table: "SparseTable"
    rows: tf.Tensor
    slots: tf.Tensor
    is_new: tf.Tensor
    n_valid: tf.Tensor
    capacity: tf.Tensor


@dataclasses.dataclass
class StateSlot:
    """An optimizer state variable that lives beside the table's rows."""

    variable: tf.Variable
    init_value: float


class SparseTable:
    """An embedding table with an unbounded vocabulary (see create_table)."""

    def __init__(self, name, key_dtype, dim, initializer, device_vocabulary_size,
                 dynamic_expansion, default_value):
        self.name = name
        self.key_dtype = key_dtype
        self.dim = dim
        self.initializer = initializer
        self.device_vocabulary_size = device_vocabulary_size
        self.dynamic_expansion = dynamic_expansion
        self.default_value = default_value
        self._released = False
        self._state_slots: Dict[str, StateSlot] = {}
        # graph -> rows tensor of its latest training lookup (graphs may be freed)
        self._last_train_read = weakref.WeakKeyDictionary()
        _libasc.create_table(name=name, key_type=key_dtype.name, dim=dim,
                             device_capacity=device_vocabulary_size,
                             dynamic_expansion=dynamic_expansion)
        try:
            self.variable = self._new_row_variable(name, 0.0)
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

    def state_slot(self, owner, slot_name, init_value):
        """The optimizer state variable `owner/slot_name`, created on first use."""
        key = f"{owner}/{slot_name}"
        if key not in self._state_slots:
            var = self._new_row_variable(f"{self.name}/{key}", init_value)
            self._state_slots[key] = StateSlot(var, float(init_value))
        return self._state_slots[key]

    @property
    def state_slots(self) -> List[StateSlot]:
        return list(self._state_slots.values())

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

    def export_slots(self):
        """(keys, slots) numpy arrays of every key held, in unspecified order."""
        return _libasc.snapshot(self.name)

    def __repr__(self):
        return (f"SparseTable(name={self.name!r}, key_dtype={self.key_dtype.name}, dim={self.dim}, "
                f"device_vocabulary_size={self.device_vocabulary_size})")
