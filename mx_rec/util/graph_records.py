"""Per-graph lists of mx_rec's Python objects (lookup records, pending lookups).

They live beside the graph, not in its collections: TensorFlow writes every
collection into each checkpoint's meta graph and warns about objects it
cannot serialise. A graph that is freed takes its lists with it.
"""

import weakref

import tensorflow as tf

_LISTS = weakref.WeakKeyDictionary()  # graph -> {kind: [objects]}


def add(kind, obj, graph=None):
    """Appends obj to the `kind` list of `graph` (default: the default graph)."""
    graph = graph or tf.compat.v1.get_default_graph()
    _LISTS.setdefault(graph, {}).setdefault(kind, []).append(obj)


def get(kind, graph=None):
    """The `kind` list of `graph` (default: the default graph), a copy."""
    graph = graph or tf.compat.v1.get_default_graph()
    return list(_LISTS.get(graph, {}).get(kind, []))
