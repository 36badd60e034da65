"""mx_rec tables train exactly like dense tf.nn.embedding_lookup tables.

Two tables (one looked up twice), 200 steps, Zipf ids; the dense reference
holds, for every key, the initial row mx_rec drew for it, and applies the same
update rule to the touched rows only.
"""

import numpy as np
import pytest
import tensorflow as tf

import model_harness as mh
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.util import graph_records
from mx_rec.optimizers import (adagrad, adam_w, ftrl, gradient_descent, lazy_adam, momentum,
                               rms_prop)
from mx_rec.util.initialize import init, terminate_config_initializer

STEPS = 200
DENSE_LR = 0.05


class DenseLazyAdam:
    """Reference lazy Adam on dense variables, written independently of mx_rec.

    With weight_decay, the touched rows first lose weight_decay * row, as in
    tf.contrib.opt's DecoupledWeightDecayExtension (AdamW)."""

    def __init__(self, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr, self.b1, self.b2, self.eps, self.wd = lr, b1, b2, eps, weight_decay

    def minimize(self, loss, var_list):
        b1p = tf.compat.v1.Variable(self.b1, trainable=False, use_resource=True)
        b2p = tf.compat.v1.Variable(self.b2, trainable=False, use_resource=True)
        lr_t = self.lr * tf.sqrt(1 - b2p) / (1 - b1p)
        ops = []
        for var, grad in zip(var_list, tf.gradients(loss, var_list)):
            idx, pos = tf.unique(grad.indices)
            g = tf.math.unsorted_segment_sum(grad.values, pos, tf.size(idx))
            m = tf.compat.v1.Variable(tf.zeros_like(var.initial_value), trainable=False, use_resource=True)
            v = tf.compat.v1.Variable(tf.zeros_like(var.initial_value), trainable=False, use_resource=True)
            m_t = self.b1 * tf.gather(m, idx) + (1 - self.b1) * g
            v_t = self.b2 * tf.gather(v, idx) + (1 - self.b2) * g * g
            with tf.control_dependencies([g]):  # after the forward pass read the rows
                decay = tf.compat.v1.scatter_sub(var, idx, self.wd * tf.gather(var, idx))
            with tf.control_dependencies([decay]):
                step = tf.compat.v1.scatter_sub(var, idx, lr_t * m_t / (tf.sqrt(v_t) + self.eps))
            ops += [tf.compat.v1.scatter_update(m, idx, m_t), tf.compat.v1.scatter_update(v, idx, v_t),
                    step]
        with tf.control_dependencies(ops):
            return tf.group(b1p.assign(b1p * self.b1), b2p.assign(b2p * self.b2))


OPTIMIZERS = {
    "sgd": (lambda: gradient_descent.create_hash_optimizer(0.5),
            lambda: tf.compat.v1.train.GradientDescentOptimizer(0.5)),
    "adagrad": (lambda: adagrad.create_hash_optimizer(0.2, initial_accumulator_value=0.1),
                lambda: tf.compat.v1.train.AdagradOptimizer(0.2, initial_accumulator_value=0.1)),
    "lazy_adam": (lambda: lazy_adam.create_hash_optimizer(0.02),
                  lambda: DenseLazyAdam(0.02)),
    "ftrl": (lambda: ftrl.create_hash_optimizer(0.2, l1_regularization_strength=0.001,
                                                l2_regularization_strength=0.01),
             lambda: tf.compat.v1.train.FtrlOptimizer(0.2, l1_regularization_strength=0.001,
                                                      l2_regularization_strength=0.01)),
    "momentum": (lambda: momentum.create_hash_optimizer(0.1, momentum=0.9),
                 lambda: tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9)),
    "momentum_nesterov": (
        lambda: momentum.create_hash_optimizer(0.1, momentum=0.9, use_nesterov=True),
        lambda: tf.compat.v1.train.MomentumOptimizer(0.1, momentum=0.9, use_nesterov=True)),
    "rms_prop": (lambda: rms_prop.create_hash_optimizer(0.01),
                 lambda: tf.compat.v1.train.RMSPropOptimizer(0.01)),
    # Every state block (rms, momentum, mg) travels between tiers.
    "rms_prop_centered": (
        lambda: rms_prop.create_hash_optimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-6,
                                               centered=True),
        lambda: tf.compat.v1.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.5, epsilon=1e-6,
                                                    centered=True)),
    # weight_decay large enough that scaling it by the learning rate, or
    # decaying after the Adam step instead of before, would fail the test.
    "adam_w": (lambda: adam_w.create_hash_optimizer(0.02, weight_decay=0.01),
               lambda: DenseLazyAdam(0.02, weight_decay=0.01)),
}


def run_mx_rec(opt_name, batches, device_a=512, device_b=256, expansion=False, use_dynamic=True,
               host_a=0, host_b=0, ssd_a=0, ssd_b=0, ssd_path=None, hot=False):
    """Trains on mx_rec tables; returns losses, initial and final rows per key."""
    init(use_dynamic=use_dynamic, use_dynamic_expansion=expansion)
    tf.compat.v1.set_random_seed(3)
    ph = mh.placeholders()
    init_fn = tf.compat.v1.random_uniform_initializer(-0.5, 0.5, seed=11)
    # Created before the tables (after works too: tests/test_tiering.py).
    sparse_opt = OPTIMIZERS[opt_name][0]()
    # Refreshes every 50 steps, so hot keys also leave the set mid-run.
    hot_kw = dict(hot_embedding=True, hot_refresh_steps=50) if hot else {}
    ta = create_table(tf.int64, mh.DIM, "a", init_fn, device_a, host_vocabulary_size=host_a,
                      ssd_vocabulary_size=ssd_a, ssd_data_path=ssd_path if ssd_a else None,
                      **hot_kw)
    tb = create_table(tf.int32, mh.DIM, "b", init_fn, device_b, host_vocabulary_size=host_b,
                      ssd_vocabulary_size=ssd_b, ssd_data_path=ssd_path if ssd_b else None,
                      **hot_kw)
    kw = {} if use_dynamic else dict(send_count=mh.BATCH * 3)
    e1 = sparse_lookup(ta, ph["f1"], **kw)
    e2 = sparse_lookup(ta, ph["f2"], **kw)
    e3 = sparse_lookup(tb, ph["f3"], **kw)
    loss = mh.head(e1, e2, e3, ph["label"])
    records = graph_records.get(LOOKUP_RECORDS)
    train = tf.group(
        tf.compat.v1.train.GradientDescentOptimizer(DENSE_LR).minimize(loss),
        sparse_opt.minimize(loss))
    initial = {"a": {}, "b": {}}  # key -> its row when it was new
    losses = []
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in batches:
            fetched = sess.run([loss, train, [(r.keys, r.fill_index, r.rows) for r in records]],
                               feed_dict={ph[k]: batch[k] for k in ("f1", "f2", "f3", "label")})
            losses.append(fetched[0])
            for record, (keys, fill_index, rows) in zip(records, fetched[2]):
                for i in fill_index:
                    assert keys[i] not in initial[record.table.name], "a key was inserted twice"
                    initial[record.table.name][keys[i]] = rows[i]
        final = {t.name: final_rows(t, sess) for t in (ta, tb)}
        stats = {t.name: t.stats(sess) for t in (ta, tb)}
    terminate_config_initializer()
    return np.array(losses), initial, final, stats


def final_rows(table, sess):
    """key -> row for every key held, from whichever tier holds it."""
    keys, slots = table.export_slots(sess)
    tiers = table.locate(keys, sess)
    assert set(np.unique(tiers)) <= {0, 1, 2}, "every key is on the device, host or SSD tier"
    on_device = slots >= 0
    np.testing.assert_array_equal(on_device, tiers == 0)
    assert len(keys) == on_device.sum() + (tiers == 1).sum() + (tiers == 2).sum() \
        == table.size(sess)
    assert len(np.unique(keys)) == len(keys), "a key is held once"
    assert len(np.unique(slots[on_device])) == on_device.sum(), "device slots are not shared"
    rows = table.read_rows(keys, sess)
    assert rows.shape == (len(keys), table.dim)
    # Device keys' rows are the embedding variable's rows at their slots.
    device_rows = sess.run(table.variable)
    np.testing.assert_array_equal(rows[on_device], device_rows[slots[on_device]])
    return dict(zip(keys, rows))


def run_dense(opt_name, batches, keys_a, keys_b, initial):
    """The same model on dense variables indexed by each key's rank."""
    tf.compat.v1.set_random_seed(3)
    ph = mh.placeholders()
    ranks = dict(r1=tf.compat.v1.placeholder(tf.int64, [None, mh.F1]),
                 r2=tf.compat.v1.placeholder(tf.int64, [None, mh.F2]),
                 r3=tf.compat.v1.placeholder(tf.int64, [None, mh.F3]))

    def table(keys, rows):
        init_value = np.zeros([len(keys), mh.DIM], np.float32)
        for i, k in enumerate(keys):
            if int(k) in rows:
                init_value[i] = rows[int(k)]
        return tf.compat.v1.Variable(init_value, use_resource=True, trainable=False)

    var_a = table(keys_a, initial["a"])
    var_b = table(keys_b, initial["b"])
    e1 = tf.nn.embedding_lookup(var_a, ranks["r1"])
    e2 = tf.nn.embedding_lookup(var_a, ranks["r2"])
    e3 = tf.nn.embedding_lookup(var_b, ranks["r3"])
    loss = mh.head(e1, e2, e3, ph["label"])
    train = tf.group(
        tf.compat.v1.train.GradientDescentOptimizer(DENSE_LR).minimize(loss),
        OPTIMIZERS[opt_name][1]().minimize(loss, var_list=[var_a, var_b]))
    losses = []
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in batches:
            feed = {ranks[k]: batch[k] for k in ("r1", "r2", "r3")}
            feed[ph["label"]] = batch["label"]
            losses.append(sess.run([loss, train], feed_dict=feed)[0])
        a, b = sess.run([var_a, var_b])
    final = {"a": {int(k): a[i] for i, k in enumerate(keys_a)},
             "b": {int(k): b[i] for i, k in enumerate(keys_b)}}
    return np.array(losses), final


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_same_losses_as_dense_embedding_lookup(opt_name, fresh_graph):
    keys_a, keys_b, batches = mh.make_data(STEPS)
    mx_losses, initial, mx_final, _ = run_mx_rec(opt_name, batches)
    with tf.Graph().as_default():
        dense_losses, dense_final = run_dense(opt_name, batches, keys_a, keys_b, initial)
    assert np.all(np.isfinite(mx_losses))
    assert mx_losses[-20:].mean() < mx_losses[:20].mean(), "the model should learn"
    np.testing.assert_allclose(mx_losses, dense_losses, rtol=0, atol=1e-5)
    for name in ("a", "b"):
        assert len(mx_final[name]) > 50
        # Rows accumulate 200 steps of round-off (dense SGD adds each duplicate's
        # update separately, mx_rec sums the gradients first), hence 1e-4 here.
        for key, row in mx_final[name].items():
            np.testing.assert_allclose(row, dense_final[name][int(key)], rtol=0, atol=1e-4)


def test_static_shape_mode_matches_dynamic(fresh_graph):
    _, _, batches = mh.make_data(60)
    dynamic, _, _, _ = run_mx_rec("adagrad", batches, use_dynamic=True)
    with tf.Graph().as_default():
        static, _, _, _ = run_mx_rec("adagrad", batches, use_dynamic=False)
    np.testing.assert_allclose(dynamic, static, rtol=0, atol=1e-6)


@pytest.mark.parametrize("opt_name", ["sgd", "lazy_adam", "momentum", "rms_prop", "adam_w"])
def test_dynamic_expansion_matches_presized_table(opt_name, fresh_graph):
    _, _, batches = mh.make_data(STEPS, vocab_a=400)
    presized, _, _, _ = run_mx_rec(opt_name, batches, device_a=512, device_b=256)
    with tf.Graph().as_default():
        grown, _, final, _ = run_mx_rec(opt_name, batches, device_a=2, device_b=2, expansion=True)
    assert len(final["a"]) >= 200, "table 'a' should grow from 2 rows to at least 100x"
    np.testing.assert_allclose(grown, presized, rtol=0, atol=1e-6)


TIERED_DATA = dict(steps=300, vocab_a=4000, vocab_b=1500, zipf=1.2)


def step_unique(batches):
    """Most unique keys one step looks up in table a and in table b."""
    a = max(len(np.unique(np.concatenate([b["f1"].ravel(), b["f2"].ravel()]))) for b in batches)
    return a, max(len(np.unique(b["f3"])) for b in batches)


def check_tiered_run(opt_name, batches, keys_a, keys_b, tiered, stats_checks):
    """The tiered run equals the dense reference (losses and every key's row, from
    whichever tier holds it) and HBM mode (to float noise)."""
    mx_losses, initial, mx_final, stats = tiered
    for name in ("a", "b"):
        for stat, low in stats_checks.items():
            assert stats[name][stat] > low, (name, stat, stats[name])
    with tf.Graph().as_default():
        dense_losses, dense_final = run_dense(opt_name, batches, keys_a, keys_b, initial)
    np.testing.assert_allclose(mx_losses, dense_losses, rtol=0, atol=1e-5)
    for name in ("a", "b"):
        for key, row in mx_final[name].items():
            np.testing.assert_allclose(row, dense_final[name][int(key)], rtol=0, atol=1e-5)
    # The same model in HBM mode sums every gradient in the same order, so the
    # tiers must not change a single row beyond float noise.
    with tf.Graph().as_default():
        hbm_losses, _, hbm_final, _ = run_mx_rec(opt_name, batches, device_a=4000,
                                                 device_b=1500)
    np.testing.assert_allclose(mx_losses, hbm_losses, rtol=0, atol=1e-6)
    for name in ("a", "b"):
        assert set(mx_final[name]) == set(initial[name]) == set(hbm_final[name]), \
            "every inserted key is still held"
        for key, row in mx_final[name].items():
            np.testing.assert_allclose(row, hbm_final[name][key], rtol=0, atol=1e-6)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_ddr_mode_with_a_small_device_cache_matches_dense(opt_name, fresh_graph):
    """Device tier ~2x one step's unique keys: rows (and optimizer state) travel
    device -> host -> device, and training is unchanged."""
    keys_a, keys_b, batches = mh.make_data(**TIERED_DATA)
    unique_a, unique_b = step_unique(batches)
    tiered = run_mx_rec(opt_name, batches, device_a=2 * unique_a, device_b=2 * unique_b,
                        host_a=4000, host_b=1500)
    check_tiered_run(opt_name, batches, keys_a, keys_b, tiered,
                     dict(evictions=200, loads=100, host_keys=0))


@pytest.mark.parametrize("opt_name", ["adagrad", "lazy_adam"])
def test_ddr_mode_with_hot_embedding_matches_dense(opt_name, fresh_graph):
    """As above with 3/4 of the device rows for pinned hot keys: the hot set
    fills, serves hits, is refreshed, and gives rows back to steps that need
    them; training is unchanged."""
    keys_a, keys_b, batches = mh.make_data(**TIERED_DATA)
    unique_a, unique_b = step_unique(batches)
    tiered = run_mx_rec(opt_name, batches, device_a=2 * unique_a, device_b=2 * unique_b,
                        host_a=4000, host_b=1500, hot=True)
    check_tiered_run(opt_name, batches, keys_a, keys_b, tiered,
                     dict(evictions=200, loads=100, hot_keys=0, hot_hits=1000))


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_ssd_mode_with_small_device_and_host_tiers_matches_dense(opt_name, fresh_graph, tmp_path):
    """Device and host tiers ~2x one step's unique keys each: rows travel
    device -> host -> SSD -> device with their optimizer state."""
    keys_a, keys_b, batches = mh.make_data(**TIERED_DATA)
    unique_a, unique_b = step_unique(batches)
    tiered = run_mx_rec(opt_name, batches, device_a=2 * unique_a, device_b=2 * unique_b,
                        host_a=2 * unique_a, host_b=2 * unique_b, ssd_a=4000, ssd_b=1500,
                        ssd_path=str(tmp_path))
    check_tiered_run(opt_name, batches, keys_a, keys_b, tiered,
                     dict(evictions=200, demotions=100, ssd_loads=50, ssd_keys=0))
