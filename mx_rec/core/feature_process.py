"""EvictHook: periodic feature eviction (the "E" of FAAE).

Tables whose keys have an eviction_threshold (FeatureSpec or
access_and_evict_config) lose every key not seen for more than that many time
units, from every tier, when the hook fires: every `evict_step_interval`
training steps and/or every `evict_time_interval` seconds of wall time. The
device slots the keys held are freed (once no running step uses them); a key
that takes such a slot later gets a fresh initial row and optimizer state,
like any new key.
"""

import time

import tensorflow as tf

from mx_rec.ops import asc_ops
from mx_rec.util.initialize import tables_in_graph
from mx_rec.util.validation import check_bool, check_int


def evict_op(tables=None):
    """Op evicting the stale keys of `tables` (default: every table of the
    default graph with an eviction_threshold); returns the number of keys
    evicted (int64 scalar)."""
    if tables is None:
        tables = [t for t in tables_in_graph(tf.compat.v1.get_default_graph()).values()
                  if t.thresholds is not None and t.thresholds.eviction_threshold is not None]
    counts = [tf.constant(0, tf.int64)]
    for table in tables:
        thresholds = table.thresholds
        if thresholds is None or thresholds.eviction_threshold is None:
            raise ValueError(f"tables: table '{table.name}' has no eviction_threshold (set it in "
                             "its FeatureSpec or access_and_evict_config)")
        counts.append(asc_ops.evict_stale(table.handle, thresholds.access_threshold,
                                          thresholds.eviction_threshold,
                                          name=f"{table.name}_evict"))
    return tf.add_n(counts)


class EvictHook(tf.compat.v1.train.SessionRunHook):
    """Runs evict_op() between training steps, by step count and/or by time.

    Steps are global steps when the graph has a global step (so eval runs in
    the same session do not count), else session runs.

    Args:
      evict_enable: switch; False makes the hook do nothing.
      evict_time_interval: seconds between evictions (None: no time trigger).
      evict_step_interval: training steps between evictions (None: no step
        trigger). At least one trigger is needed when enabled.
    """

    def __init__(self, evict_enable=False, evict_time_interval=24 * 60 * 60,
                 evict_step_interval=None):
        self._enabled = check_bool("evict_enable", evict_enable)
        self._time_interval = None if evict_time_interval is None else \
            check_int("evict_time_interval", evict_time_interval, 1)
        self._step_interval = None if evict_step_interval is None else \
            check_int("evict_step_interval", evict_step_interval, 1)
        if self._enabled and self._time_interval is None and self._step_interval is None:
            raise ValueError("EvictHook: evict_enable=True needs evict_time_interval or "
                             "evict_step_interval (>= 1)")
        self._op = None
        self._global_step = None
        self._runs = 0
        self._last_step = 0
        self._last_time = 0.0
        self.evicted = 0  # keys evicted by this hook so far

    def begin(self):
        if self._enabled:
            self._op = evict_op()
            # Only the step trigger needs it: then it is read once per run.
            if self._step_interval is not None:
                self._global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord):
        self._last_time = time.monotonic()
        if self._global_step is not None:
            self._last_step = int(session.run(self._global_step))

    def after_run(self, run_context, run_values):
        if self._op is None:
            return
        self._runs += 1
        # Read after the run: fetched with it, the value could be either side
        # of the run's own increment.
        step = self._runs if self._global_step is None else \
            int(run_context.session.run(self._global_step))
        now = time.monotonic()
        due_by_step = self._step_interval is not None and \
            step - self._last_step >= self._step_interval
        due_by_time = self._time_interval is not None and \
            now - self._last_time >= self._time_interval
        if due_by_step or due_by_time:
            self.evicted += int(run_context.session.run(self._op))
            self._last_step = step
            self._last_time = now
