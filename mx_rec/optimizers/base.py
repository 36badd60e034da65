"""HashOptimizer: the common half of every sparse-table optimizer.

compute_gradients() differentiates the loss with respect to the rows each
training lookup read (one [unique, dim] tensor per lookup), gated like TF's
default GATE_OP. apply_gradients() groups those by table, merges several
lookups of one table (their slots may overlap, so gradients are summed per
slot), attaches the rule's state variables to the table (they then travel
between tiers and grow with its rows), hands (slots, grads) to the
subclass's update rule, and finally commits the step's lookups: a step that
fails before that leaves every table as it was. Dense variables are never
touched: pair this with an ordinary TF optimizer, or use
mx_rec.optimizers.minimize for both.
"""

import collections
import warnings

import tensorflow as tf

from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.util import graph_records
from mx_rec.ops import asc_ops
from mx_rec.util.validation import check_positive


class HashOptimizer:
    """Base class; subclasses define state_specs() and _apply_rows()."""

    def __init__(self, learning_rate, name):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self._name = name
        self._learning_rate = check_positive("learning_rate", learning_rate, allow_tensor=True)

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
        grads = tf.gradients(loss, [r.rows for r in records], gate_gradients=True)
        return self.gradient_pairs(records, grads)

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

    def apply_gradients(self, grads_and_vars, global_step=None, name=None, loss=None):
        """Applies [(grad, rows)] from compute_gradients(); returns the train op.

        The op ends by committing the step's lookups of the updated tables.
        With `loss`, nothing is updated or committed before the loss value is
        computed: a step whose loss fails (e.g. a feed only the loss value
        needs is missing) changes no table.
        """
        with tf.compat.v1.name_scope(name, default_name=self._name), \
                tf.control_dependencies([] if loss is None else [loss]):
            train_op, tables = self.update_op(grads_and_vars)
            if global_step is not None:
                with tf.control_dependencies([train_op]):
                    train_op = tf.compat.v1.assign_add(global_step, 1).op
            return commit(tables, after=[train_op])

    def minimize(self, loss, global_step=None, var_list=None, name=None):
        """compute_gradients + apply_gradients; no-op when loss uses no table."""
        pairs = self.compute_gradients(loss, var_list)
        warn_unupdated(loss, self.records(var_list))
        return self.apply_gradients(pairs, global_step=global_step, name=name, loss=loss)

    # ---- internals -------------------------------------------------------------------

    def records(self, var_list=None):
        """Training lookups of the default graph, optionally of some tables only."""
        records = graph_records.get(LOOKUP_RECORDS)
        if var_list is None:
            return records
        names = {getattr(t, "name", None) for t in var_list}
        return [r for r in records if r.table.name in names]

    def update_op(self, grads_and_vars):
        """(op updating the tables' rows, [tables updated]); commits nothing."""
        by_rows = {r.rows.ref(): r for r in graph_records.get(LOOKUP_RECORDS)}
        per_table = collections.OrderedDict()
        for grad, rows in grads_and_vars:
            if grad is None:
                continue
            record = by_rows.get(rows.ref())
            if record is None:
                raise ValueError(f"grads_and_vars: {rows} is not the rows tensor of a training "
                                 "sparse_lookup in this graph")
            per_table.setdefault(record.table.name, []).append((grad, record))
        updates = [self._apply_table(entries) for entries in per_table.values()]
        return self._finish(updates), [entries[0][1].table for entries in per_table.values()]

    def _apply_table(self, entries):
        table = entries[0][1].table
        slots, grads = [], []
        for grad, record in entries:
            parts = (record.slots, grad)
            if record.n_valid is not None:  # drop static-shape padding
                parts = [p[:record.n_valid] for p in parts]
            if record.admitted is not None:  # keys without a row take no update
                admitted = record.admitted if record.n_valid is None \
                    else record.admitted[:record.n_valid]
                parts = [tf.boolean_mask(p, admitted) for p in parts]
            slots.append(parts[0])
            grads.append(parts[1])
        if len(entries) == 1:
            slots, grads = slots[0], grads[0]
        else:
            # Several lookups of one table may share slots: one update per slot.
            slots, idx = tf.unique(tf.concat(slots, 0))
            grads = tf.math.unsorted_segment_sum(tf.concat(grads, 0), idx, tf.size(slots))
        specs = self.state_specs()
        state = {slot_name: table.state_slot(self, slot_name, init).variable
                 for slot_name, init in specs}
        # The state travels with the rows between tiers from now on; a
        # freshly assigned row gets its initial state when the lookup fills it,
        # so no update may read state before the lookups' AscFill ran (rules
        # reading state by slots alone, like lazy Adam, would otherwise race).
        attach = asc_ops.attach_state(table.handle, table.variable, list(state.values()),
                                      [init for _, init in specs],
                                      [f"{self._name}/{slot_name}" for slot_name, _ in specs])
        with tf.control_dependencies([attach] + [record.rows for _, record in entries]):
            return self._apply_rows(table, slots, grads, state)

    def _lr(self):
        return tf.convert_to_tensor(self._learning_rate, tf.float32)


def commit(tables, after):
    """The train op: `after`, then AscCommitStep of `tables` (their step's
    lookups are kept only once every update ran)."""
    with tf.control_dependencies(after):
        if not tables:
            return tf.group(*after)
        return asc_ops.commit_step([t.handle for t in tables], name="commit_step")


def warn_unupdated(loss, updated_records):
    """Warns about tables the loss reads in training that no update covers: their
    rows stay frozen and the keys their lookups insert are taken back after
    every step."""
    updated = {id(r) for r in updated_records}
    others = [r for r in graph_records.get(LOOKUP_RECORDS) if id(r) not in updated]
    if not others:
        return
    grads = tf.gradients(loss, [r.rows for r in others])
    for name in sorted({r.table.name for r, g in zip(others, grads) if g is not None}):
        message = (f"table '{name}' is used by the loss in training but this train op updates "
                   "no row of it: its rows stay as initialised and its training lookups' new "
                   "keys are taken back after every step. Train it with a hash optimizer "
                   "(mx_rec.optimizers) or look it up with is_train=False.")
        warnings.warn(message, stacklevel=3)
        tf.compat.v1.logging.warning(message)
