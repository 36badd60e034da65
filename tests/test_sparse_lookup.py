"""sparse_lookup behaviour: shapes, eval reads, several tables, initializers."""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.sparse_table import TABLE_VARIABLES
from mx_rec.optimizers import gradient_descent
from mx_rec.util.initialize import init


def run(*fetches, feed=None):
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return sess.run(list(fetches), feed)


@pytest.mark.parametrize("shape", [[7], [3, 4], [2, 3, 5], [1, 1, 1, 2]])
def test_result_has_ids_shape_plus_dim(mx, shape):
    table = create_table(tf.int64, 6, "t", None, 1000)
    ids = np.random.RandomState(0).randint(0, 20, size=shape)
    emb = sparse_lookup(table, tf.constant(ids, tf.int64))
    assert emb.shape.as_list() == shape + [6]
    (value,) = run(emb)
    assert value.shape == tuple(shape) + (6,)
    flat = value.reshape(-1, 6)
    for i, k in enumerate(ids.reshape(-1)):  # same key, same row
        np.testing.assert_array_equal(flat[i], flat[list(ids.reshape(-1)).index(k)])


def test_unknown_batch_dimension(mx):
    table = create_table(tf.int32, 3, "t", None, 100)
    ids = tf.compat.v1.placeholder(tf.int32, [None, 2])
    emb = sparse_lookup(table, ids)
    assert emb.shape.as_list() == [None, 2, 3]
    (value,) = run(emb, feed={ids: [[1, 2], [2, 3], [9, 9]]})
    assert value.shape == (3, 2, 3)


def test_eval_reads_default_for_unseen_keys_and_inserts_nothing(mx):
    table = create_table(tf.int64, 4, "t", tf.compat.v1.ones_initializer(), 100,
                         default_value=[0.0, -1.0, 2.0, 0.5])
    trained = sparse_lookup(table, tf.constant([10, 11], tf.int64))
    train = gradient_descent.create_hash_optimizer(0.5).minimize(tf.reduce_sum(trained))
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    evaluated = sparse_lookup(table, ids, is_train=False)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train)
        value = sess.run(evaluated, {ids: [10, 12, 11, 13, 12]})
        assert table.size(sess) == 2
        np.testing.assert_array_equal(table.locate([10, 11, 12, 13], sess), [0, 0, -1, -1])
    np.testing.assert_array_equal(value[[0, 2]], np.full([2, 4], 0.5))  # ones, one SGD step
    np.testing.assert_array_equal(value[[1, 3, 4]], np.tile([0.0, -1.0, 2.0, 0.5], (3, 1)))


def test_eval_default_is_zero(mx):
    table = create_table(tf.int64, 2, "t", None, 10)
    emb = sparse_lookup(table, tf.constant([5], tf.int64), is_train=False)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(emb), np.zeros([1, 2]))
        assert table.size(sess) == 0


def test_several_tables_and_multi_lookup_share_rows(mx):
    a = create_table(tf.int64, 4, "a", None, 100)
    b = create_table(tf.int32, 2, "b", None, 100)
    e1 = sparse_lookup(a, tf.constant([1, 2, 3], tf.int64))
    e2 = sparse_lookup(a, tf.constant([3, 4], tf.int64))
    e3 = sparse_lookup(b, tf.constant([1, 2], tf.int32))
    loss = tf.reduce_sum(e1) + tf.reduce_sum(e2) + tf.reduce_sum(e3)
    train = gradient_descent.create_hash_optimizer(0.1).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        # Lookups without the tables' update: their new keys are taken back.
        sess.run([e1, e2, e3])
        assert a.size(sess) == 0 and b.size(sess) == 0
        v1, v2, v3, _ = sess.run([e1, e2, e3, train])
        assert a.size(sess) == 4 and b.size(sess) == 2 and v3.shape == (2, 2)
    np.testing.assert_array_equal(v1[2], v2[0])  # key 3 in both lookups of "a"


def test_new_key_in_one_lookup_read_by_the_next_sees_its_initial_row(mx):
    table = create_table(tf.int64, 4, "t", tf.compat.v1.ones_initializer(), 1000)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    first = sparse_lookup(table, ids)
    second = sparse_lookup(table, ids + 0)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(20):
            keys = np.arange(step * 50, step * 50 + 50)
            v1, v2 = sess.run([first, second], {ids: keys})
            np.testing.assert_array_equal(v1, np.ones([50, 4]))
            np.testing.assert_array_equal(v2, np.ones([50, 4]))


@pytest.mark.parametrize("initializer", [
    tf.compat.v1.truncated_normal_initializer(stddev=0.1, seed=1),
    tf.compat.v1.random_uniform_initializer(-0.1, 0.1, seed=1),
    tf.keras.initializers.RandomNormal(stddev=0.1, seed=1),
    tf.keras.initializers.Zeros(),
    tf.compat.v1.constant_initializer(0.25),
])
def test_tf_initializers_with_dynamic_shapes(mx, initializer):
    table = create_table(tf.int64, 4, "t", initializer, 100)
    (value,) = run(sparse_lookup(table, tf.constant([1, 2, 3], tf.int64)))
    assert value.shape == (3, 4) and np.all(np.abs(value) <= 1.0)


@pytest.mark.parametrize("initializer, check", [
    (tf.compat.v1.constant_initializer(0.5), lambda v: np.all(v == 0.5)),
    (tf.compat.v1.glorot_uniform_initializer(seed=3),
     lambda v: np.all(np.abs(v) <= np.sqrt(6 / 5)) and len(np.unique(v)) == v.size),
])
def test_initializer_needing_static_shape_with_unknown_batch(mx, initializer, check):
    table = create_table(tf.int64, 4, "t", initializer, 100)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids)
    (value,) = run(emb, feed={ids: [3, 1, 3, 2]})
    assert value.shape == (4, 4) and check(value[[0, 1, 3]])
    np.testing.assert_array_equal(value[0], value[2])


def test_fan_based_initializer_in_static_mode():
    init(use_dynamic=False)
    table = create_table(tf.int64, 4, "t", tf.compat.v1.glorot_uniform_initializer(seed=2), 100)
    # Unknown ids size: the initializer draws a [send_count, dim] block.
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    (value,) = run(sparse_lookup(table, ids, send_count=8), feed={ids: [1, 2, 2]})
    assert value.shape == (3, 4) and np.any(value != 0)
    np.testing.assert_array_equal(value[1], value[2])


def test_table_variables_are_not_trainable_and_dense_optimizers_skip_them(mx):
    table = create_table(tf.int64, 4, "t", tf.compat.v1.ones_initializer(), 100)
    emb = sparse_lookup(table, tf.constant([1, 2], tf.int64))
    w = tf.compat.v1.get_variable("w", initializer=np.ones([4, 1], np.float32))
    loss = tf.reduce_sum(tf.matmul(emb, w))
    assert table.variable not in tf.compat.v1.trainable_variables()
    assert table.variable in tf.compat.v1.get_collection(TABLE_VARIABLES)
    dense_step = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
    sparse_step = gradient_descent.create_hash_optimizer(0.1).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(emb)
        rows0, w0 = sess.run([table.variable, w])
        sess.run(dense_step)
        rows1, w1 = sess.run([table.variable, w])
        np.testing.assert_array_equal(rows0, rows1)  # dense step left the table alone
        assert np.all(w1 != w0)
        sess.run(sparse_step)
        rows2, w2 = sess.run([table.variable, w])
        np.testing.assert_array_equal(w1, w2)  # hash step left the dense weight alone
        touched = rows2[:2]
        np.testing.assert_allclose(touched, rows1[:2] - 0.1 * w1.T)  # d loss / d row = w
        np.testing.assert_array_equal(rows2[2:], rows1[2:])


def test_compute_and_apply_gradients(mx):
    table = create_table(tf.int64, 2, "t", tf.compat.v1.ones_initializer(), 10)
    emb = sparse_lookup(table, tf.constant([[4, 4, 5]], tf.int64))
    loss = tf.reduce_sum(emb)
    opt = gradient_descent.create_hash_optimizer(0.5)
    pairs = opt.compute_gradients(loss)
    assert len(pairs) == 1
    step = opt.apply_gradients(pairs)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        grad = sess.run(pairs[0][0])
        np.testing.assert_array_equal(grad, [[2, 2], [1, 1]])  # duplicates summed
        sess.run(step)
        np.testing.assert_allclose(table.read_rows([4, 5], sess), [[0, 0], [0.5, 0.5]])


def test_apply_gradients_rejects_foreign_tensors(mx):
    opt = gradient_descent.create_hash_optimizer(0.5)
    x = tf.ones([2, 2])
    with pytest.raises(ValueError, match="grads_and_vars: .* is not the rows tensor"):
        opt.apply_gradients([(x, x)])


def test_joint_minimize_equals_two_minimize_calls_with_one_backward_pass():
    from mx_rec.optimizers import adagrad, minimize

    def build_and_train(joint):
        with tf.Graph().as_default():
            init()
            tf.compat.v1.set_random_seed(1)
            hash_opt = adagrad.create_hash_optimizer(0.1)
            table = create_table(tf.int64, 4, "t", tf.compat.v1.random_uniform_initializer(
                -1, 1, seed=2), 100)
            ids = tf.compat.v1.placeholder(tf.int64, [None, 2])
            h = tf.compat.v1.layers.dense(tf.reshape(sparse_lookup(table, ids), [-1, 8]), 8,
                                          kernel_initializer=tf.compat.v1.ones_initializer())
            loss = tf.reduce_mean(tf.square(h - 1.0))
            dense_opt = tf.compat.v1.train.GradientDescentOptimizer(0.05)
            step = tf.compat.v1.train.get_or_create_global_step()
            if joint:
                train = minimize(loss, dense_opt, hash_opt, global_step=step)
            else:
                train = tf.group(dense_opt.minimize(loss, global_step=step),
                                 hash_opt.minimize(loss))
            n_matmul_grads = sum(op.type == "MatMul" for op in tf.compat.v1.get_default_graph()
                                 .get_operations())
            losses = []
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                for i in range(30):
                    batch = np.random.RandomState(i).randint(0, 40, size=(16, 2))
                    losses.append(sess.run([loss, train], {ids: batch})[0])
                assert sess.run(step) == 30
            from mx_rec.util.initialize import terminate_config_initializer
            terminate_config_initializer()
            return np.array(losses), n_matmul_grads

    two, matmuls_two = build_and_train(joint=False)
    one, matmuls_one = build_and_train(joint=True)
    np.testing.assert_allclose(one, two, rtol=0, atol=1e-6)
    assert matmuls_one < matmuls_two, "the dense backward pass is built once"
