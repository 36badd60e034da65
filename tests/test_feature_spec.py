"""FeatureSpec mode: key work in tf.data gives exactly the in-step results.

The model_harness model (table "a" looked up by f1 and f2: multi-lookup, table
"b" by f3) trains from a tf.data pipeline with the key work in-step, with
get_asc_insert_func in the dataset, and moved there by automatic graph
modification, with and without feature admission; losses must be identical.
"""

import numpy as np
import pytest
import tensorflow as tf

import model_harness as mh
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.asc.manager import start_asc_pipeline
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.graph.modifier import modify_graph_and_start_emb_cache
from mx_rec.optimizers import adagrad
from mx_rec.util.initialize import init, terminate_config_initializer

STEPS = 60
FAAE = dict(access_threshold=3, eviction_threshold=None)
COEF = {"f1": 1, "f2": 2, "f3": 1}


def dataset(batches, stamps=None):
    columns = {k: np.stack([b[k] for b in batches]) for k in ("f1", "f2", "f3", "label")}
    if stamps is not None:
        columns["ts"] = np.asarray(stamps, np.int64)
    return tf.data.Dataset.from_tensor_slices(columns)


def make_tables():
    init_a = tf.compat.v1.random_uniform_initializer(-0.1, 0.1, seed=1)
    init_b = tf.compat.v1.random_uniform_initializer(-0.1, 0.1, seed=2)
    a = create_table(tf.int64, mh.DIM, "a", init_a, 1000)
    b = create_table(tf.int32, mh.DIM, "b", init_b, 1000)
    return a, b


def specs(faae):
    extra = FAAE if faae else {}
    return [FeatureSpec("f1", table_name="a", faae_coefficient=COEF["f1"], **extra),
            FeatureSpec("f2", table_name="a", faae_coefficient=COEF["f2"], **extra),
            FeatureSpec("f3", table_name="b", faae_coefficient=COEF["f3"], **extra)]


def train(mode, faae, batches, static=False):
    """(losses, stats of table a) of STEPS steps in `mode` ("in_step" or "feature_spec")."""
    with tf.Graph().as_default():
        try:
            return _train(mode, faae, batches, static)
        finally:
            terminate_config_initializer()


def _train(mode, faae, batches, static):
    init(use_dynamic=not static)
    tf.compat.v1.set_random_seed(0)
    a, b = make_tables()
    opt = adagrad.create_hash_optimizer(0.2)
    ds = dataset(batches)
    # Static shapes: each feature's unique ids padded to its number of ids
    # (send_count may not exceed the ids' static size).
    widths = {"f1": mh.F1, "f2": mh.F2, "f3": mh.F3}

    def send(f):
        return dict(send_count=mh.BATCH * widths[f]) if static else {}
    if mode == "feature_spec":
        fs = specs(faae)
        ds = ds.map(get_asc_insert_func(fs, is_training=True)).prefetch(2)
        batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        e1, e2 = (sparse_lookup(a, fs[i], batch=batch, **send(fs[i].name)) for i in (0, 1))
        e3 = sparse_lookup(b, fs[2], batch=batch, **send("f3"))
        assert start_asc_pipeline() == ["f1", "f2", "f3"]
    else:  # in_step or modify_graph: the same lookups on plain ids
        batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()

        def lookup(table, f):
            return sparse_lookup(table, batch[f], modify_graph=mode == "modify_graph",
                                 access_and_evict_config=dict(FAAE, faae_coefficient=COEF[f])
                                 if faae else None, **send(f))
        e1, e2, e3 = lookup(a, "f1"), lookup(a, "f2"), lookup(b, "f3")
    loss = mh.head(e1, e2, e3, batch["label"])
    dense = tf.compat.v1.train.GradientDescentOptimizer(0.05)
    train_op = tf.group(opt.minimize(loss), dense.minimize(loss))
    if mode == "modify_graph":
        assert modify_graph_and_start_emb_cache() == 3
    losses = []
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(STEPS):
            losses.append(sess.run([loss, train_op])[0])
        return np.array(losses), a.stats(sess)


@pytest.mark.parametrize("faae", [False, True], ids=["plain", "faae"])
def test_three_key_modes_give_identical_losses(faae):
    """In-step, FeatureSpec and automatic graph modification, multi-lookup included."""
    _, _, batches = mh.make_data(STEPS)
    in_step, stats_in = train("in_step", faae, batches)
    spec_mode, stats_spec = train("feature_spec", faae, batches)
    modified, stats_mod = train("modify_graph", faae, batches)
    np.testing.assert_array_equal(in_step, spec_mode)
    np.testing.assert_array_equal(in_step, modified)
    assert stats_in == stats_spec == stats_mod
    if faae:
        assert stats_spec["rejected"] > 0 and stats_spec["admission_keys"] > stats_spec["device_keys"]
    else:
        assert stats_spec["rejected"] == 0


def test_static_shape_three_key_modes_give_identical_losses():
    _, _, batches = mh.make_data(STEPS)
    in_step, _ = train("in_step", True, batches, static=True)
    for mode in ("feature_spec", "modify_graph"):
        np.testing.assert_array_equal(in_step, train(mode, True, batches, static=True)[0])


def test_train_and_eval_datasets_alternate_without_step_counts(mx):
    """train_and_evaluate style: eval passes end on OutOfRange, never insert or count keys."""
    _, _, batches = mh.make_data(30)
    a, b = make_tables()
    fs = specs(faae=True)
    opt = adagrad.create_hash_optimizer(0.2)

    def model(ds, is_train):
        batch = tf.compat.v1.data.make_initializable_iterator(ds)
        nxt = batch.get_next()
        e1, e2 = (sparse_lookup(a, fs[i], batch=nxt, is_train=is_train) for i in (0, 1))
        e3 = sparse_lookup(b, fs[2], batch=nxt, is_train=is_train)
        return batch.initializer, mh.head(e1, e2, e3, nxt["label"])

    train_ds = dataset(batches[:20]).repeat().map(get_asc_insert_func(fs)).prefetch(2)
    eval_ds = dataset(batches[20:]).map(get_asc_insert_func(fs, is_training=False))
    train_init, loss = model(train_ds, True)
    with tf.compat.v1.variable_scope("", reuse=True):
        eval_init, eval_loss = model(eval_ds, False)
    train_op = opt.minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train_init)
        for _ in range(3):
            for _ in range(7):
                sess.run(train_op)
            size, records = a.size(sess), len(a.export_admission(sess)[0])
            assert size > 0 and records > size  # FAAE: more keys counted than admitted
            sess.run(eval_init)
            passes = 0
            while True:
                try:
                    assert np.isfinite(sess.run(eval_loss))
                    passes += 1
                except tf.errors.OutOfRangeError:
                    break
            assert passes == 10
            assert a.size(sess) == size and len(a.export_admission(sess)[0]) == records


def test_lookup_of_a_feature_not_in_the_batch_is_a_clear_error(mx):
    a, _ = make_tables()
    spec = FeatureSpec("f1", table_name="a")
    with pytest.raises(ValueError, match="mapped with get_asc_insert_func"):
        sparse_lookup(a, spec, batch={"f1": tf.constant([1], tf.int64)})
    with pytest.raises(ValueError, match="names table_name='b'"):
        sparse_lookup(a, FeatureSpec("f1", table_name="b"), batch=None)
    with pytest.raises(KeyError, match="no entry 'missing'"):
        dataset(mh.make_data(1)[2]).map(get_asc_insert_func(FeatureSpec("x", index_key="missing")))
    with pytest.raises(ValueError, match="at most one timestamp feature"):
        get_asc_insert_func([FeatureSpec("t1", is_timestamp=True),
                             FeatureSpec("t2", is_timestamp=True)])
