"""The TF op library and the _libasc module share one libasc (one table registry).

Tables belong to the TF sessions that run them; _libasc.live_tables() lists
every table alive in the process, so it sees what the ops created, once per
session, until the session is closed.
"""

import gc

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops
from mx_rec.optimizers import adagrad


def live(name):
    gc.collect()  # closed sessions' tables go once their last reference does
    return _libasc.live_tables(name)


def check_matches(entry, table, sess):
    assert entry["name"] == table.name
    assert entry["size"] == table.size(sess)
    assert entry["capacity"] == table.capacity(sess)
    assert entry["stats"] == table.stats(sess)
    assert entry["memory_bytes"] > 0
    assert entry["ssd_directories"] == []


def test_a_sessions_table_is_visible_through_pybind(mx):
    table = create_table(tf.int64, 4, "shared", tf.compat.v1.ones_initializer(), 64)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    train = adagrad.create_hash_optimizer(0.1).minimize(tf.reduce_sum(sparse_lookup(table, ids)))
    assert live("shared") == [], "no table before a session runs the graph"
    first = tf.compat.v1.Session()
    first.run(tf.compat.v1.global_variables_initializer())
    first.run(train, {ids: [10, 20, 30, 20]})
    (entry,) = live("shared")
    check_matches(entry, table, first)
    assert entry["size"] == 3 and entry["capacity"] == 64
    assert entry["stats"]["new_keys"] == 3 and entry["stats"]["device_keys"] == 3
    first.run(train, {ids: [10]})
    # From the step after the optimizer attached its state, a row is the
    # embedding plus the Adagrad accumulator: 2 x dim floats.
    (entry,) = live("shared")
    assert entry["row_width"] == 2 * 4
    assert entry["stats"]["hits"] == 1

    # A second session of the same graph owns a second, separate table.
    second = tf.compat.v1.Session()
    second.run(tf.compat.v1.global_variables_initializer())
    second.run(train, {ids: [40]})
    entries = live("shared")
    assert sorted(e["size"] for e in entries) == [1, 3]
    for sess in (first, second):
        (mine,) = [e for e in entries if e["size"] == table.size(sess)]
        check_matches(mine, table, sess)
    # ...and the first session's table did not see the second's key.
    np.testing.assert_array_equal(table.locate([10, 40], first), [0, -1])
    np.testing.assert_array_equal(table.locate([10, 40], second), [-1, 0])

    # A table lives as long as its session.
    second.close()
    del second
    (entry,) = live("shared")
    check_matches(entry, table, first)
    first.close()
    del first
    assert live("shared") == []


def test_live_tables_filters_by_name(mx):
    tables = [create_table(tf.int64, 2, name, None, 8) for name in ("x1", "x2")]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        names = [e["name"] for e in live("")]
        assert {"x1", "x2"} <= set(names)
        for table in tables:
            (entry,) = live(table.name)
            check_matches(entry, table, sess)
        assert live("nope") == []
    assert live("x1") == [] and live("x2") == []


def test_dedup_op_matches_pybind_dedup():
    keys = np.random.RandomState(1).zipf(1.2, size=5000).astype(np.int64)
    unique, restore, counts, n_valid = asc_ops.dedup(tf.constant(keys))
    with tf.compat.v1.Session() as sess:
        u, r, c, n = sess.run([unique, restore, counts, n_valid])
    pu, pc, pr = _libasc.dedup(keys)
    np.testing.assert_array_equal(u, pu)
    np.testing.assert_array_equal(c, pc)
    np.testing.assert_array_equal(r, pr)
    np.testing.assert_array_equal(u[r], keys)
    tf_unique, _ = np.unique(keys, return_index=True)
    assert n == len(tf_unique) == len(u)


def test_pybind_errors_are_python_exceptions():
    options = _libasc.TableOptions()
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        options.validate()
    options.name, options.dim, options.device_vocabulary_size = "x", 4, 8
    options.validate()
    with pytest.raises(ValueError, match="key_dtype must be tf.int32 or tf.int64, got 'float'"):
        options.key_dtype = "float"
    with pytest.raises(ValueError, match="cache_policy must be 'LRU' or 'LFU', got 'MRU'"):
        options.cache_policy = "MRU"
    with pytest.raises(TypeError):
        options.dim = "four"
    options.dim = 0
    with pytest.raises(ValueError, match=r"dim must be in \[1, 8192\], got 0 \(table 'x'\)"):
        options.validate()
    with pytest.raises(ValueError, match="table options: malformed text"):
        _libasc.TableOptions.parse("dim")
    with pytest.raises(ValueError, match="table options: unknown field 'capacity'"):
        _libasc.TableOptions.parse("capacity=3;")
    # The text form round-trips every field (it is how options reach the kernels).
    options.dim, options.host_vocabulary_size, options.cache_policy = 4, 16, "lfu"
    parsed = _libasc.TableOptions.parse(options.serialize())
    assert parsed.serialize() == options.serialize()
    assert (parsed.name, parsed.dim, parsed.host_vocabulary_size, parsed.cache_policy) == \
        ("x", 4, 16, "LFU")
