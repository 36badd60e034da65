"""Lookups waiting for automatic graph modification.

sparse_lookup(..., modify_graph=True) builds its key work in-step (AscDedup
on the ids, a stand-in) and records it here; modify_graph_and_start_emb_cache()
moves that work into the dataset feeding the ids and reroutes the stand-in's
consumers to the dataset's new outputs.
"""

import dataclasses
import weakref

import tensorflow as tf

from mx_rec.core.asc.key_batch import KeyBatch
from mx_rec.util import graph_records, initialize

# Per-graph list (mx_rec.util.graph_records) of PendingLookup objects.
PENDING_LOOKUPS = "mx_rec_pending_lookups"

# graph -> the init() configuration its lookups were recorded under, so the
# modifier can find the lookups' graph when it is not the default graph
# without mistaking a graph left over from an earlier init() for it.
_GRAPHS = weakref.WeakKeyDictionary()


@dataclasses.dataclass
class PendingLookup:
    ids: tf.Tensor       # the ids the user passed (an iterator output), or their values
    keys: KeyBatch       # in-step stand-in computed from ids; the dataset's after modification
    name: str            # the lookup's name scope, for messages
    modified: bool = False


def record(ids, keys, name):
    graph_records.add(PENDING_LOOKUPS, PendingLookup(ids, keys, name), ids.graph)
    _GRAPHS[ids.graph] = initialize.get_config()


def pending(graph):
    return [p for p in graph_records.get(PENDING_LOOKUPS, graph) if not p.modified]


def graphs_with_pending():
    """Live graphs with lookups pending since the current init()."""
    if not initialize.is_initialized():
        return []
    config = initialize.get_config()
    return [g for g, c in list(_GRAPHS.items()) if c is config and pending(g)]
