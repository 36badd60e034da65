"""Automatic graph modification: zero-code-change mode.

A script keeps its tf.data input and changes only its lookups to
sparse_lookup(table, batch["ids"], modify_graph=True). Those lookups run their
stateless key work (AscDedup) in the step as a stand-in. Once the graph is
built, modify_graph_and_start_emb_cache() (or GraphModifierHook, for
Estimator and MonitoredTrainingSession) moves that work into tf.data, where
it runs ahead of the step like FeatureSpec mode:

  1. each pending lookup's ids (multi-hot ids: their values) are traced back
     to the iterator feeding them;
  2. each such iterator is replaced by one over the same dataset mapped to
     append the KeyBatch of every component a lookup reads (iterators.py);
     several lookups of one batch share that map;
  3. every consumer of a lookup's stand-in KeyBatch reads the new iterator's
     KeyBatch instead (surgery.py), so the stand-in no longer runs.

The result is bit-for-bit the in-step result: the same AscDedup op computes
the keys, only earlier.
"""

import collections

import tensorflow as tf

from mx_rec.core.asc.manager import start_asc_pipeline
from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.util import graph_records
from mx_rec.core.asc import pending
from mx_rec.graph import iterators, surgery
from mx_rec.util.validation import check_int


def modify_graph_and_start_emb_cache(graph=None, prefetch=2):
    """Moves the key work of every pending modify_graph lookup into tf.data.

    Call after the whole graph (model, optimizers, initializers) is built and
    before a session first runs it; a second call finds nothing pending and
    does nothing.

    Args:
      graph: the graph holding the lookups. None: the default graph, or, when
        that has none, the one graph that has lookups pending since init().
      prefetch: elements the keyed datasets prefetch (0: none).

    Returns:
      The number of lookups modified (0 when none was pending).

    Raises:
      ValueError: a lookup's ids do not come straight from a tf.data iterator
        (the message names the lookup); the graph is left unchanged.
      RuntimeError: the graph is finalized (MonitoredTrainingSession finalizes
        it: modify before creating it, or pass GraphModifierHook to it).
    """
    prefetch = check_int("prefetch", prefetch, 0)
    graph = _lookups_graph(graph)
    lookups = pending.pending(graph)
    if not lookups:
        return 0
    if graph.finalized:
        raise RuntimeError("modify_graph_and_start_emb_cache(): the graph is finalized; call it "
                           "before creating the (Monitored)Session, or pass GraphModifierHook() "
                           "to MonitoredTrainingSession / Estimator hooks")
    # Every lookup is checked before anything changes.
    sources = [(lookup, *iterators.iterator_output(lookup.ids, lookup.name))
               for lookup in lookups]
    by_iterator = collections.defaultdict(list)
    for lookup, output, decoder in sources:
        by_iterator[output.op.inputs[0].op].append((lookup, output, decoder))
    replaced = {}
    with graph.as_default(), graph.control_dependencies(None), \
            tf.compat.v1.name_scope("mx_rec_modify_graph"):
        for resource, entries in by_iterator.items():
            with tf.device(resource.device):
                components = dict(sorted({output.value_index: decoder
                                          for _, output, decoder in entries}.items()))
                keyed = iterators.replace(resource, components, prefetch)
            for lookup, output, _ in entries:
                new_keys = keyed.keys(output)
                for old, new in zip(lookup.keys.tensors(), new_keys.tensors()):
                    surgery.reroute(old, new)
                    replaced[old.ref()] = new
                lookup.keys = new_keys
                lookup.modified = True
    surgery.retarget_fields(graph_records.get(LOOKUP_RECORDS, graph), replaced)
    start_asc_pipeline()
    return len(lookups)


def _lookups_graph(graph):
    if graph is not None:
        if not isinstance(graph, tf.Graph):
            raise TypeError(f"graph must be a tf.Graph or None, got {graph!r}")
        return graph
    graph = tf.compat.v1.get_default_graph()
    if pending.pending(graph):
        return graph
    others = pending.graphs_with_pending()
    if len(others) > 1:
        raise ValueError(f"the default graph has no modify_graph lookups but {len(others)} other "
                         "graphs have: pass graph=... or call inside `with graph.as_default():`")
    return others[0] if others else graph


class GraphModifierHook(tf.compat.v1.train.SessionRunHook):
    """Runs modify_graph_and_start_emb_cache() in begin(), before the graph is
    finalized: for Estimator (estimator.train(input_fn, hooks=[...])) and
    MonitoredTrainingSession(hooks=[...]), whose graphs the script cannot
    reach between building and running.
    """

    def __init__(self, prefetch=2):
        self._prefetch = check_int("prefetch", prefetch, 0)
        self.modified = 0  # lookups modified by the last begin()

    def begin(self):
        self.modified = modify_graph_and_start_emb_cache(prefetch=self._prefetch)


__all__ = ["modify_graph_and_start_emb_cache", "GraphModifierHook"]
