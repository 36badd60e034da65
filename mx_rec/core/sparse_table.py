"""SparseTable: an embedding table with an unbounded vocabulary (see create_table).

A SparseTable holds what create_table fixed. The TensorFlow objects that
carry a table's state live in a graph: the table's resource handle
(AscTableHandle, like a MutableHashTable) and its device-row variables. They
are made the first time the table is used in a graph (create_table makes them
in the current default graph), so one SparseTable serves every graph that
looks it up, e.g. each graph an Estimator builds. Each session running such a
graph owns its own table state, exactly like a variable's value: the table's
variable initializer empties it, two sessions never share it, and nothing
reaches it by name from another graph.
"""

import dataclasses
import weakref
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from mx_rec.checkpoint import saveable
from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops

# Graph collection of every table variable (embedding and optimizer state).
# Kept out of TRAINABLE_VARIABLES so dense optimizers never touch them.
TABLE_VARIABLES = "mx_rec_table_variables"
# Per-graph list (mx_rec.util.graph_records) of LookupRecord, one per
# training lookup.
LOOKUP_RECORDS = "mx_rec_lookup_records"


@dataclasses.dataclass
class LookupRecord:
    """What a hash optimizer needs from one training lookup.

    keys: the lookup's unique keys (padded in static-shape mode).
    rows: [unique, dim], the tensor gradients are taken with respect to.
    slots: int64 [unique], the rows' device slots (-1: no row).
    n_valid: the first n_valid entries are real (the rest is static-shape
      padding); None for unpadded lookups.
    admitted: bool [unique], the keys whose rows take an update, when some
      may not: keys without a row (slot -1: feature admission, or is_train
      given as a tensor) and keys that a weighted multi-hot lookup counts as
      absent (core/multi_hot.py); None when every key does.
    fill_index: int64 positions of the keys whose initial row this lookup
      drew (new keys).
    """

    table: "SparseTable"
    keys: tf.Tensor
    rows: tf.Tensor
    slots: tf.Tensor
    n_valid: Optional[tf.Tensor]
    admitted: Optional[tf.Tensor] = None
    fill_index: Optional[tf.Tensor] = None


@dataclasses.dataclass
class StateSlot:
    """An optimizer state variable beside the table's rows."""

    variable: tf.Variable
    init_value: float
    owner: object  # the hash optimizer that made it


class GraphTable:
    """A table's TF objects in one graph: handle, variables, lookup order."""

    def __init__(self, table, graph):
        self.graph = graph
        with graph.as_default(), tf.compat.v1.name_scope(None), graph.control_dependencies(None):
            self.handle = asc_ops.table_handle(table.options_text, f"mx_rec_table/{table.name}",
                                               name=f"mx_rec/{table.name}/table")
            reset = asc_ops.table_reset(self.handle, name=f"mx_rec/{table.name}/reset")
            # The table's initializer is its embedding variable's: re-running
            # it (or global_variables_initializer) empties the table too.
            self.variable = table.new_row_variable(table.name, 0.0, after=reset)
            # Introspection ops, built now so that they exist in graphs that
            # are finalized later (MonitoredSession, Estimator).
            with tf.compat.v1.name_scope(f"mx_rec/{table.name}/introspection/"):
                self.stats = asc_ops.table_stats(self.handle)
                self.snapshot = asc_ops.table_snapshot(self.handle)
                self.admission = asc_ops.export_admission(self.handle)
                self.capacity = tf.raw_ops.VariableShape(input=self.variable.handle)[0]
                self.keys = tf.compat.v1.placeholder(table.key_dtype, [None], name="keys")
                self.tiers = asc_ops.table_locate(self.handle, tf.cast(self.keys, tf.int64))
                self.rows = asc_ops.read(self.handle, self.variable, self.keys, True,
                                         tf.constant(table.default_value, tf.float32))
        self.state_slots: Dict[str, StateSlot] = {}
        # Warm start (mx_rec.checkpoint.warm_start): variable name -> the
        # variable's own initializer, for the table variables whose
        # initializer a warm start replaced (a Saver's restore runs these,
        # never the warm start's); and the function rebuilding the warm
        # start's initializer when a hash optimizer adds state variables later.
        self.own_initializers: Dict[str, tf.Operation] = {}
        self.rebuild_warm_start = None
        # What a tf.compat.v1.train.Saver saves and restores of the table.
        with graph.as_default():
            self.saveable = saveable.make_saveable(table, self)
            tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS, self.saveable)
        saveable.tag_variable(self.variable, self.saveable)
        # rows tensor of the latest training lookup built (lookups of a table
        # run in construction order).
        self.last_train_read: Optional[tf.Tensor] = None


class SparseTable:
    """An embedding table with an unbounded vocabulary (see create_table)."""

    def __init__(self, options, key_dtype, initializer, default_value, registry):
        self._options = options
        self.options_text = options.serialize()
        self.name = options.name
        self.key_dtype = key_dtype
        self.dim = options.dim
        self.initializer = initializer
        self.default_value = default_value
        self.device_vocabulary_size = options.device_vocabulary_size
        self.host_vocabulary_size = options.host_vocabulary_size
        self.ssd_vocabulary_size = options.ssd_vocabulary_size
        self.hot_vocabulary_size = options.hot_vocabulary_size
        self.hot_refresh_steps = options.hot_refresh_steps
        self.cache_policy = options.cache_policy
        self.dynamic_expansion = options.dynamic_expansion
        self._registry = registry  # graph -> {name: SparseTable}, from init()
        self._graphs = weakref.WeakKeyDictionary()  # graph -> GraphTable
        self._released = False
        # FAAE thresholds (core/asc/admission.Thresholds), None until a feature
        # or lookup sets them.
        self.thresholds = None
        # Whether a training lookup without thresholds was built (then none
        # may add thresholds later: its keys would not be counted).
        self.has_unfiltered_lookup = False

    # ---- graph objects -------------------------------------------------------------

    def in_graph(self, graph=None):
        """The table's GraphTable in `graph` (default: the outermost default graph),
        made on first use (not for a released table)."""
        if graph is None:
            with tf.init_scope():
                graph = tf.compat.v1.get_default_graph()
        state = self._graphs.get(graph)
        if state is None:
            self.check_usable()
            names = self._registry.setdefault(graph, {})
            other = names.get(self.name)
            if other is not None and other is not self:
                released = " (released by terminate_config_initializer(); its ops stay in " \
                    "the graph: build the new model in a new graph, e.g. after " \
                    "tf.compat.v1.reset_default_graph())" if other.released else ""
                raise ValueError(f"name: another table named '{self.name}' is already used in "
                                 f"this graph{released}; table names must be unique within a "
                                 "graph")
            state = GraphTable(self, graph)
            names[self.name] = self
            self._graphs[graph] = state
        return state

    def new_row_variable(self, var_name, fill, after=None):
        """A [device rows, dim] float variable filled with `fill` (its initializer
        runs `after` first)."""
        rows = self.device_vocabulary_size
        # Expandable tables declare an unknown row count so their variables may
        # be grown in place.
        shape = tf.TensorShape([None if self.dynamic_expansion else rows, self.dim])

        def initial_value():
            with tf.control_dependencies([] if after is None else [after]):
                return tf.fill([rows, self.dim], np.float32(fill))

        return tf.compat.v1.Variable(
            initial_value=initial_value, shape=shape, dtype=tf.float32, trainable=False,
            use_resource=True, collections=[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                                            TABLE_VARIABLES],
            name=f"mx_rec/{var_name}")

    @property
    def handle(self):
        """The table's resource handle in the default graph."""
        return self.in_graph().handle

    @property
    def variable(self):
        """The embedding variable (device rows) in the default graph."""
        return self.in_graph().variable

    def state_slot(self, owner, slot_name, init_value):
        """The optimizer state variable `slot_name` of hash optimizer `owner` in
        the default graph, made on first use. Two optimizers with one name may
        not both train a table: their state would be one variable."""
        state = self.in_graph()
        key = f"{owner.name}/{slot_name}"
        entry = state.state_slots.get(key)
        if entry is None:
            with state.graph.as_default(), tf.compat.v1.name_scope(None), \
                    state.graph.control_dependencies(None):
                variable = self.new_row_variable(f"{self.name}/{key}", init_value)
            saveable.tag_variable(variable, state.saveable)
            entry = state.state_slots[key] = StateSlot(variable, float(init_value), owner)
            if state.rebuild_warm_start is not None:
                state.rebuild_warm_start()
        elif entry.owner is not owner:
            raise ValueError(
                f"two hash optimizers named '{owner.name}' train table '{self.name}': their state "
                "would be the same variables; give them different names (name=...)")
        return entry

    def state_slots(self, graph=None):
        """StateSlots of the table in `graph` (default graph), in creation order."""
        return list(self.in_graph(graph).state_slots.values())

    # ---- introspection (runs ops in a session) --------------------------------------

    def _run(self, session, fetch, keys=None):
        """Runs `fetch(GraphTable)` in `session` (default: the default session)."""
        session = session or tf.compat.v1.get_default_session()
        if session is None:
            raise RuntimeError(f"table '{self.name}': its state lives in a session; pass "
                               "session=... or call inside `with session.as_default():`")
        if not hasattr(session, "graph") or not hasattr(session, "run"):
            raise TypeError(f"session must be a tf.compat.v1.Session, got {session!r}")
        state = self._graphs.get(session.graph)
        if state is None:
            raise ValueError(f"session: it runs a graph in which table '{self.name}' is not "
                             "used; pass the session of a graph that looks the table up")
        feed = None
        if keys is not None:
            keys = np.asarray(keys)
            if keys.dtype.kind not in "iu":
                raise TypeError(f"keys must be integers, got {keys.dtype} values")
            feed = {state.keys: keys.reshape(-1)}
        try:
            return session.run(fetch(state), feed)
        except (tf.errors.NotFoundError, tf.errors.FailedPreconditionError) as err:
            raise RuntimeError(f"table '{self.name}' is not initialized in this session: run "
                               "the global variables initializer first") from err

    def stats(self, session=None):
        """Counters (dict, _libasc.STAT_NAMES) of the table in `session` (default:
        the default session): keys per tier, hits, misses, loads, evictions, new
        keys, SSD traffic, hot_keys / hot_hits (hot embedding), open steps and
        rolled-back keys. mx_rec.core.tier_stats.hit_rates(stats) turns them
        into hit rates."""
        values = self._run(session, lambda s: s.stats)
        return dict(zip(_libasc.STAT_NAMES, (int(v) for v in values)))

    def size(self, session=None):
        """Number of keys the table holds in `session`, in all tiers."""
        stats = self.stats(session)
        return stats["device_keys"] + stats["host_keys"] + stats["ssd_keys"]

    def capacity(self, session=None):
        """Device rows of the table in `session` (grows with dynamic expansion)."""
        return int(self._run(session, lambda s: s.capacity))

    def export_slots(self, session=None):
        """(keys, slots) numpy arrays of every key held in `session`, in
        unspecified order; slot -1 for keys on the host or SSD tier."""
        return self._run(session, lambda s: s.snapshot)

    def locate(self, keys, session=None):
        """Tier of each key in `session`: 0 device, 1 host, 2 SSD, -1 absent."""
        return self._run(session, lambda s: s.tiers, keys)

    def read_rows(self, keys, session=None):
        """[len(keys), dim] rows of keys in `session` from whichever tier holds
        them (default_value for keys the table does not hold); an eval read."""
        return self._run(session, lambda s: s.rows, keys)

    def export_admission(self, session=None):
        """(keys, counts, last_seen) of the table's admission records in `session`."""
        return self._run(session, lambda s: s.admission)

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
        """Forbids new uses; graphs built before keep working in their sessions."""
        self._released = True

    # ---- variable-like -----------------------------------------------------------

    @property
    def shape(self):
        """[device_vocabulary_size, dim] (rows unknown when the table may grow),
        like a variable's shape; the keys the table holds are not bounded by it."""
        return tf.TensorShape([None if self.dynamic_expansion else self.device_vocabulary_size,
                               self.dim])

    def get_shape(self):
        return self.shape

    def __repr__(self):
        return (f"SparseTable(name={self.name!r}, key_dtype={self.key_dtype.name}, dim={self.dim}, "
                f"device_vocabulary_size={self.device_vocabulary_size})")

