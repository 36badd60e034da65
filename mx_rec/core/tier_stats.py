"""Tier counters of tables as TF summaries (TensorBoard).

Each table reports keys per tier and cumulative hits, misses, loads
(host/SSD -> device), evictions (device -> host), new keys, SSD demotions,
reads, writes and bytes, plus the device hit rate. Counters are read from libasc when the summary op runs.
"""

import tensorflow as tf

from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops
from mx_rec.util.initialize import get_config

# Order of AscTableStats' output (asc::TableStats::Fields()).
STAT_NAMES = _libasc.STAT_NAMES


def add_summaries(tables=None, family="mx_rec"):
    """Adds scalar summaries `family/<table>/<counter>` (default: all live tables).

    They join tf.compat.v1.GraphKeys.SUMMARIES, so merge_all() and
    MonitoredTrainingSession pick them up. Returns the summary ops.
    """
    if tables is None:
        tables = [t for t in get_config().tables.values() if not t.released]
    ops = []
    for table in tables:
        # Absolute scope: tags stay family/table/counter even though the
        # table's variables already own that scope name.
        with tf.compat.v1.name_scope(f"{family}/{table.name}/"):
            stats = asc_ops.table_stats(table.name)
            for i, stat in enumerate(STAT_NAMES):
                ops.append(tf.compat.v1.summary.scalar(stat, stats[i]))
            hits, misses = stats[STAT_NAMES.index("hits")], stats[STAT_NAMES.index("misses")]
            hit_rate = (tf.cast(hits, tf.float64)
                        / tf.cast(tf.maximum(hits + misses, 1), tf.float64))
            ops.append(tf.compat.v1.summary.scalar("device_hit_rate", hit_rate))
    return ops
