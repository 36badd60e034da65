"""Tier counters of tables as TF summaries (TensorBoard).

Each table reports keys per tier and cumulative hits, misses, loads
(host/SSD -> device), evictions (device -> host), new keys, SSD demotions,
reads, writes and bytes, hot-set size and hits, plus the device hit rate and
the hot hit rate (hot_hits / (hits + misses): the share of looked-up keys found
pinned hot). Counters are read from the session's table when the summary op runs.
"""

import tensorflow as tf

from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops
from mx_rec.util.initialize import tables_in_graph

# Order of AscTableStats' output (asc::TableStats::Fields()).
STAT_NAMES = _libasc.STAT_NAMES


def hit_rates(stats):
    """{"device_hit_rate", "hot_hit_rate"} of a table.stats() dict (or of the
    difference of two, for a window): hits and hot_hits over looked-up keys
    (hits + misses); 0.0 before any lookup."""
    lookups = max(stats["hits"] + stats["misses"], 1)
    return {"device_hit_rate": stats["hits"] / lookups, "hot_hit_rate": stats["hot_hits"] / lookups}


def add_summaries(tables=None, family="mx_rec"):
    """Adds scalar summaries `family/<table>/<counter>` (default: every table of
    the default graph); each session reports its own tables.

    They join tf.compat.v1.GraphKeys.SUMMARIES, so merge_all() and
    MonitoredTrainingSession pick them up. Returns the summary ops.
    """
    if tables is None:
        tables = list(tables_in_graph(tf.compat.v1.get_default_graph()).values())
    ops = []
    for table in tables:
        # Absolute scope: tags stay family/table/counter even though the
        # table's variables already own that scope name.
        with tf.compat.v1.name_scope(f"{family}/{table.name}/"):
            stats = asc_ops.table_stats(table.handle)
            for i, stat in enumerate(STAT_NAMES):
                ops.append(tf.compat.v1.summary.scalar(stat, stats[i]))
            lookups = tf.cast(tf.maximum(stats[STAT_NAMES.index("hits")]
                                         + stats[STAT_NAMES.index("misses")], 1), tf.float64)
            for rate, count in (("device_hit_rate", "hits"), ("hot_hit_rate", "hot_hits")):
                ops.append(tf.compat.v1.summary.scalar(
                    rate, tf.cast(stats[STAT_NAMES.index(count)], tf.float64) / lookups))
    return ops
