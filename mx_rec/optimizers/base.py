"""HashOptimizer: the common half of every sparse-table optimizer.

compute_gradients() differentiates the loss with respect to the rows each
training lookup read (one [unique, dim] tensor per lookup). apply_gradients()
groups those by table, merges several lookups of one table (their slots may
overlap, so gradients are summed per slot), resets the state of rows that were
just (re)assigned to a new key, and hands (slots, grads) to the subclass's
update rule. Dense variables are never touched: pair this with an ordinary TF
optimizer for them.
"""

import collections

import tensorflow as tf

from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.util import initialize


class HashOptimizer:
    """Base class; subclasses define state_specs() and _apply_rows()."""

    def __init__(self, learning_rate, name):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if not tf.is_tensor(learning_rate):
            if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
                    or learning_rate <= 0:
                raise ValueError(f"learning_rate must be a number > 0, got {learning_rate!r}")
        self._name = name
        self._learning_rate = learning_rate
        if initialize.is_initialized():
            initialize.get_config().hash_optimizers.append(self)

    @property
    def name(self):
        return self._name

    # ---- subclass interface ------------------------------------------------------

    def state_specs(self):
        """[(slot_name, initial value)] of the per-row state this rule keeps."""
        return []

    def _apply_rows(self, table, slots, grads, state):
        """Returns the op updating table rows `slots` with summed `grads`.

        `state` maps slot_name -> tf.Variable beside the table's rows.
        """
        raise NotImplementedError

    def _finish(self, update_ops):
        """Op run after all tables are updated (e.g. Adam's beta powers)."""
        return tf.group(*update_ops)

    # ---- public API ----------------------------------------------------------------

    def compute_gradients(self, loss, var_list=None):
        """[(grad, rows)] for every training lookup that `loss` depends on.

        Args:
          loss: scalar tensor.
          var_list: optional list of SparseTables to restrict the update to.
        """
        records = self.records(var_list)
        if not records:
            return []
        return self.gradient_pairs(records, tf.gradients(loss, [r.rows for r in records]))

    @staticmethod
    def gradient_pairs(records, grads):
        """[(grad, rows)] from the gradients of the records' rows tensors."""
        pairs = []
        for record, grad in zip(records, grads):
            if grad is None:
                continue
            if isinstance(grad, tf.IndexedSlices):
                # Duplicated keys: sum their gradients into the key's row.
                grad = tf.math.unsorted_segment_sum(grad.values, grad.indices,
                                                    tf.shape(record.rows)[0])
            pairs.append((grad, record.rows))
        return pairs

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """Applies [(grad, rows)] from compute_gradients(); returns the train op."""
        by_rows = {r.rows.ref(): r for r in tf.compat.v1.get_collection(LOOKUP_RECORDS)}
        per_table = collections.OrderedDict()
        for grad, rows in grads_and_vars:
            if grad is None:
                continue
            record = by_rows.get(rows.ref())
            if record is None:
                raise ValueError(f"grads_and_vars: {rows} is not the rows tensor of a training "
                                 "sparse_lookup in this graph")
            per_table.setdefault(record.table.name, []).append((grad, record))
        with tf.compat.v1.name_scope(name, default_name=self._name):
            updates = [self._apply_table(entries) for entries in per_table.values()]
            train_op = self._finish(updates)
            if global_step is not None:
                with tf.control_dependencies([train_op]):
                    train_op = tf.compat.v1.assign_add(global_step, 1).op
        return train_op

    def minimize(self, loss, global_step=None, var_list=None, name=None):
        """compute_gradients + apply_gradients; no-op when loss uses no table."""
        return self.apply_gradients(self.compute_gradients(loss, var_list),
                                    global_step=global_step, name=name)

    # ---- internals -------------------------------------------------------------------

    def records(self, var_list=None):
        """Training lookups of the default graph, optionally of some tables only."""
        records = tf.compat.v1.get_collection(LOOKUP_RECORDS)
        if var_list is None:
            return records
        names = {getattr(t, "name", None) for t in var_list}
        return [r for r in records if r.table.name in names]

    def _apply_table(self, entries):
        table = entries[0][1].table
        slots, grads, is_new = [], [], []
        for grad, record in entries:
            parts = (record.slots, record.is_new, grad)
            if record.n_valid is not None:  # drop static-shape padding
                parts = [p[:record.n_valid] for p in parts]
            if record.admitted is not None:  # keys without a row take no update
                admitted = record.admitted if record.n_valid is None \
                    else record.admitted[:record.n_valid]
                parts = [tf.boolean_mask(p, admitted) for p in parts]
            slots.append(parts[0])
            is_new.append(parts[1])
            grads.append(parts[2])
        if len(entries) == 1:
            slots, grads, is_new = slots[0], grads[0], is_new[0]
        else:
            # Several lookups of one table may share slots: one update per slot.
            all_slots = tf.concat(slots, 0)
            slots, idx = tf.unique(all_slots)
            count = tf.size(slots)
            grads = tf.math.unsorted_segment_sum(tf.concat(grads, 0), idx, count)
            is_new = tf.cast(tf.math.unsorted_segment_max(
                tf.cast(tf.concat(is_new, 0), tf.int32), idx, count), tf.bool)
        state = {}
        prepare = []
        # A slot handed to a new key may have held another key this step; its
        # state must have left with that key (the lookups' reads come after
        # the eviction) before the reset below overwrites it.
        moved = [record.rows for _, record in entries]
        specs = self.state_specs()
        if specs:
            new_slots = tf.boolean_mask(slots, is_new)
            grown = []
            if table.dynamic_expansion:
                # The state must cover every row this step's lookups added.
                capacity = tf.reduce_max(tf.stack([record.capacity for _, record in entries]))
            for slot_name, init_value in specs:
                entry = table.state_slot(self._name, slot_name, init_value)
                state[slot_name] = entry.variable
                if table.dynamic_expansion:
                    grown = [table.ensure_rows(entry.variable, capacity, init_value)]
                with tf.control_dependencies(grown + moved):
                    # A freshly assigned row starts from the rule's initial state,
                    # whatever an earlier owner of the slot left there.
                    prepare.append(entry.reset(new_slots))
        with tf.control_dependencies(prepare):
            return self._apply_rows(table, slots, grads, state)

    def _lr(self):
        return tf.convert_to_tensor(self._learning_rate, tf.float32)
