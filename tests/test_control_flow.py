"""Lookups and the train/eval switch under control flow (findings 8 and 9).

is_train may be a boolean tensor (a train_phase placeholder): false at run
time means exactly an eval lookup (no insert, no admission count, no
last-seen update). A training lookup inside tf.cond / tf.while_loop fails
at graph build with an error naming it, and leaves the graph usable for
every other lookup and optimizer.
"""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad, gradient_descent
from table_scenarios import DIM, INIT, LR, MODES, table_kwargs

FAAE = {"access_threshold": 2, "eviction_threshold": 100}


def train_phase_model(mode, tmp_path, faae):
    table = create_table(tf.int64, DIM, "t", emb_initializer=tf.compat.v1.constant_initializer(INIT),
                         **table_kwargs(mode, tmp_path))
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    phase = tf.compat.v1.placeholder(tf.bool, [], name="train_phase")
    emb = sparse_lookup(table, ids, is_train=phase, access_and_evict_config=FAAE if faae else None)
    loss = tf.reduce_sum(emb)
    train = gradient_descent.create_hash_optimizer(LR).minimize(loss)
    return table, ids, phase, emb, train


@pytest.mark.parametrize("faae", [False, True], ids=["all_keys", "faae"])
@pytest.mark.parametrize("mode", MODES)
def test_is_train_placeholder_false_is_exactly_an_eval_lookup(mx, tmp_path, mode, faae):
    table, ids, phase, emb, train = train_phase_model(mode, tmp_path, faae)
    train_ids = np.repeat(np.arange(0, 20), 2)  # twice each: admitted under FAAE
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: train_ids, phase: True})
        stats = table.stats(sess)
        admission = table.export_admission(sess)
        # Predicting on new and known ids with train_phase=False: rows of known
        # keys, the default for unknown ones, and nothing recorded.
        eval_ids = np.arange(10, 40)
        rows = sess.run(emb, {ids: eval_ids, phase: False})
        np.testing.assert_array_equal(rows[:10], np.full([10, DIM], INIT - 2 * LR, np.float32))
        np.testing.assert_array_equal(rows[10:], np.zeros([20, DIM], np.float32))
        # Even running the train op with train_phase=False changes nothing.
        sess.run(train, {ids: eval_ids, phase: False})
        after = table.stats(sess)
        for key in ("device_keys", "host_keys", "ssd_keys", "new_keys", "admission_keys",
                    "rejected", "hits", "misses"):
            assert after[key] == stats[key], key
        for got, want in zip(table.export_admission(sess), admission):
            np.testing.assert_array_equal(np.sort(got), np.sort(want))
        np.testing.assert_array_equal(table.read_rows(np.arange(0, 20), sess),
                                      np.full([20, DIM], INIT - 2 * LR, np.float32))
        # And with train_phase=True it trains as is_train=True would.
        sess.run(train, {ids: np.arange(0, 20), phase: True})
        np.testing.assert_array_equal(table.read_rows(np.arange(0, 20), sess),
                                      np.full([20, DIM], INIT - 3 * LR, np.float32))


def test_is_train_must_be_a_bool_or_a_scalar_bool_tensor(mx):
    table = create_table(tf.int64, DIM, "t", device_vocabulary_size=8)
    ids = tf.constant([1, 2], tf.int64)
    for bad in ("yes", 1, tf.constant(1), tf.compat.v1.placeholder(tf.bool, [2])):
        with pytest.raises(TypeError, match="is_train must be a bool or a scalar tf.bool tensor"):
            sparse_lookup(table, ids, is_train=bad)


@pytest.mark.parametrize("v2", [True, False], ids=["cond_v2", "cond_v1"])
def test_training_lookup_inside_cond_is_a_build_error_naming_it(mx, v2):
    if not v2:
        tf.compat.v1.disable_control_flow_v2()
    try:
        table = create_table(tf.int64, DIM, "t", device_vocabulary_size=64,
                             emb_initializer=tf.compat.v1.constant_initializer(INIT))
        pred = tf.compat.v1.placeholder(tf.bool, [])
        a = tf.compat.v1.placeholder(tf.int64, [None])
        b = tf.compat.v1.placeholder(tf.int64, [None])
        with pytest.raises(ValueError, match=r"sparse_lookup 'by_a' \(table 't'\) is a training "
                                             r"lookup inside .*tf.cond"):
            tf.cond(pred, lambda: sparse_lookup(table, a, name="by_a"),
                    lambda: sparse_lookup(table, b, name="by_b"))
        # The documented alternative: look up outside, choose the result. And
        # the failed attempt broke nothing: lookups and minimize still work.
        emb = tf.where(pred, sparse_lookup(table, a), sparse_lookup(table, b))
        # An eval lookup inside the cond is fine (it only reads).
        peek = tf.cond(pred, lambda: sparse_lookup(table, a, is_train=False),
                       lambda: tf.zeros([tf.size(a), DIM]))
        train = adagrad.create_hash_optimizer(0.1).minimize(tf.reduce_sum(emb))
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train, {pred: True, a: [1, 2, 3], b: [4, 5, 6]})
            assert table.size(sess) == 6  # both lookups ran, only a's rows trained
            rows = sess.run(peek, {pred: True, a: [1, 4]})
            assert rows[0, 0] < INIT and rows[1, 0] == INIT
    finally:
        if not v2:
            tf.compat.v1.enable_control_flow_v2()


def test_training_lookup_inside_while_loop_is_a_build_error(mx):
    table = create_table(tf.int64, DIM, "t", device_vocabulary_size=64)
    ids = tf.constant([[1, 2], [3, 4]], tf.int64)

    def body(i, acc):
        return i + 1, acc + tf.reduce_sum(sparse_lookup(table, ids[i], name="in_loop"))

    with pytest.raises(ValueError, match="sparse_lookup 'in_loop'"):
        tf.while_loop(lambda i, _: i < 2, body, [tf.constant(0), tf.constant(0.0)])
