"""Tier counters of tables as TF summaries (TensorBoard).

Each table reports keys per tier and cumulative hits, misses, loads
(host -> device), evictions (device -> host) and new keys, plus the device hit
rate. Counters are read from libasc when the summary op runs.
"""

import tensorflow as tf

from mx_rec.ops import asc_ops
from mx_rec.util.initialize import get_config

# Order of AscTableStats' output.
STAT_NAMES = ("device_keys", "host_keys", "hits", "misses", "loads", "evictions", "new_keys")


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
            looked_up = tf.maximum(stats[2] + stats[3], 1)
            hit_rate = tf.cast(stats[2], tf.float64) / tf.cast(looked_up, tf.float64)
            ops.append(tf.compat.v1.summary.scalar("device_hit_rate", hit_rate))
    return ops
