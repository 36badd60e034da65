"""A table's state lives where TensorFlow's does: in the session running it.

Pins findings 1, 2, 4 and 6 (tables created outside a model_fn's graph) of
the issue "Tables owned by TensorFlow": re-running the initializer resets the
table with its variables, two sessions train independent tables, a step run
before the initializer inserts nothing, and a graph never touches a table of
another graph or of a released name.
"""

import gc

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.libasc import _libasc
from mx_rec.util.initialize import init, terminate_config_initializer
from table_scenarios import DIM, INIT, LR, MODES, Model, count, expected_rows


@pytest.mark.parametrize("mode", MODES)
def test_rerunning_the_initializer_empties_the_table_with_its_variables(mx, tmp_path, mode):
    model = Model(mode, tmp_path)
    init_op = tf.compat.v1.global_variables_initializer()
    batches = [np.arange(0, 30), np.arange(10, 40), np.arange(0, 5)]
    with tf.compat.v1.Session() as sess:
        sess.run(init_op)
        for batch in batches:
            model.step(sess, batch)
        keys = np.arange(0, 40)
        np.testing.assert_array_equal(model.read(sess, keys), expected_rows(count(batches), keys))
        assert model.table.size(sess) == 40

        sess.run(init_op)  # mid-training, as a script restarting its loop would
        assert model.table.size(sess) == 0
        np.testing.assert_array_equal(model.read(sess, keys), np.zeros([40, DIM], np.float32))
        # Trained keys come back as new keys with fresh rows, never as zeros.
        again = [np.arange(20, 50), np.arange(25, 45)]
        for batch in again:
            model.step(sess, batch)
        keys = np.arange(0, 50)
        np.testing.assert_array_equal(model.read(sess, keys), expected_rows(count(again), keys))
        assert model.table.stats(sess)["new_keys"] == 30


@pytest.mark.parametrize("mode", MODES)
def test_two_sessions_on_one_graph_train_independent_tables(mx, tmp_path, mode):
    model = Model(mode, tmp_path)
    init_op = tf.compat.v1.global_variables_initializer()
    first, second = tf.compat.v1.Session(), tf.compat.v1.Session()
    try:
        first.run(init_op)
        second.run(init_op)
        a = [np.arange(0, 30), np.arange(0, 10)]
        b = [np.arange(100, 120)] * 3
        # Interleaved, as two training jobs sharing a process would run.
        for batch_a, batch_b in zip(a + [[]], b):
            if len(batch_a):
                model.step(first, batch_a)
            model.step(second, batch_b)
        keys = np.concatenate([np.arange(0, 30), np.arange(100, 120)])
        np.testing.assert_array_equal(model.read(first, keys), expected_rows(count(a), keys))
        np.testing.assert_array_equal(model.read(second, keys), expected_rows(count(b), keys))
        assert model.table.size(first) == 30
        assert model.table.size(second) == 20
        # Both are alive in this process, each its own libasc table.
        assert len(_libasc.live_tables("t")) == 2
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_step_before_the_initializer_fails_and_inserts_nothing(mx, tmp_path, mode):
    model = Model(mode, tmp_path)
    with tf.compat.v1.Session() as sess:
        with pytest.raises(tf.errors.FailedPreconditionError, match="not initiali[sz]ed"):
            model.step(sess, np.arange(0, 8))
        sess.run(tf.compat.v1.global_variables_initializer())
        assert model.table.size(sess) == 0
        model.step(sess, np.arange(0, 8))
        np.testing.assert_array_equal(model.read(sess, np.arange(0, 8)),
                                      np.full([8, DIM], INIT - LR, np.float32))


@pytest.mark.parametrize("mode", MODES)
def test_a_released_name_and_a_new_graph_never_share_a_table(tmp_path, mode):
    init()
    g1 = tf.compat.v1.get_default_graph()
    old = Model(mode, tmp_path)
    s1 = tf.compat.v1.Session(graph=g1)
    s1.run(tf.compat.v1.global_variables_initializer())
    old.step(s1, np.arange(0, 10))
    terminate_config_initializer()

    init()
    with tf.Graph().as_default() as g2:
        new = Model(mode, tmp_path)
        s2 = tf.compat.v1.Session(graph=g2)
        s2.run(tf.compat.v1.global_variables_initializer())
        new.step(s2, np.arange(50, 55))
    # The old session keeps training its own table; the new table never sees it.
    old.step(s1, np.arange(0, 5))
    assert old.table.size(s1) == 10
    assert new.table.size(s2) == 5
    np.testing.assert_array_equal(new.read(s2, np.arange(0, 10)), np.zeros([10, DIM], np.float32))
    counts = count([np.arange(0, 10), np.arange(0, 5)])
    np.testing.assert_array_equal(old.read(s1, np.arange(0, 10)),
                                  expected_rows(counts, np.arange(0, 10)))
    # Building new lookups on a released table is refused.
    with tf.Graph().as_default(), pytest.raises(RuntimeError, match="released"):
        old.table.in_graph()
    s1.close()
    s2.close()


def test_a_table_serves_every_graph_that_uses_it(mx, tmp_path):
    """Created once (e.g. before an Estimator), looked up in graphs built later."""
    from mx_rec.core.embedding import create_table, sparse_lookup
    from mx_rec.optimizers import gradient_descent

    table = create_table(tf.int64, DIM, "shared", emb_initializer=tf.compat.v1.constant_initializer(INIT),
                         device_vocabulary_size=32)
    for _ in range(2):
        with tf.Graph().as_default():
            ids = tf.constant(np.arange(0, 6), tf.int64)
            loss = tf.reduce_sum(sparse_lookup(table, ids))
            train = gradient_descent.create_hash_optimizer(LR).minimize(loss)
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                sess.run(train)
                # Each graph's session starts from an empty table.
                assert table.size(sess) == 6
                np.testing.assert_array_equal(table.read_rows(np.arange(0, 6), sess),
                                              np.full([6, DIM], INIT - LR, np.float32))


def test_closed_sessions_release_their_tables(mx, tmp_path):
    model = Model("HBM", tmp_path, name="gone")
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        model.step(sess, np.arange(0, 4))
        assert [t["size"] for t in _libasc.live_tables("gone")] == [4]
    gc.collect()
    assert _libasc.live_tables("gone") == []


@pytest.mark.parametrize("mode", MODES)
def test_a_saver_restore_in_a_live_session_puts_back_exactly_the_checkpoint(mx, tmp_path, mode):
    """Restoring into a session that trained on (rows moved between tiers,
    new keys) leaves the table exactly as saved: nothing of the later steps."""
    model = Model(mode, tmp_path)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        model.step(sess, np.arange(0, 10))
        path = saver.save(sess, str(tmp_path / "ckpt" / "model"))
        for start in range(0, 60, 10):  # updates, moves rows, evicts
            model.step(sess, np.arange(start, start + 10))
        saver.restore(sess, path)
        assert model.table.size(sess) == 10
        expected = np.zeros([60, DIM], np.float32)
        expected[:10] = INIT - LR
        np.testing.assert_array_equal(model.read(sess, np.arange(0, 60)), expected)
        model.step(sess, np.arange(0, 5))
        np.testing.assert_array_equal(model.read(sess, np.arange(0, 5)),
                                      np.full([5, DIM], INIT - 2 * LR, np.float32))
