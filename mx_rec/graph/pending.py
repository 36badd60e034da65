"""Lookups waiting for automatic graph modification.

sparse_lookup(..., modify_graph=True) builds its key work in-step (AscDedup
on the ids, a stand-in) and records it here; modify_graph_and_start_emb_cache()
moves that work into the dataset feeding the ids and reroutes the stand-in's
consumers to the dataset's new outputs.
"""

import dataclasses

import tensorflow as tf

from mx_rec.core.asc.key_batch import KeyBatch

# Graph collection of PendingLookup objects.
PENDING_LOOKUPS = "mx_rec_pending_lookups"


@dataclasses.dataclass
class PendingLookup:
    ids: tf.Tensor       # the ids tensor the user passed (an iterator output)
    keys: KeyBatch       # in-step stand-in computed from ids
    name: str            # the lookup's name scope, for messages
    modified: bool = False


def record(ids, keys, name):
    tf.compat.v1.add_to_collection(PENDING_LOOKUPS, PendingLookup(ids, keys, name))


def pending(graph):
    return [p for p in graph.get_collection(PENDING_LOOKUPS) if not p.modified]
