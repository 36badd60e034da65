"""The tf.data iterator a lookup's ids come from, and its keyed replacement.

A lookup built with sparse_lookup(..., modify_graph=True) reads one output of
an iterator's get_next op. To move its key work ahead of the step, the
iterator is replaced by one over the same dataset, mapped to append to each
element the KeyBatch tensors of the components the lookups read. The old
dataset is reached through its variant tensor:

  make_initializable_iterator (also Iterator.from_structure + make_initializer,
    and Estimator's input iterator): the MakeIterator ops, the iterator's
    initializers, take the variant as input. They are rewired to the keyed
    dataset and the new iterator, so running the user's `iterator.initializer`
    (once, per eval epoch, with its feeds) initializes the new iterator.
  make_one_shot_iterator: its dataset_factory function makes the variant; the
    new one-shot iterator's factory calls that function and maps the result.

The old get_next ops are pointed at a retired iterator whose only element
fails with a message saying what happened: a script that fetches their
outputs directly fails loudly instead of reading a second, out-of-step copy
of the data. (Tensors computed from the batch before the modification, even
tf.identity(batch["label"]), are rerouted like every other consumer.)

Multi-hot ids (a SparseTensor or RaggedTensor component) reach the step as
one variant output of get_next, decoded by a DeserializeSparse or
RaggedTensorFromVariant op; their lookup reads the decoded values. The keyed
dataset decodes the component the same way before its key work.
"""

import dataclasses
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from mx_rec.core.asc.key_batch import KeyBatch, dedup_keys
from mx_rec.graph import surgery
from mx_rec.util import tf_internals

_PASS_THROUGH = ("Identity", "IdentityN", "Snapshot", "StopGradient")
_GET_NEXT = {"IteratorGetNext": tf.raw_ops.IteratorGetNext,
             "IteratorGetNextSync": tf.raw_ops.IteratorGetNextSync}
_INITIALIZABLE = ("IteratorV2", "Iterator")
_ONE_SHOT = "OneShotIterator"
_N_KEYS = len(dataclasses.fields(KeyBatch))
_FALLBACK = ("or use FeatureSpec mode: dataset.map(get_asc_insert_func(specs)) and "
             "sparse_lookup(table, spec, batch=batch)")
# Ops decoding a multi-hot component -> the index of their values output.
_MULTI_HOT_VALUES = {"DeserializeSparse": 1, "RaggedTensorFromVariant": -1}

# A function from a get_next output (in the dataset's element form) to the
# 1-D ids whose keys a lookup reads; None: the output is the ids.
Decoder = Optional[Callable[[tf.Tensor], tf.Tensor]]


def iterator_output(ids, lookup_name):
    """(get_next output, Decoder) the ids come from (looking through
    Identity-like ops, and the decoding of multi-hot ids' values).

    Raises ValueError, naming the lookup, when the ids are computed from
    something else or the iterator is of a kind that cannot be replaced.
    """
    tensor, decoder = _through_identities(ids), None
    values_index = _MULTI_HOT_VALUES.get(tensor.op.type)
    if values_index is not None and \
            tensor.value_index == values_index % len(tensor.op.outputs):
        decoder = _values_decoder(tensor.op)
        tensor = _through_identities(tensor.op.inputs[0])
    if tensor.op.type not in _GET_NEXT:
        raise ValueError(
            f"lookup '{lookup_name}': modify_graph=True needs ids read straight from a tf.data "
            f"iterator (batch = iterator.get_next(); batch['ids']), but they come from "
            f"{tensor.op.type} op '{tensor.op.name}'. Pass the iterator's output itself, "
            f"{_FALLBACK}")
    resource = tensor.op.inputs[0].op
    if resource.type not in _INITIALIZABLE + (_ONE_SHOT,):
        raise ValueError(
            f"lookup '{lookup_name}': its ids come from iterator '{resource.name}' "
            f"({resource.type}); automatic graph modification handles iterators from "
            "make_initializable_iterator, make_one_shot_iterator and Estimator input_fns. "
            f"Use one of those {_FALLBACK}")
    _check_replaceable(resource, lookup_name)
    return tensor, decoder


def _through_identities(tensor):
    while tensor.op.type in _PASS_THROUGH:
        tensor = tensor.op.inputs[tensor.value_index if tensor.op.type == "IdentityN" else 0]
    return tensor


def _values_decoder(op):
    """The Decoder repeating multi-hot decoding op `op` (its attributes)."""
    if op.type == "DeserializeSparse":
        dtype = op.get_attr("dtype")
        return lambda variant: tf.raw_ops.DeserializeSparse(serialized_sparse=variant,
                                                            dtype=dtype).sparse_values
    attrs = {name: op.get_attr(name) for name in
             ("input_ragged_rank", "output_ragged_rank", "Tvalues", "Tsplits")}
    return lambda variant: tf.raw_ops.RaggedTensorFromVariant(
        encoded_ragged=variant, **attrs).output_dense_values


def _check_replaceable(resource, lookup_name):
    for op in resource.outputs[0].consumers():
        if op.type not in _GET_NEXT and "output_types" in op.node_def.attr:
            raise ValueError(
                f"lookup '{lookup_name}': iterator '{resource.name}' is also read by "
                f"{op.type} op '{op.name}', which cannot move to an iterator with more "
                f"components; {_FALLBACK}")
    if resource.type in _INITIALIZABLE and not _initializers(resource):
        raise ValueError(
            f"lookup '{lookup_name}': iterator '{resource.name}' has no initializer "
            "(MakeIterator) in this graph, so its dataset is unknown. Build every "
            "modify_graph lookup before calling modify_graph_and_start_emb_cache(), "
            f"{_FALLBACK}")


def _initializers(resource):
    return [op for op in resource.outputs[0].consumers() if op.type == "MakeIterator"]


@dataclasses.dataclass
class KeyedIterator:
    """What replaced one iterator.

    get_next maps each old get_next op to its replacement, whose first
    n_flat outputs stand for the old op's and whose further outputs are
    one KeyBatch (unique, restore, counts, n_valid) per entry of components,
    computed from that flat component (decoded, for multi-hot ids).
    """

    get_next: Dict[tf.Operation, tf.Operation]
    components: List[int]
    n_flat: int

    def keys(self, old_output):
        """The new KeyBatch of an old get_next output."""
        outputs = self.get_next[old_output.op].outputs
        start = self.n_flat + _N_KEYS * self.components.index(old_output.value_index)
        return KeyBatch(*outputs[start:start + _N_KEYS])


def replace(resource, components, prefetch):
    """Replaces iterator op `resource` by one that also yields the KeyBatch of
    each flat component in `components` ({index: Decoder}, in order); returns
    a KeyedIterator.

    Every consumer of the old get_next outputs reads the new ones afterwards.
    Call under the graph's as_default().
    """
    types = list(resource.get_attr("output_types"))
    shapes = [tf.TensorShape(s) for s in resource.get_attr("output_shapes")]
    spec = tuple(tf.TensorSpec(s, t) for s, t in zip(shapes, types))

    def keyed(variant):
        return _keyed_dataset(variant, spec, components, prefetch)

    if resource.type == _ONE_SHOT:
        new_resource, new_spec = _one_shot(resource, keyed)
    else:
        new_resource, new_spec = _initializable(resource, keyed)
    old_get_next = [op for op in resource.outputs[0].consumers() if op.type in _GET_NEXT]
    surgery.reroute(resource.outputs[0], new_resource, skip=old_get_next)
    retired = _retired_iterator(spec)
    new_types = [s.dtype for s in new_spec]
    new_shapes = [s.shape for s in new_spec]
    replaced = {}
    for old in old_get_next:
        new = _GET_NEXT[old.type](iterator=new_resource, output_types=new_types,
                                  output_shapes=new_shapes)[0].op
        for old_output, new_output in zip(old.outputs, new.outputs):
            surgery.reroute(old_output, new_output)
        surgery.set_input(old, 0, retired)
        replaced[old] = new
    return KeyedIterator(replaced, list(components), len(types))


_RETIRED_MESSAGE = (
    "this tensor is an output of a tf.data get_next op that "
    "modify_graph_and_start_emb_cache() replaced: the batch now comes from the keyed iterator. "
    "Fetch a tensor computed from the batch before the call instead (for example "
    "tf.identity(batch['label']) built with the model); it was rerouted.")


def _retired_iterator(spec):
    """A one-shot iterator of spec's types whose first element fails with
    _RETIRED_MESSAGE; for component types it cannot fake (e.g. variant), one
    that nothing initializes (TF's own "not initialized" error)."""
    if not all(s.dtype.is_numpy_compatible for s in spec):
        return tf.raw_ops.IteratorV2(
            shared_name="", container="", output_types=[s.dtype for s in spec],
            output_shapes=[s.shape for s in spec], name="retired_iterator")

    @tf.autograph.experimental.do_not_convert
    def fail(_):
        check = tf.debugging.Assert(False, [_RETIRED_MESSAGE])
        with tf.control_dependencies([check]):
            return tuple(tf.fill([d or 0 for d in (s.shape.as_list() if s.shape.rank is not None
                                                    else [])],
                                 tf.constant("" if s.dtype == tf.string else 0, s.dtype))
                         for s in spec)

    with tf.compat.v1.name_scope("retired"):
        dataset = tf.data.Dataset.range(1).map(fail)
        return tf_internals.iterator_resource(tf.compat.v1.data.make_one_shot_iterator(dataset))


def _keyed_dataset(variant, spec, components, prefetch):
    """The dataset behind `variant`, each element followed by the KeyBatches."""

    @tf.autograph.experimental.do_not_convert
    def add_keys(*flat):
        keys = []
        for index, decoder in components.items():
            ids = flat[index] if decoder is None else decoder(flat[index])
            keys += dedup_keys(ids).tensors()
        return flat + tuple(keys)

    dataset = tf_internals.variant_dataset(variant, spec)
    dataset = dataset.map(add_keys)
    return dataset.prefetch(prefetch) if prefetch else dataset


def _initializable(resource, keyed):
    """A new iterator; the old one's initializers now initialize it."""
    initializers = _initializers(resource)
    datasets = [keyed(op.inputs[0]) for op in initializers]
    new_spec = datasets[0].element_spec
    new_resource = tf.raw_ops.IteratorV2(
        container=resource.get_attr("container"),
        shared_name=_renamed(resource.get_attr("shared_name")),
        output_types=[s.dtype for s in new_spec], output_shapes=[s.shape for s in new_spec],
        name="keyed_iterator")
    for op, dataset in zip(initializers, datasets):
        surgery.set_input(op, 0, tf_internals.variant_tensor(dataset))
    return new_resource, new_spec


def _one_shot(resource, keyed):
    """A new one-shot iterator whose factory maps the old factory's dataset."""
    old_factory = resource.get_attr("dataset_factory")
    built = {}

    @tf_internals.Defun()
    def keyed_factory():
        (variant,) = tf.raw_ops.StatefulPartitionedCall(
            args=[], Tout=[tf.variant], f=old_factory)
        dataset = keyed(variant)
        built["spec"] = dataset.element_spec
        return tf_internals.variant_tensor(dataset)

    keyed_factory.add_to_graph(tf.compat.v1.get_default_graph())
    new_spec = built["spec"]
    new_resource = tf.raw_ops.OneShotIterator(
        dataset_factory=keyed_factory, container=resource.get_attr("container"),
        shared_name=_renamed(resource.get_attr("shared_name")),
        output_types=[s.dtype for s in new_spec], output_shapes=[s.shape for s in new_spec],
        name="keyed_iterator")
    return new_resource, new_spec


def _renamed(shared_name):
    name = shared_name.decode() if isinstance(shared_name, bytes) else shared_name
    return f"{name}/mx_rec_keyed" if name else ""
