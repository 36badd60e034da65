"""Each bad input raises an exception naming the argument and its allowed range,
and leaves the tables that already exist intact."""

import gc

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import adam_w, gradient_descent, momentum, rms_prop
from mx_rec.util.initialize import init, terminate_config_initializer


def train_op(emb):
    """An SGD step on sum(emb): a training lookup's new keys persist only when
    its step also updates the table."""
    return gradient_descent.create_hash_optimizer(0.1).minimize(tf.reduce_sum(emb))


@pytest.fixture
def existing():
    """An initialised mx_rec with one trained-on table holding keys 1..5."""
    init()
    table = create_table(tf.int64, 4, "existing", tf.compat.v1.ones_initializer(), 16)
    emb = sparse_lookup(table, tf.constant([1, 2, 3, 4, 5], tf.int64))
    train = train_op(emb)
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    sess.run(train)
    before = sess.run(emb)
    np.testing.assert_allclose(before, np.full([5, 4], 0.9))  # ones, one SGD step
    assert table.size(sess) == 5
    yield table, sess, emb, before
    sess.close()


def assert_intact(existing):
    table, sess, emb, before = existing
    assert table.size(sess) == 5
    np.testing.assert_array_equal(sess.run(emb), before)


@pytest.mark.parametrize("key_dtype", [tf.float32, tf.string, "int16", None])
def test_wrong_key_dtype(existing, key_dtype):
    with pytest.raises(TypeError, match="key_dtype must be tf.int32 or tf.int64"):
        create_table(key_dtype, 4, "t", None, 10)
    assert_intact(existing)


@pytest.mark.parametrize("dim", [0, -3, 8193])
def test_dim_out_of_range(existing, dim):
    with pytest.raises(ValueError, match=r"dim must be in \[1, 8192\]"):
        create_table(tf.int64, dim, "t", None, 10)
    assert_intact(existing)


def test_dim_not_an_integer(existing):
    with pytest.raises(TypeError, match="dim must be an integer"):
        create_table(tf.int64, 4.5, "t", None, 10)


@pytest.mark.parametrize("size", [0, -1])
def test_device_vocabulary_size_not_positive(existing, size):
    with pytest.raises(ValueError, match=r"device_vocabulary_size must be in \[1, "):
        create_table(tf.int64, 4, "t", None, size)
    assert_intact(existing)


def test_duplicate_table_name(existing):
    with pytest.raises(ValueError, match="another table named 'existing' is already used in "
                                         "this graph"):
        create_table(tf.int64, 8, "existing", None, 100)
    assert_intact(existing)
    assert existing[0].dim == 4
    with tf.Graph().as_default():  # names are unique per graph only
        assert create_table(tf.int64, 8, "existing", None, 100).dim == 8
    assert_intact(existing)


def test_float_ids(existing):
    with pytest.raises(TypeError, match="ids must be an int32 or int64 tensor or a FeatureSpec, got float32"):
        sparse_lookup(existing[0], tf.constant([1.0, 2.0]))
    assert_intact(existing)


def test_int32_table_fed_int64_ids_beyond_range(existing):
    small = create_table(tf.int32, 4, "small", None, 16)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(small, ids)
    train = train_op(emb)
    sess = existing[1]
    sess.run(tf.compat.v1.variables_initializer([small.variable]))
    sess.run(train, {ids: [7, 2**31 - 1, -2**31]})  # in range: fine
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)int32.*small.*4294967296"):
        sess.run(train, {ids: [8, 2**32]})
    assert small.size(sess) == 3, "a failed batch must insert nothing"
    np.testing.assert_array_equal(small.locate([7, 2**31 - 1, -2**31, 8], sess), [0, 0, 0, -1])
    assert_intact(existing)


def test_send_count_overflow_in_static_mode():
    init(use_dynamic=False)
    table = create_table(tf.int64, 4, "t", None, 100)
    with pytest.raises(ValueError, match="send_count is required in static shape mode"):
        sparse_lookup(table, tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"send_count must be in \[1, "):
        sparse_lookup(table, tf.constant([1, 2]), send_count=0)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids, send_count=3)
    train = train_op(emb)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        assert sess.run([emb, train], {ids: [1, 2, 2, 3]})[0].shape == (4, 4)
        with pytest.raises(tf.errors.InvalidArgumentError, match="send_count=3 is smaller than the 4"):
            sess.run([emb, train], {ids: [1, 2, 3, 4]})
        assert table.size(sess) == 3


def test_capacity_overflow_without_expansion(existing):
    table, sess, emb, before = existing
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    more = sparse_lookup(table, ids)
    train = train_op(more)
    sess.run(train, {ids: np.arange(100, 111)})  # 5 + 11 = 16 rows: exactly full
    assert table.size(sess) == 16
    with pytest.raises(tf.errors.ResourceExhaustedError,
                       match=r"table 'existing' is full: device_vocabulary_size=16"):
        sess.run(train, {ids: [1, 2, 999]})
    assert table.size(sess) == 16, "the failed batch must not insert its other keys"
    assert table.locate([999], sess)[0] == -1
    np.testing.assert_array_equal(sess.run(emb), before)


def test_lookup_after_terminate(existing):
    table, sess, emb, before = existing
    terminate_config_initializer()
    with pytest.raises(RuntimeError, match="not initialised"):
        sparse_lookup(table, tf.constant([1], tf.int64))
    init()
    with pytest.raises(RuntimeError, match="table 'existing' was released"):
        sparse_lookup(table, tf.constant([1], tf.int64))
    # The table's state belongs to the session: terminate drops nothing, and
    # the graph built before keeps working there.
    np.testing.assert_array_equal(sess.run(emb), before)
    gc.collect()
    live = _libasc.live_tables("existing")
    assert [t["size"] for t in live] == [5]


def test_create_table_before_init():
    with pytest.raises(RuntimeError, match=r"call mx_rec.util.initialize.init\(\) first"):
        create_table(tf.int64, 4, "t", None, 10)


def test_init_twice():
    init()
    with pytest.raises(RuntimeError, match="already initialised"):
        init()


@pytest.mark.parametrize("kwargs, match", [
    (dict(host_vocabulary_size=-1), r"host_vocabulary_size must be in \[0, "),
    (dict(ssd_vocabulary_size=-5), r"ssd_vocabulary_size must be in \[0, "),
    (dict(ssd_vocabulary_size=5), r"ssd_vocabulary_size > 0 needs a host tier"),
    (dict(host_vocabulary_size=8, ssd_vocabulary_size=5),
     "ssd_data_path must name at least one directory when ssd_vocabulary_size > 0"),
    (dict(host_vocabulary_size=8, ssd_vocabulary_size=5, ssd_data_path="/no/such/dir"),
     "ssd_data_path: '/no/such/dir' does not exist"),
    (dict(ssd_data_path="/tmp"), "ssd_data_path is only used with ssd_vocabulary_size > 0"),
    (dict(default_value=[1.0, 2.0]), r"default_value must be a scalar or have shape \[4\]"),
    (dict(emb_initializer=3), "emb_initializer must be a TF initializer"),
    (dict(name=""), "name must start with a letter, digit or '.'"),
    (dict(name="a b"), "name must start with a letter, digit or '.'"),
    (dict(name="_t"), "name must start with a letter, digit or '.'"),
    (dict(name="a//b"), "name must start with a letter, digit or '.'"),
    (dict(name=3), "name must start with a letter, digit or '.'"),
    (dict(hot_embedding=True), r"\(hot_embedding\) needs a host tier \(host_vocabulary_size > 0\)"),
    (dict(hot_embedding="yes", host_vocabulary_size=20), "hot_embedding must be a bool"),
    (dict(hot_vocabulary_size=3), "hot_vocabulary_size is only used with hot_embedding=True"),
    (dict(hot_embedding=True, host_vocabulary_size=20, hot_vocabulary_size=10),
     r"hot_vocabulary_size must be in \[1, 9\], got 10"),
    (dict(hot_embedding=True, host_vocabulary_size=20, hot_vocabulary_size=0),
     r"hot_vocabulary_size must be in \[1, 9\], got 0"),
    (dict(hot_embedding=True, host_vocabulary_size=20, hot_vocabulary_size=2.5),
     "hot_vocabulary_size must be an integer"),
    (dict(hot_embedding=True, host_vocabulary_size=20, device_vocabulary_size=1),
     r"hot_embedding=True needs device_vocabulary_size >= 2"),
    (dict(hot_refresh_steps=10), "hot_refresh_steps is only used with hot_embedding=True"),
    (dict(hot_embedding=True, host_vocabulary_size=20, hot_refresh_steps=0),
     r"hot_refresh_steps must be in \[1, 1073741824\], got 0"),
])
def test_other_create_table_arguments(existing, kwargs, match):
    args = dict(key_dtype=tf.int64, dim=4, name="t", device_vocabulary_size=10)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        create_table(**args)
    assert_intact(existing)


@pytest.mark.parametrize("factory, kwargs, match", [
    (momentum.create_hash_optimizer, dict(momentum=1.0), r"momentum must be in \[0, 1\), got 1.0"),
    (momentum.create_hash_optimizer, dict(momentum=-0.1), r"momentum must be in \[0, 1\)"),
    (momentum.create_hash_optimizer, dict(use_nesterov=1), "use_nesterov must be a bool"),
    (rms_prop.create_hash_optimizer, dict(decay=1.0), r"decay must be in \[0, 1\), got 1.0"),
    (rms_prop.create_hash_optimizer, dict(momentum=float("nan")), r"momentum must be in \[0, 1\)"),
    (rms_prop.create_hash_optimizer, dict(epsilon=0.0), "epsilon must be a finite number > 0"),
    (rms_prop.create_hash_optimizer, dict(centered="yes"), "centered must be a bool"),
    (adam_w.create_hash_optimizer, dict(weight_decay=-1e-6),
     r"weight_decay must be in \[0, 1\), got -1e-06"),
    (adam_w.create_hash_optimizer, dict(weight_decay=1.0), r"weight_decay must be in \[0, 1\)"),
    (adam_w.create_hash_optimizer, dict(beta2=1.0), r"beta2 must be in \[0, 1\)"),
    (adam_w.create_hash_optimizer, dict(epsilon=-1.0), "epsilon must be a finite number > 0"),
])
def test_hash_optimizer_arguments(factory, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        factory(**kwargs)
