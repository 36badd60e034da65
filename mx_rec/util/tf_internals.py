"""Every private TensorFlow API mx_rec uses, in one place, behind a version check.

mx_rec targets TensorFlow 2.15 in graph mode (tf.compat.v1). A few things it
does have no public API: editing one input of an existing op (automatic graph
modification reroutes consumers), rebuilding an iterator over a rewritten
dataset, and telling whether ops are being built inside control flow. They
live here and nowhere else, so a TensorFlow upgrade has one file to review,
and importing mx_rec on an untested TensorFlow fails here, clearly, instead of
deep inside a graph rewrite.
"""

import os

import tensorflow as tf
from tensorflow.python.data.ops import dataset_ops
from tensorflow.python.checkpoint import checkpoint_management
from tensorflow.python.framework import function
from tensorflow.python.training.saving import saveable_object, saveable_object_util

# TensorFlow releases whose internals below were checked (tests run on them).
SUPPORTED_TF = ("2.15.",)

if not tf.__version__.startswith(SUPPORTED_TF):
    raise ImportError(
        f"mx_rec supports TensorFlow {', '.join(v + 'x' for v in SUPPORTED_TF)}; found "
        f"{tf.__version__}. Install tensorflow-cpu==2.15.1 (scripts/setup.sh does).")


def control_flow_kind(graph=None):
    """Why ops built now would run conditionally: 'tf.cond / tf.while_loop' (v1
    control flow context), 'a tf.function or v2 control flow body' (FuncGraph),
    or None when they are built at the top level of a graph."""
    graph = graph or tf.compat.v1.get_default_graph()
    if getattr(graph, "building_function", False):
        return "a tf.function or tf.cond / tf.while_loop body (v2 control flow)"
    if graph._get_control_flow_context() is not None:  # pylint: disable=protected-access
        return "tf.cond / tf.while_loop (v1 control flow)"
    return None


def update_input(op, index, tensor):
    """Makes input `index` of graph op `op` read `tensor` (edits the C graph in place)."""
    op._update_input(index, tensor)  # pylint: disable=protected-access


def iterator_resource(iterator):
    """The resource tensor of a tf.compat.v1 iterator."""
    return iterator._iterator_resource  # pylint: disable=protected-access


def variant_dataset(variant, element_spec):
    """A Dataset object over an existing dataset variant tensor."""
    return dataset_ops._VariantDataset(variant, element_spec)  # pylint: disable=protected-access


def variant_tensor(dataset):
    """The variant tensor of a Dataset object."""
    return dataset._variant_tensor  # pylint: disable=protected-access


# Graph-mode function decorator (tf.function makes eager-style functions).
Defun = function.Defun


# ---- tf.compat.v1.train.Saver ---------------------------------------------------------
#
# A table is saved by a SaveableObject in the graph's SAVEABLE_OBJECTS, like a
# MutableHashTable, with two additions the public API does not offer:
#   - its save and restore ops need the checkpoint prefix the Saver is fed
#     (the table's files go beside the TF checkpoint): saver_prefix();
#   - its variables (device rows, optimizer state) are in GLOBAL_VARIABLES, so
#     that the variable initializers create them, but the Saver must not save
#     or restore them itself (slots mean nothing outside the session, and the
#     table's restore writes them): install_saver_hooks() drops them from
#     every Saver's list and adds their table's saveable instead; it also
#     removes a table's files when the Saver prunes a checkpoint.


def saver_prefix():
    """The checkpoint prefix (scalar string tensor) fed to the
    tf.compat.v1.train.Saver whose save or restore ops are being built now.

    BaseSaverBuilder._build_internal (TF 2.15) builds every save and restore op
    inside the name scope it opens ("save", "save_1", ...), right after the
    prefix placeholder "<scope>/Const"."""
    graph = tf.compat.v1.get_default_graph()
    scope = graph.get_name_scope()
    try:
        tensor = graph.get_tensor_by_name(f"{scope}/Const:0")
    except (KeyError, ValueError):
        tensor = None
    if tensor is None or tensor.op.type != "PlaceholderWithDefault" or \
            tensor.dtype != tf.string:
        raise RuntimeError(
            "mx_rec tables are saved and restored by tf.compat.v1.train.Saver (also inside "
            "MonitoredTrainingSession and Estimator); this saver is something else "
            f"(name scope '{scope}')")
    return tensor


class TableSaveable(saveable_object.SaveableObject):
    """A SaveableObject whose one string spec is made by `save_fn(prefix)` and
    restored by `restore_fn(prefix, value)`, both built when a Saver asks."""

    def __init__(self, op, name, save_fn, restore_fn, device=""):
        self._save_fn = save_fn
        self._restore_fn = restore_fn
        self._built = {}  # (graph, scope) -> save tensor: one save op per Saver
        spec = saveable_object.SaveSpec(self._save_tensor, "", name, dtype=tf.string,
                                        device=device)
        super().__init__(op, [spec], name)

    def _save_tensor(self):
        graph = tf.compat.v1.get_default_graph()
        key = (graph, graph.get_name_scope())
        if key not in self._built:
            self._built[key] = self._save_fn(saver_prefix())
        return self._built[key]

    def restore(self, restored_tensors, restored_shapes):
        del restored_shapes
        return self._restore_fn(saver_prefix(), restored_tensors[0])


def refuse_object_checkpoints(variable, message):
    """Makes TF2 object-based checkpoints (tf.train.Checkpoint, also
    tf.compat.v1.train.Checkpoint) raise ValueError(message) for `variable`
    instead of saving or restoring its value."""
    def refuse(*args, **kwargs):
        del args, kwargs
        raise ValueError(message)
    variable._serialize_to_tensors = refuse  # pylint: disable=protected-access
    variable._gather_saveables_for_checkpoint = refuse  # pylint: disable=protected-access


def install_saver_hooks(table_saveable_of, on_build, on_saved, on_remove):
    """Makes every tf.compat.v1.train.Saver built from now on save tables
    through their saveables, and remove their files when it prunes.

    table_saveable_of(obj): the TableSaveable of the table whose variable obj
      is, or None for any other object.
    on_build(saveables): called with the list a Saver is about to save.
    on_saved(prefix): called once a Saver recorded its new checkpoint at
      prefix in the directory's `checkpoint` file (the save is committed).
    on_remove(prefix): called after a Saver removed the TF checkpoint at
      prefix (keep_checkpoint_max)."""
    if getattr(saveable_object_util.validate_and_slice_inputs, "_mx_rec", False):
        return
    validate = saveable_object_util.validate_and_slice_inputs
    remove = checkpoint_management.remove_checkpoint
    record = checkpoint_management.update_checkpoint_state_internal

    def validate_and_slice_inputs(names_to_saveables):
        kept = {}
        tables = {}
        for name, obj in names_to_saveables.items():
            saveable = table_saveable_of(obj)
            if saveable is None:
                kept[name] = obj
            else:
                tables[saveable.name] = saveable
        for saveable in kept.values():
            if isinstance(saveable, TableSaveable):
                tables.pop(saveable.name, None)
        kept.update(tables)
        saveables = validate(kept)
        on_build(saveables)
        return saveables

    def remove_checkpoint(checkpoint_prefix, *args, **kwargs):
        remove(checkpoint_prefix, *args, **kwargs)
        on_remove(checkpoint_prefix)

    def update_checkpoint_state_internal(*args, **kwargs):
        record(*args, **kwargs)
        on_saved(kwargs.get("model_checkpoint_path", args[1] if len(args) > 1 else None))

    validate_and_slice_inputs._mx_rec = True
    saveable_object_util.validate_and_slice_inputs = validate_and_slice_inputs
    checkpoint_management.remove_checkpoint = remove_checkpoint
    checkpoint_management.update_checkpoint_state_internal = update_checkpoint_state_internal


# ---- warm start ----------------------------------------------------------------------


def set_initializer(variable, init_op):
    """Makes `init_op` what `variable.initializer` is from now on, so every
    global_variables_initializer() (and Scaffold init_op) built later runs it
    to initialize `variable`; initial_value stays as it was.

    This is how tf.compat.v1.train.init_from_checkpoint warm-starts a variable
    (checkpoint_utils._set_checkpoint_initializer sets the same attribute of
    the variable, TF 2.15); mx_rec.checkpoint.warm_start does it for a table's
    embedding variable, whose initializer then also loads the table."""
    variable._initializer_op = init_op  # pylint: disable=protected-access


def install_checkpoint_state_hook(choose):
    """Makes every reader of a checkpoint directory's state (tf.train.
    latest_checkpoint, MonitoredTrainingSession's and Estimator's restore,
    Estimator.evaluate / predict) see choose(checkpoint_dir, state) instead
    of the CheckpointState TF read (None when there is none)."""
    if getattr(checkpoint_management.get_checkpoint_state, "_mx_rec", False):
        return
    read = checkpoint_management.get_checkpoint_state

    def get_checkpoint_state(checkpoint_dir, latest_filename=None):
        return choose(checkpoint_dir, read(checkpoint_dir, latest_filename))

    get_checkpoint_state._mx_rec = True
    checkpoint_management.get_checkpoint_state = get_checkpoint_state


# ---- export for serving --------------------------------------------------------------


def install_export_hooks(exporting_for_estimator, check_graph):
    """Makes TF's SavedModel writers cooperate with mx_rec tables.

    exporting_for_estimator(checkpoint_path, export_dir): a context manager
      entered around each graph an Estimator builds for an export
      (export_saved_model, exporters): Estimator._add_meta_graph_for_mode (TF
      2.15 estimator) builds the serving graph, restores it from
      checkpoint_path and writes it with `builder` into its (temporary)
      export_dir.
    check_graph(graph): called by every SavedModelBuilder (simple_save,
      Estimator, mx_rec.export) before it writes a graph; raises to refuse
      one that would not serve (mx_rec training ops)."""
    from tensorflow.python.saved_model import builder_impl  # pylint: disable=import-outside-toplevel
    estimator_class = tf.estimator.Estimator
    if getattr(estimator_class._add_meta_graph_for_mode, "_mx_rec", False):
        return
    add_meta_graph_for_mode = estimator_class._add_meta_graph_for_mode

    def add_meta_graph_for_mode_in_context(self, builder, input_receiver_fn_map,
                                           checkpoint_path, *args, **kwargs):
        export_dir = os.fsdecode(builder._export_dir)  # pylint: disable=protected-access
        with exporting_for_estimator(checkpoint_path, export_dir):
            return add_meta_graph_for_mode(self, builder, input_receiver_fn_map,
                                           checkpoint_path, *args, **kwargs)

    add_meta_graph_for_mode_in_context._mx_rec = True
    estimator_class._add_meta_graph_for_mode = add_meta_graph_for_mode_in_context
    # SavedModelBuilder (tf.compat.v1.saved_model.Builder) and its base both
    # define both methods.
    for cls in (builder_impl._SavedModelBuilder, builder_impl.SavedModelBuilder):
        for method in ("add_meta_graph", "add_meta_graph_and_variables"):
            _check_before(cls, method, check_graph)


def _check_before(cls, method, check_graph):
    original = getattr(cls, method)

    def checked(self, *args, **kwargs):
        check_graph(tf.compat.v1.get_default_graph())
        return original(self, *args, **kwargs)

    setattr(cls, method, checked)
