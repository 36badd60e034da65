"""How a table takes part in tf.compat.v1.train.Saver: its saveable.

Each table in a graph has one TableSaveable in the graph's SAVEABLE_OBJECTS,
so a plain Saver() (and the ones MonitoredTrainingSession and Estimator make)
saves and restores it with the dense variables, in the same save and restore
ops:

  save     AscTableSave writes the table's keys, rows and optimizer state from
           every tier, its admission records and clocks into a new directory
           "<prefix>.mx_rec/<entry>" beside the TF checkpoint <prefix>
           (format: src/cpp/include/asc/table_checkpoint.h), and the Saver
           stores `entry` in the TF checkpoint as "mx_rec/<table>/checkpoint".
           The TF checkpoint thus names the one table directory that belongs
           to it; a directory no TF checkpoint names (a save killed before TF
           committed) is never read.
  restore  runs the table variables' initializers, then AscTableRestore
           empties the table and loads that directory (checksums and schema
           checked; on error the table is left empty and the Saver's restore
           fails naming the table and the file).

The table's variables are in GLOBAL_VARIABLES (their initializers create the
table) but never in a Saver's own list: the hooks installed below (see
mx_rec.util.tf_internals) replace them by this saveable, and remove
"<prefix>.mx_rec" when the Saver prunes <prefix>.
"""

import weakref

import tensorflow as tf

from mx_rec.checkpoint import manifest, versions
from mx_rec.core.asc import admission
from mx_rec.ops import asc_ops
from mx_rec.util import initialize, tf_internals


def _global_step():
    step = tf.compat.v1.train.get_global_step()
    if step is None:
        return tf.constant(-1, tf.int64)
    return tf.cast(tf.convert_to_tensor(step), tf.int64)


def make_saveable(table, graph_table):
    """The TableSaveable of `table` in the graph of `graph_table`."""

    def states():
        slots = graph_table.state_slots
        return ([s.variable for s in slots.values()], [s.init_value for s in slots.values()],
                list(slots))

    def save(prefix):
        variables, inits, names = states()
        config = initialize.get_config() if initialize.is_initialized() else None
        incremental = bool(config and config.is_incremental_checkpoint)
        return asc_ops.table_save(graph_table.handle, graph_table.variable, variables, inits,
                                  names, prefix, _global_step(), incremental=incremental,
                                  full_every_secs=config.save_checkpoint_due_time
                                  if incremental else 0,
                                  name=f"mx_rec_save_{table.name}")

    def restore(prefix, entry):
        return restore_op(table, graph_table, prefix, entry, name=f"mx_rec_restore_{table.name}")

    return tf_internals.TableSaveable(graph_table.handle, manifest.tensor_name(table.name), save,
                                      restore, device=graph_table.handle.device)


def restore_op(table, graph_table, prefix, entry, name):
    """Op loading table directory "<prefix>.mx_rec/<entry>" into the table of
    `graph_table` (AscTableRestore), after the initializers of its variables
    (their own: a warm start's, which loads another checkpoint into the
    table, would only be undone here)."""
    slots = graph_table.state_slots
    variables = [s.variable for s in slots.values()]
    initializers = [graph_table.own_initializers.get(v.name, v.initializer)
                    for v in [graph_table.variable] + variables]
    with tf.control_dependencies(initializers):
        return asc_ops.table_restore(graph_table.handle, graph_table.variable, variables,
                                     [s.init_value for s in slots.values()], list(slots), prefix,
                                     entry, name=name, **admission.op_attrs(table.thresholds))


# graph -> {name of a table variable or of its graph element: its table's saveable}
_TAGGED = weakref.WeakKeyDictionary()


def tag_variable(variable, saveable):
    """Marks a table variable as saved by `saveable` (not by Savers directly)."""
    names = _TAGGED.setdefault(variable.graph, {})
    # A Saver's list holds the variable or, as op_list_to_dict converts it,
    # its graph element (the tensor reading it).
    names[variable.name] = saveable
    names[variable._graph_element.name] = saveable  # pylint: disable=protected-access
    tf_internals.refuse_object_checkpoints(
        variable, f"'{variable.name}' is a variable of mx_rec table "
        f"'{manifest.table_of_tensor(saveable.name)}'"
        ": its rows only mean something with the table's keys, which tf.train.Checkpoint "
        "cannot save; save mx_rec models with tf.compat.v1.train.Saver (also used by "
        "MonitoredTrainingSession and Estimator)")


def _saveable_of(obj):
    name = getattr(obj, "name", None)
    graph = getattr(obj, "graph", None)
    if not isinstance(name, str) or graph is None:
        return None
    return _TAGGED.get(graph, {}).get(name)


def _on_build(saveables):
    """Warns when a Saver of a graph with tables saves other things but not
    every table (e.g. Saver(tf.compat.v1.trainable_variables()))."""
    if not saveables:
        return
    graph = tf.compat.v1.get_default_graph()
    tables = {s.name for s in _TAGGED.get(graph, {}).values()}
    left_out = tables - {s.name for s in saveables}
    if left_out:
        names = sorted(manifest.table_of_tensor(name) for name in left_out)
        tf.compat.v1.logging.warning(
            "mx_rec: this Saver does not save table(s) %s (their variables are not in its "
            "var_list): a restore from its checkpoints leaves them empty. Use Saver() or list "
            "tf.compat.v1.global_variables().", ", ".join(names))


def _on_saved(prefix):
    from mx_rec.checkpoint import retention  # pylint: disable=import-outside-toplevel
    retention.sweep(prefix)


def _on_remove(prefix):
    from mx_rec.checkpoint import retention  # pylint: disable=import-outside-toplevel
    retention.prune(prefix)


tf_internals.install_saver_hooks(_saveable_of, _on_build, _on_saved, _on_remove)
tf_internals.install_checkpoint_state_hook(versions.chosen_state)
