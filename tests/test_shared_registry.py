"""The TF op library and the _libasc module see one table registry."""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.libasc import _libasc
from mx_rec.ops import asc_ops


@pytest.fixture
def raw_table():
    _libasc.create_table(name="shared", key_type="int64", dim=4, device_capacity=64)
    yield "shared"
    _libasc.drop_table("shared")


def test_table_created_through_pybind_is_used_by_ops(raw_table):
    slots, is_new, _ = _libasc.find_or_insert(raw_table, np.array([10, 20, 30], np.int64))
    assert list(is_new) == [True, True, True]
    keys = tf.constant([20, 40, 10], tf.int64)
    op_slots, op_new, capacity = asc_ops.find_or_insert(raw_table, keys)
    found = asc_ops.find(raw_table, tf.constant([30, 50], tf.int64))
    with tf.compat.v1.Session() as sess:
        s, n, c, f = sess.run([op_slots, op_new, capacity, found])
    assert s[0] == slots[1] and s[2] == slots[0]
    assert list(n) == [False, True, False]
    assert c == 64
    assert f[0] == slots[2] and f[1] == -1
    # ...and the op's insert is visible through pybind.
    np.testing.assert_array_equal(_libasc.find(raw_table, np.array([40], np.int64)), [s[1]])
    assert _libasc.table_size(raw_table) == 4


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


def test_pybind_errors_are_python_exceptions(raw_table):
    with pytest.raises(ValueError, match="already exists"):
        _libasc.create_table(name=raw_table, key_type="int64", dim=4, device_capacity=8)
    with pytest.raises(ValueError, match="key_type must be 'int32' or 'int64'"):
        _libasc.create_table(name="x", key_type="float", dim=4, device_capacity=8)
    with pytest.raises(KeyError, match="no libasc table named 'nope'"):
        _libasc.table_size("nope")
    with pytest.raises(RuntimeError, match="full"):
        _libasc.find_or_insert(raw_table, np.arange(1000, 1100, dtype=np.int64))
