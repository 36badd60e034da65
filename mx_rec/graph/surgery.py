"""Graph surgery: point the consumers of one tensor at another.

TensorFlow has no public API to rewire an existing graph;
tf_internals.update_input edits one edge of the underlying C graph, keeping
the consumer op, its name and everything that refers to it (fetches,
collections, control dependencies). It must run before a session first runs
the graph: sessions do not see edges changed afterwards.
"""

import tensorflow as tf

from mx_rec.util import tf_internals


def same_tensor(a, b):
    return a.op is b.op and a.value_index == b.value_index


def set_input(op, index, tensor):
    """Makes input `index` of `op` read `tensor` (same dtype)."""
    tf_internals.update_input(op, index, tensor)


def reroute(old, new, skip=()):
    """Makes every consumer of `old` except the ops in `skip` read `new`.

    Returns the number of edges moved. `new` must have old's dtype.
    """
    if old.dtype != new.dtype:
        raise TypeError(f"cannot reroute {old.name} ({old.dtype.name}) to {new.name} "
                        f"({new.dtype.name})")
    moved = 0
    for op in list(old.consumers()):
        if op in skip:
            continue
        for index, tensor in enumerate(op.inputs):
            if same_tensor(tensor, old):
                set_input(op, index, new)
                moved += 1
    return moved


def consumers(tensors):
    """Ops reading any of `tensors`."""
    return {op for t in tensors for op in t.consumers()}


def retarget_fields(objects, mapping):
    """Replaces tensor-valued attributes of dataclass `objects` found in mapping.

    mapping: {tensor.ref(): replacement}. Keeps Python-side records (such as
    the LookupRecords hash optimizers read) in step with the rerouted graph,
    so ops built from them later do not revive the replaced tensors.
    """
    for obj in objects:
        for name, value in list(vars(obj).items()):
            if isinstance(value, tf.Tensor) and value.ref() in mapping:
                setattr(obj, name, mapping[value.ref()])
