"""The part of a TF1 MetaGraphDef that some of its tensors need.

A tensor needs every node it is computed from (data and control inputs). Each
resource among those nodes (a variable, a hash table) also needs the ops that
give it its value: the initializer, initial value and snapshot of its
VariableDef, its table initializer, its leaf of the SavedModel main op (or
legacy init op). Those ops bring their own inputs (an asset file name, another
resource), and so on until nothing new comes in. Nothing else is kept: not the
Saver's ops, not the other outputs' towers.
"""

import tensorflow as tf
from tensorflow.core.framework import variable_pb2

GraphKeys = tf.compat.v1.GraphKeys

# Collections whose entries are VariableDef protos.
VARIABLE_COLLECTIONS = (GraphKeys.GLOBAL_VARIABLES, GraphKeys.LOCAL_VARIABLES,
                        GraphKeys.TRAINABLE_VARIABLES, GraphKeys.MODEL_VARIABLES,
                        GraphKeys.METRIC_VARIABLES, GraphKeys.MOVING_AVERAGE_VARIABLES,
                        GraphKeys.GLOBAL_STEP)
# Collections naming the SavedModel's init op (a tree of NoOps over initializers).
INIT_OP_COLLECTIONS = (tf.compat.v1.saved_model.MAIN_OP_KEY,
                       tf.compat.v1.saved_model.LEGACY_INIT_OP_KEY)
# Collections a split model gets anew from its SavedModel builder.
REBUILT_COLLECTIONS = INIT_OP_COLLECTIONS + (tf.compat.v1.saved_model.ASSETS_KEY,
                                             GraphKeys.SAVERS)


def node_name(name):
    """'^x', 'x:0' and 'x' all name node 'x'."""
    return name.lstrip("^").split(":")[0]


def _inputs(nodes, name):
    return [node_name(i) for i in nodes[name].input]


def closure(nodes, roots):
    """Names of roots and every node they depend on (data and control inputs)."""
    seen, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        if name not in nodes:
            raise ValueError(f"the graph has no node '{name}'")
        seen.add(name)
        stack.extend(_inputs(nodes, name))
    return seen


def _resource_of(nodes, name):
    """The node producing the first input of `name`, through Identity ops:
    the resource an assign or table initializer writes."""
    inputs = _inputs(nodes, name)
    target = inputs[0] if inputs else None
    while target is not None and nodes[target].op == "Identity":
        target = _inputs(nodes, target)[0]
    return target


def variable_defs(meta_graph):
    """{collection key: [VariableDef]} of the variable collections."""
    found = {}
    for key in VARIABLE_COLLECTIONS:
        if key in meta_graph.collection_def:
            found[key] = [variable_pb2.VariableDef.FromString(b)
                          for b in meta_graph.collection_def[key].bytes_list.value]
    return found


def init_leaves(meta_graph):
    """The ops the SavedModel's init op runs, below its tree of NoOps."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    stack = [node_name(v) for key in INIT_OP_COLLECTIONS if key in meta_graph.collection_def
             for v in meta_graph.collection_def[key].node_list.value]
    leaves, seen = [], set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if nodes[name].op == "NoOp":
            stack.extend(_inputs(nodes, name))
        else:
            leaves.append(name)
    return sorted(leaves)


def _initializers(meta_graph, nodes):
    """[(resource node, [op names that give it its value])]."""
    found = []
    for defs in variable_defs(meta_graph).values():
        for var in defs:
            ops = [var.initializer_name, var.snapshot_name, var.initial_value_name]
            found.append((node_name(var.variable_name), [node_name(o) for o in ops if o]))
    table_inits = meta_graph.collection_def.get(GraphKeys.TABLE_INITIALIZERS)
    ops = list(table_inits.node_list.value) if table_inits else []
    for name in [node_name(o) for o in ops] + init_leaves(meta_graph):
        found.append((_resource_of(nodes, name), [name]))
    return found


def needed_nodes(meta_graph, tensor_names):
    """Names of the nodes the tensors need, initializers of their resources included."""
    nodes = {n.name: n for n in meta_graph.graph_def.node}
    initializers = _initializers(meta_graph, nodes)
    keep = closure(nodes, [node_name(t) for t in tensor_names])
    while True:
        more = [op for resource, ops in initializers if resource in keep
                for op in ops if op not in keep]
        if not more:
            return keep
        keep |= closure(nodes, more)


def _used_functions(graph_def, nodes):
    """Names of the library functions the nodes call, directly or through other functions."""
    functions = {f.signature.name: f for f in graph_def.library.function}

    def called(node_defs):
        for node in node_defs:
            if node.op in functions:
                yield node.op
            for attr in node.attr.values():
                if attr.HasField("func"):
                    yield attr.func.name
                yield from (f.name for f in attr.list.func)

    used, stack = set(), list(called(nodes))
    while stack:
        name = stack.pop()
        if name in used or name not in functions:
            continue
        used.add(name)
        stack.extend(called(functions[name].node_def))
    return used


def prune(meta_graph, keep):
    """A copy of meta_graph with only the nodes in keep (in their order), the
    functions they call, and the collection entries naming them. Signatures,
    the Saver, asset records and init op collections are left out: the
    builder writing the pruned graph makes them anew."""
    pruned = tf.compat.v1.MetaGraphDef()
    pruned.meta_info_def.CopyFrom(meta_graph.meta_info_def)
    graph_def = meta_graph.graph_def
    pruned.graph_def.versions.CopyFrom(graph_def.versions)
    kept_nodes = [n for n in graph_def.node if n.name in keep]
    pruned.graph_def.node.extend(kept_nodes)
    used = _used_functions(graph_def, kept_nodes)
    pruned.graph_def.library.function.extend(
        f for f in graph_def.library.function if f.signature.name in used)
    pruned.graph_def.library.gradient.extend(
        g for g in graph_def.library.gradient if g.function_name in used)
    defs = variable_defs(meta_graph)
    for key, collection in meta_graph.collection_def.items():
        if key in REBUILT_COLLECTIONS:
            continue
        if key in defs:
            kept = [v.SerializeToString() for v in defs[key]
                    if node_name(v.variable_name) in keep]
            if kept:
                pruned.collection_def[key].bytes_list.value.extend(kept)
        elif collection.HasField("node_list"):
            kept = [v for v in collection.node_list.value if node_name(v) in keep]
            if kept:
                pruned.collection_def[key].node_list.value.extend(kept)
        elif collection.WhichOneof("kind") in ("int64_list", "float_list"):
            # Numbers name no node. Other proto lists (control flow contexts,
            # queue runners) may name dropped nodes: left out.
            pruned.collection_def[key].CopyFrom(collection)
    return pruned
