"""Every private TensorFlow API mx_rec uses, in one place, behind a version check.

mx_rec targets TensorFlow 2.15 in graph mode (tf.compat.v1). A few things it
does have no public API: editing one input of an existing op (automatic graph
modification reroutes consumers), rebuilding an iterator over a rewritten
dataset, and telling whether ops are being built inside control flow. They
live here and nowhere else, so a TensorFlow upgrade has one file to review,
and importing mx_rec on an untested TensorFlow fails here, clearly, instead of
deep inside a graph rewrite.
"""

import tensorflow as tf
from tensorflow.python.data.ops import dataset_ops
from tensorflow.python.framework import function
from tensorflow.python.training.saving import saveable_object

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


class _Saveable(saveable_object.SaveableObject):
    def __init__(self, tensor, name, restore_fn):
        spec = saveable_object.SaveSpec(tensor, "", name)
        super().__init__(tensor, [spec], name)
        self._restore_fn = restore_fn

    def restore(self, restored_tensors, restored_shapes):
        del restored_shapes
        return self._restore_fn(restored_tensors[0])


def add_saveable(tensor, name, restore_fn):
    """Adds to the graph's SAVEABLE_OBJECTS (what a default tf.compat.v1.train.
    Saver saves) an entry saving `tensor` under `name`; restoring it runs the
    op restore_fn(restored tensor) returns."""
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS,
                                   _Saveable(tensor, name, restore_fn))
