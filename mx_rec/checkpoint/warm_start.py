"""Custom warm start: dense variables and tables from several checkpoints.

    warm_start(settings)

`settings` is a tf.estimator.WarmStartSettings, or a list of them, whose
ckpt_to_initialize_from may itself be a list of checkpoints, each with its
own vars_to_warm_start and var_name_to_prev_var_name (lists of the same
length); (ckpt, vars_to_warm_start[, var_name_to_prev_var_name]) tuples and
plain checkpoint paths are accepted in place of a WarmStartSettings. A
checkpoint is a directory (its latest checkpoint) or a checkpoint prefix.
Checkpoints apply in order: a variable or table that a later one selects is
initialized from the later one only.

vars_to_warm_start selects, per checkpoint:
  - a string: a regular expression; it selects the TRAINABLE variables it
    matches (tf.compat.v1.get_collection, as TF's warm start) and the tables
    whose whole name it matches (".*": everything; "user": table "user");
  - a list of strings: each selects the GLOBAL variables it matches (as TF)
    and the tables whose whole name it matches;
  - a list of variables and tables: tf.Variables (a table's own variables
    select their table) and SparseTable objects; strings may be mixed in;
  - None: only the variables of var_name_to_vocab_info (TF's meaning).
Every string and every list entry must select something, and each selected
dense variable and table must be in the checkpoint: otherwise a ValueError
names them and the checkpoint.

var_name_to_prev_var_name maps a variable name or a table name to its name in
the checkpoint (tables may be renamed). var_name_to_vocab_info applies to
dense variables (TF's vocabulary remapping); tables need none.

Like tf.compat.v1.train.warm_start, this only changes initializers: dense
variables through TF's own warm start, tables by making the table's
initializer (its embedding variable's, which empties the table) also load the
table from the checkpoint (AscTableRestore: keys, rows and optimizer state,
admission records; rows are placed into whatever tiers the table has now).
global_variables_initializer() and Scaffold init ops built afterwards run
them; a restore of the model's own checkpoint (Saver, MonitoredTrainingSession,
Estimator) skips initializers and so wins, and never reads the warm-start
checkpoint. Build the model (lookups, optimizers) first, as Estimator does for
its own warm start; a hash optimizer built later still has its state loaded.
The table's optimizer state blocks must match the checkpoint's by name (the
same hash optimizer; AscTableRestore fails at initialization, naming the
table, otherwise), as must its key dtype and dim.

Estimator: tf.estimator.Estimator(warm_start_from=...) runs TF's warm start,
which knows neither lists nor tables; give the settings to
warm_start_model_fn(model_fn, settings) instead.
"""

import inspect
import os
import re

import tensorflow as tf

from mx_rec.checkpoint import manifest, saveable
from mx_rec.core.sparse_table import TABLE_VARIABLES, SparseTable
from mx_rec.util import initialize, tf_internals



def warm_start(settings):
    """Makes the initializers of the default graph's variables and tables
    load them from the checkpoints of `settings` (see the module docstring)."""
    graph = tf.compat.v1.get_default_graph()
    tables = initialize.tables_in_graph(graph) if initialize.is_initialized() else {}
    table_of_variable = {}
    for table in tables.values():
        state = table.in_graph(graph)
        for variable in [state.variable] + [s.variable for s in state.state_slots.values()]:
            table_of_variable[variable.name] = table
    excluded = {v.name for v in graph.get_collection(TABLE_VARIABLES)}
    # Resolve and check every checkpoint before changing any initializer.
    plans = [_plan(source, tables, table_of_variable, excluded) for source in _expand(settings)]
    restores = {}
    for plan in plans:
        if plan["dense"] is None or plan["dense"]:
            tf.compat.v1.train.warm_start(plan["prefix"], plan["dense"], plan["vocab"],
                                          plan["renames"])
        for table, entry in plan["tables"]:  # a later checkpoint replaces an earlier one
            restores[table.name] = (table, plan["prefix"], entry)
    for table, prefix, entry in restores.values():
        _warm_start_table(table.in_graph(graph), table, prefix, entry)


def warm_start_model_fn(model_fn, settings):
    """A tf.estimator.Estimator model_fn: `model_fn`, then warm_start(settings)
    unless the Estimator's model_dir holds a checkpoint (which it restores
    instead: TF's rule for warm_start_from)."""
    _expand(settings)  # malformed settings fail here, not in the first train call
    parameters = inspect.signature(model_fn).parameters
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters.values())

    def run(features, labels, mode, params, config):
        kwargs = {}
        for name, value in (("labels", labels), ("mode", mode), ("params", params),
                            ("config", config)):
            if takes_any or name in parameters:
                kwargs[name] = value
            elif name == "labels" and labels is not None:
                raise ValueError("model_fn does not take labels, but input_fn returns labels.")
        spec = model_fn(features=features, **kwargs)
        model_dir = getattr(config, "model_dir", None)
        if not (model_dir and tf.train.latest_checkpoint(model_dir)):
            warm_start(settings)
        return spec

    # The Estimator passes params only to a model_fn that takes them.
    if takes_any or "params" in parameters:
        def warm_started_model_fn(features, labels, mode, params, config):
            return run(features, labels, mode, params, config)
    else:
        def warm_started_model_fn(features, labels, mode, config):
            return run(features, labels, mode, None, config)
    return warm_started_model_fn


# ---- settings -------------------------------------------------------------------------


def _expand(settings):
    """[(ckpt, vars_to_warm_start, var_name_to_vocab_info, var_name_to_prev_var_name)]
    of `settings`, one per checkpoint, in order."""
    if isinstance(settings, (str, bytes, os.PathLike)):
        return [(settings, ".*", {}, {})]
    if hasattr(settings, "ckpt_to_initialize_from"):
        ckpt = settings.ckpt_to_initialize_from
        fields = (settings.vars_to_warm_start, settings.var_name_to_vocab_info,
                  settings.var_name_to_prev_var_name)
        if not isinstance(ckpt, (list, tuple)):
            return [(ckpt,) + tuple(fields)]
        if not ckpt:
            raise ValueError("ckpt_to_initialize_from: an empty list")
        selectors = fields[0]
        if isinstance(selectors, (list, tuple)):
            if len(selectors) != len(ckpt):
                raise ValueError(
                    f"vars_to_warm_start: {len(selectors)} entries for {len(ckpt)} checkpoints in "
                    "ckpt_to_initialize_from; give one selector per checkpoint")
        else:  # one string (or None) for every checkpoint
            selectors = [selectors] * len(ckpt)
        vocabs, renames = (_per_checkpoint(name, value, len(ckpt)) for name, value in
                           (("var_name_to_vocab_info", fields[1]),
                            ("var_name_to_prev_var_name", fields[2])))
        return list(zip(ckpt, selectors, vocabs, renames))
    if isinstance(settings, (list, tuple)):
        expanded = []
        for item in settings:
            if hasattr(item, "ckpt_to_initialize_from") or not isinstance(item, (list, tuple)):
                expanded.extend(_expand(item))
            elif isinstance(item, tuple) and 2 <= len(item) <= 3:
                ckpt, selector = item[:2]
                expanded.append((ckpt, selector, {}, item[2] if len(item) == 3 else {}))
            else:
                raise TypeError("warm start settings: a list entry that is not a "
                                "WarmStartSettings or a path is a tuple (ckpt, vars_to_warm_start"
                                f"[, var_name_to_prev_var_name]); got {item!r}")
        if not expanded:
            raise ValueError("warm start settings: an empty list")
        return expanded
    raise TypeError("warm start settings must be a tf.estimator.WarmStartSettings, a checkpoint "
                    "path, or a list of them or of (ckpt, vars_to_warm_start[, "
                    f"var_name_to_prev_var_name]) tuples; got {settings!r}")


def _per_checkpoint(name, value, n):
    if value is None or (isinstance(value, dict) and not value):
        return [{}] * n
    if isinstance(value, (list, tuple)) and len(value) == n:
        return [v or {} for v in value]
    raise ValueError(f"{name}: with {n} checkpoints in ckpt_to_initialize_from, give a list of "
                     f"{n} dicts (one per checkpoint); got {value!r}")


def _resolve(path):
    """The checkpoint prefix of `path`: a directory's latest checkpoint, or a prefix."""
    path = os.fsdecode(path)
    if tf.io.gfile.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise ValueError(f"warm start: directory '{path}' holds no checkpoint")
    elif tf.io.gfile.exists(path + ".index"):
        prefix = path
    else:
        raise ValueError(f"warm start: no checkpoint at '{path}' (neither a directory holding "
                         "checkpoints nor a checkpoint prefix)")
    return prefix if "://" in prefix else os.path.abspath(prefix)


# ---- one checkpoint ---------------------------------------------------------------------


def _plan(source, tables, table_of_variable, excluded):
    """What to warm-start from one checkpoint: its prefix, the dense
    variables (None: TF's vars_to_warm_start=None), their vocab infos and
    renames, and [(table, entry)]."""
    path, selector, vocab, renames = source
    prefix = _resolve(path)
    where = f"warm start from '{path}'"
    dense, picked = _select(selector, tables, table_of_variable, excluded, where)
    table_renames, dense_renames = {}, {}
    picked_names = {t.name for t in picked}
    for name, previous in dict(renames or {}).items():
        if name in picked_names:
            table_renames[name] = previous
        elif name in tables:
            raise ValueError(f"var_name_to_prev_var_name renames table '{name}', which "
                             f"vars_to_warm_start {selector!r} does not select ({where})")
        else:
            dense_renames[name] = previous
    if dense is not None and not dense and (dense_renames or vocab):
        unused = sorted(dense_renames) + sorted(vocab or {})
        raise ValueError(f"var_name_to_prev_var_name / var_name_to_vocab_info name {unused}, but "
                         f"vars_to_warm_start {selector!r} selects no such variable ({where})")
    reader = tf.train.load_checkpoint(prefix)
    entries = [(table, _entry(reader, prefix, table.name, table_renames.get(table.name)))
               for table in picked]
    return dict(prefix=prefix, dense=dense, vocab=dict(vocab or {}), renames=dense_renames,
                tables=entries)


def _select(selector, tables, table_of_variable, excluded, where):
    """(dense variables, tables) that `selector` picks in the default graph."""
    if selector is None:
        return None, []
    single = isinstance(selector, str)
    if not single and not isinstance(selector, (list, tuple)):
        raise TypeError(f"vars_to_warm_start must be a string, a list or None; got {selector!r}")
    if not single and not selector:
        raise ValueError(f"vars_to_warm_start is an empty list: it selects nothing ({where})")
    dense, picked = {}, {}
    for item in [selector] if single else selector:
        if isinstance(item, str):
            try:
                pattern = re.compile(item)
            except re.error as err:
                raise ValueError(f"vars_to_warm_start {item!r} is not a regular expression: "
                                 f"{err}") from err
            key = tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES if single else \
                tf.compat.v1.GraphKeys.GLOBAL_VARIABLES
            variables = [v for v in tf.compat.v1.get_collection(key, scope=item)
                         if v.name not in excluded]
            matched = [t for name, t in sorted(tables.items()) if pattern.fullmatch(name)]
            if not variables and not matched:
                kind = "trainable variable" if single else "variable"
                raise ValueError(
                    f"vars_to_warm_start {item!r} matches no {kind} and no table name ({where}); "
                    f"tables in this graph: {sorted(tables) or 'none'}")
        elif isinstance(item, SparseTable):
            if tables.get(item.name) is not item:
                raise ValueError(f"vars_to_warm_start: table '{item.name}' is not used in this "
                                 f"graph ({where})")
            variables, matched = [], [item]
        elif isinstance(item, tf.Variable):
            table = table_of_variable.get(item.name)
            variables, matched = ([], [table]) if table is not None else ([item], [])
        else:
            raise TypeError("vars_to_warm_start: a list holds strings (regular expressions), "
                            f"tf.Variables and SparseTables; got {item!r}")
        for variable in variables:
            dense.setdefault(variable.name, variable)
        for table in matched:
            picked.setdefault(table.name, table)
    return list(dense.values()), list(picked.values())


def _entry(reader, prefix, name, previous):
    """The directory entry of table `previous` (default `name`) in checkpoint `prefix`."""
    old = previous or name
    key = manifest.tensor_name(old)
    as_before = f" (named '{old}' there)" if previous else ""
    if not reader.has_tensor(key):
        held = sorted(filter(None, map(manifest.table_of_tensor,
                                       reader.get_variable_to_dtype_map())))
        raise ValueError(f"warm start: checkpoint '{prefix}' holds no table '{old}' for table "
                         f"'{name}'; the tables it holds: {held or 'none'}")
    entry = reader.get_tensor(key)
    entry = entry.decode() if isinstance(entry, bytes) else str(entry)
    directory = manifest.table_dir(prefix, entry)
    if not tf.io.gfile.exists(directory):
        raise ValueError(f"warm start: table '{name}'{as_before}: checkpoint '{prefix}' names "
                         f"table directory '{directory}', which does not exist")
    return entry


def _warm_start_table(state, table, prefix, entry):
    """Makes the table's initializer empty it (as before) and then load
    "<prefix>.mx_rec/<entry>"; rebuilt when a hash optimizer adds state."""
    graph = state.graph
    variable = state.variable
    # Keep the variable's own initializer for Saver restores (saveable.restore_op).
    state.own_initializers.setdefault(variable.name, variable.initializer)

    def build():
        with graph.as_default(), tf.compat.v1.name_scope(None), \
                graph.control_dependencies(None), tf.device(state.handle.device):
            restore = saveable.restore_op(table, state, tf.constant(prefix), tf.constant(entry),
                                          name=f"mx_rec/{table.name}/warm_start")
            tf_internals.set_initializer(variable, tf.group(restore,
                                                            name=f"mx_rec/{table.name}/init"))

    build()
    state.rebuild_warm_start = build
