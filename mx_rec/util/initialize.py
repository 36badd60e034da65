"""Process-wide configuration: init() before creating tables, terminate at the end.

Mirrors mxRec's `mx_rec.util.initialize` so existing scripts keep their calls.
"""

import dataclasses
import weakref
from typing import Dict, List, Optional

from mx_rec.util.validation import check_bool, check_int


@dataclasses.dataclass
class Config:
    """What init() fixed for the lifetime of this process' tables."""

    use_dynamic: bool = True
    use_dynamic_expansion: bool = False
    # Step counts are informational: nothing in mx_rec needs them to stop or to
    # avoid a hang, they only feed logging and hooks that ask for them.
    train_steps: Optional[int] = None
    eval_steps: Optional[int] = None
    save_steps: Optional[int] = None
    max_steps: Optional[int] = None
    # Checkpoints (see README "Saving and restoring"): deltas between full
    # checkpoints, a full one at least every save_checkpoint_due_time seconds;
    # save_delta_checkpoints_secs is the saving interval mx_rec.checkpoint's
    # hook uses; restore_model_version picks the global step restored.
    is_incremental_checkpoint: bool = False
    save_checkpoint_due_time: Optional[int] = None
    save_delta_checkpoints_secs: Optional[int] = None
    restore_model_version: Optional[int] = None
    # Every table created since init(), in creation order.
    tables: List[object] = dataclasses.field(default_factory=list)
    # graph -> {table name: SparseTable} of the tables used in that graph
    # (names are unique per graph, also across init(): a graph's table ops
    # keep their names; graphs may be freed).
    graph_tables: "weakref.WeakKeyDictionary" = dataclasses.field(
        default_factory=lambda: _GRAPH_TABLES)
    # FeatureSpec name -> table of every FeatureSpec-mode lookup (start_asc_pipeline).
    looked_up_features: Dict[str, object] = dataclasses.field(default_factory=dict)


_config: Optional[Config] = None
_GRAPH_TABLES = weakref.WeakKeyDictionary()


def init(use_dynamic=True, use_dynamic_expansion=False, train_steps=None, eval_steps=None,
         save_steps=None, max_steps=None, is_incremental_checkpoint=False,
         save_checkpoint_due_time=None, save_delta_checkpoints_secs=None,
         restore_model_version=None):
    """Initialises mx_rec for this process.

    Args:
      use_dynamic: True for dynamic shapes (exact unique-key counts per batch);
        False for static shapes, where every lookup pads its unique keys to
        `send_count` and more unique keys than that is an error.
      use_dynamic_expansion: let a full device tier grow (geometrically)
        instead of failing the step.
      train_steps, eval_steps, save_steps, max_steps: optional step counts,
        kept for hooks and logging; never required.
      is_incremental_checkpoint: every Saver save after a table's first one
        (in a session) writes only what changed since the previous save (a
        delta: touched rows and tombstones), until a full checkpoint is due.
      save_checkpoint_due_time: seconds between full checkpoints when
        incremental (default 3600).
      save_delta_checkpoints_secs: seconds between saves of
        mx_rec.checkpoint.saver_hook (default: TF's 600).
      restore_model_version: global step whose checkpoint a restore from a
        checkpoint directory picks (mx_rec.checkpoint.version_path, and
        MonitoredTrainingSession / Estimator); default the newest.
    """
    global _config
    if _config is not None:
        raise RuntimeError("mx_rec is already initialised; call terminate_config_initializer() "
                           "before init() again")
    counts = {}
    for name, value in (("train_steps", train_steps), ("eval_steps", eval_steps),
                        ("save_steps", save_steps), ("max_steps", max_steps)):
        counts[name] = None if value is None else check_int(name, value, -1)
    if is_incremental_checkpoint and save_checkpoint_due_time is None:
        save_checkpoint_due_time = 3600
    for name, value in (("save_checkpoint_due_time", save_checkpoint_due_time),
                        ("save_delta_checkpoints_secs", save_delta_checkpoints_secs)):
        counts[name] = None if value is None else check_int(name, value, 1)
    counts["restore_model_version"] = None if restore_model_version is None else \
        check_int("restore_model_version", restore_model_version, 0)
    _config = Config(use_dynamic=check_bool("use_dynamic", use_dynamic),
                     is_incremental_checkpoint=check_bool("is_incremental_checkpoint",
                                                          is_incremental_checkpoint),
                     use_dynamic_expansion=check_bool("use_dynamic_expansion",
                                                      use_dynamic_expansion),
                     **counts)
    return _config


def get_config() -> Config:
    """The active configuration; RuntimeError if init() was not called."""
    if _config is None:
        raise RuntimeError("mx_rec is not initialised: call mx_rec.util.initialize.init() first "
                           "(or again, after terminate_config_initializer())")
    return _config


def is_initialized() -> bool:
    return _config is not None


def tables_in_graph(graph):
    """{name: SparseTable} of the tables used in `graph` and not released."""
    return {name: table for name, table in get_config().graph_tables.get(graph, {}).items()
            if not table.released}


def terminate_config_initializer():
    """Forgets the configuration and the tables created since init().

    Released tables cannot be looked up again (a clear error says so). Their
    state belongs to the sessions that ran them: graphs built before keep
    working in those sessions and never touch tables made after a new init().
    """
    global _config
    if _config is None:
        return
    for table in _config.tables:
        table.release()
    _config = None
