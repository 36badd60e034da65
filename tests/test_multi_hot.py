"""Multi-hot lookups (SparseTensor / RaggedTensor ids, combiner, weights) equal
tf.nn.safe_embedding_lookup_sparse on a dense table: values and gradients of
one step, and training (losses and every key's row), to 1e-6, under every
hash optimizer, in every cache mode and key-feeding mode (multi_hot_model.py).
Then mx_rec's own rules (ids < 0 are keys, ids counted as absent are read but
not updated) and bad input.
"""

import numpy as np
import pytest
import tensorflow as tf

import multi_hot_model as mm
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.graph.modifier import modify_graph_and_start_emb_cache
from mx_rec.optimizers import lazy_adam
from mx_rec.util import graph_records
from mx_rec.util.initialize import init, terminate_config_initializer
from test_equivalence import OPTIMIZERS
from test_modify_graph import executed_ops

COMBINERS = ("sum", "mean", "sqrtn")
STEPS = 60


def check_against_dense(data, run, combiner, weighted, opt_name):
    """The run's losses and every key's final row equal the dense model's to 1e-6."""
    dense_losses, dense_final = mm.run_dense(data, combiner, weighted, OPTIMIZERS[opt_name][1],
                                             run.initial)
    assert np.all(np.isfinite(run.losses))
    assert run.losses[-10:].mean() < run.losses[:10].mean(), "the model should learn"
    np.testing.assert_allclose(run.losses, dense_losses, rtol=0, atol=1e-6)
    for name in ("a", "b"):
        assert len(run.final[name]) > 40
        assert set(run.final[name]) == set(run.initial[name]), "every inserted key is held"
        for key, row in run.final[name].items():
            np.testing.assert_allclose(row, dense_final[name][key], rtol=0, atol=1e-6)


# ---- one step: values and gradients ------------------------------------------------------------


def one_step(data, ids, build):
    """Pooled values of the first batch and, per table, {key: (row, d loss / d row)}.

    build(batch) -> (pooled per feature, {table: [(keys, rows tensor)]}); the
    loss is a fixed random projection of the pooled values, averaged over the
    batch (gradients of order 1).
    """
    batch = tf.compat.v1.data.make_one_shot_iterator(mm.dataset(data, ids)).get_next()
    pooled, parts = build(batch)
    projection = np.random.RandomState(5).normal(size=(len(pooled), mm.BATCH, mm.DIM))
    loss = tf.add_n([tf.reduce_sum(p * w.astype(np.float32)) for p, w in zip(pooled, projection)])
    loss /= mm.BATCH
    flat = [(name, keys, rows) for name, entries in parts.items() for keys, rows in entries]
    grads = [tf.convert_to_tensor(g) for g in tf.gradients(loss, [rows for _, _, rows in flat])]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        values, fetched = sess.run([pooled, [(k, r, g) for (_, k, r), g in zip(flat, grads)]])
    per_key = {name: {} for name in parts}
    for (name, _, _), (keys, rows, key_grads) in zip(flat, fetched):
        for key, row, grad in zip(keys, rows, key_grads):
            summed = grad if key not in per_key[name] else per_key[name][key][1] + grad
            per_key[name][key] = (row, summed)
    return values, per_key


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("combiner", COMBINERS)
def test_values_and_gradients_match_safe_embedding_lookup_sparse(combiner, weighted):
    data = mm.make_data(1)
    init()
    initializer = tf.compat.v1.random_uniform_initializer(-0.5, 0.5, seed=11)
    tables = {"a": create_table(tf.int64, mm.DIM, "a", initializer, 1024),
              "b": create_table(tf.int32, mm.DIM, "b", initializer, 1024)}

    def mx_rec_lookups(batch):
        pooled = [sparse_lookup(tables[t], batch[f], combiner=combiner,
                                weights=batch[f"{f}_w"] if weighted else None)
                  for f, (t, _, _, _) in mm.FEATURES.items()]
        records = graph_records.get(LOOKUP_RECORDS)
        return pooled, {name: [(r.keys, r.rows) for r in records if r.table.name == name]
                        for name in tables}

    got, got_keys = one_step(data, "keys", mx_rec_lookups)
    with tf.Graph().as_default():
        variables = mm.dense_tables(data, {name: {k: row for k, (row, _) in keys.items()}
                                           for name, keys in got_keys.items()})
        want, want_rows = one_step(data, "ranks", lambda batch: (
            mm.dense_pooled(batch, variables, combiner, weighted),
            {name: [(tf.range(len(data.keys[name]) + 1), v)] for name, v in variables.items()}))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)
    for name, keys in data.keys.items():
        looked_up = {rank + 1 for rank, key in enumerate(keys) if key in got_keys[name]}
        for rank, key in enumerate(keys):
            if rank + 1 in looked_up:
                np.testing.assert_allclose(got_keys[name][key][1], want_rows[name][rank + 1][1],
                                           rtol=0, atol=1e-6)
        # Rows nothing looked up (row 0 included) have no gradient.
        others = [g for r, (_, g) in want_rows[name].items() if r not in looked_up]
        assert not np.any(others)


# ---- training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("combiner", COMBINERS)
def test_training_matches_dense(combiner, weighted):
    """Lazy Adam (sensitive to which rows a step touches), HBM, in-step."""
    data = mm.make_data(STEPS)
    run = mm.run_mx_rec(data, combiner, weighted, OPTIMIZERS["lazy_adam"][0])
    check_against_dense(data, run, combiner, weighted, "lazy_adam")


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_every_hash_optimizer_matches_dense(opt_name):
    data = mm.make_data(STEPS)
    run = mm.run_mx_rec(data, "mean", True, OPTIMIZERS[opt_name][0])
    check_against_dense(data, run, "mean", True, opt_name)


@pytest.mark.parametrize("combiner", COMBINERS)
@pytest.mark.parametrize("cache_mode", ["DDR", "SSD"])
def test_tiered_tables_match_dense(cache_mode, combiner, tmp_path):
    """Device tiers of ~2 steps' keys: rows and Adam state travel between the tiers."""
    data = mm.make_data(STEPS)
    run = mm.run_mx_rec(data, combiner, True, OPTIMIZERS["lazy_adam"][0], cache_mode=cache_mode,
                        tmp_path=tmp_path)
    for name in ("a", "b"):
        assert run.stats[name]["evictions"] > 50 and run.stats[name]["loads"] > 20, run.stats
        if cache_mode == "SSD":
            assert run.stats[name]["ssd_loads"] > 0, run.stats
    check_against_dense(data, run, combiner, True, "lazy_adam")


@pytest.mark.parametrize("combiner, weighted", [("sum", False), ("mean", True), ("sqrtn", True)])
@pytest.mark.parametrize("cache_mode", mm.CACHE_MODES)
def test_key_feeding_modes_train_identically(cache_mode, combiner, weighted, tmp_path):
    """In-step, FeatureSpec (get_asc_insert_func) and modify_graph=True: the
    same losses bit for bit, the same table counters, and the dense result."""
    data = mm.make_data(40)
    runs = {mode: mm.run_mx_rec(data, combiner, weighted, OPTIMIZERS["lazy_adam"][0],
                                key_mode=mode, cache_mode=cache_mode, tmp_path=tmp_path / mode)
            for mode in mm.KEY_MODES}
    for mode in ("feature_spec", "modify_graph"):
        np.testing.assert_array_equal(runs[mode].losses, runs["in_step"].losses)
        assert runs[mode].stats == runs["in_step"].stats
    for mode in mm.KEY_MODES:
        check_against_dense(data, runs[mode], combiner, weighted, "lazy_adam")


def test_static_shape_mode_matches_dynamic():
    data = mm.make_data(20)
    dynamic = mm.run_mx_rec(data, "mean", True, OPTIMIZERS["adagrad"][0])
    static = mm.run_mx_rec(data, "mean", True, OPTIMIZERS["adagrad"][0], static=True)
    np.testing.assert_allclose(static.losses, dynamic.losses, rtol=0, atol=1e-6)


def test_modified_graph_runs_no_key_work_in_the_step():
    """An initializable iterator (the harness uses one-shot ones), sparse and
    ragged ids: the same losses as in-step, and no AscDedup in the step."""
    data = mm.make_data(3)
    losses = {}
    for modify in (False, True):
        with tf.Graph().as_default() as graph:
            init()
            table = create_table(tf.int64, mm.DIM, "a", tf.compat.v1.constant_initializer(0.1),
                                 1024)
            iterator = tf.compat.v1.data.make_initializable_iterator(mm.dataset(data))
            batch = iterator.get_next()
            pooled = [sparse_lookup(table, batch[f], modify_graph=modify, weights=batch[f"{f}_w"])
                      for f in ("f1", "f2")]
            loss = tf.reduce_sum(tf.add_n(pooled))
            train = lazy_adam.create_hash_optimizer(0.1).minimize(loss)
            stand_ins = {op.name for op in graph.get_operations() if op.type == "AscDedup"}
            if modify:
                assert modify_graph_and_start_emb_cache() == 2
            with tf.compat.v1.Session() as sess:
                sess.run([tf.compat.v1.global_variables_initializer(), iterator.initializer])
                assert bool(executed_ops(sess, [loss, train]) & stand_ins) is not modify
                losses[modify] = [sess.run([loss, train])[0] for _ in range(2)]
            terminate_config_initializer()
    assert losses[True] == losses[False]


# ---- mx_rec's own rules ------------------------------------------------------------------------


def _rows(table, keys, sess):
    return dict(zip(keys, table.read_rows(np.asarray(keys, np.int64), sess)))


def test_empty_samples_give_zeros_and_negative_ids_are_keys(mx):
    table = create_table(tf.int64, 4, "t", tf.compat.v1.random_uniform_initializer(-1, 1), 64)
    ids = tf.ragged.constant([[-1, 3], [], [7, 7]], dtype=tf.int64)
    pooled = {c: sparse_lookup(table, ids, combiner=c) for c in COMBINERS}
    record = graph_records.get(LOOKUP_RECORDS)[0]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        pooled, keys, looked_up = sess.run([pooled, record.keys, record.rows])
    rows = dict(zip(keys, looked_up))
    assert set(rows) == {-1, 3, 7}
    np.testing.assert_allclose(pooled["sum"][0], rows[-1] + rows[3], atol=1e-6)
    np.testing.assert_allclose(pooled["mean"][0], (rows[-1] + rows[3]) / 2, atol=1e-6)
    np.testing.assert_allclose(pooled["sqrtn"][2], 2 * rows[7] / np.sqrt(2), atol=1e-6)
    for combiner in COMBINERS:
        assert not np.any(pooled[combiner][1]), "a sample without ids gives zeros"


def test_ids_counted_as_absent_are_read_but_not_updated(mx):
    """mean/sqrtn: an id of weight <= 0 is looked up (inserted in training) but
    takes no update from it, as TF (which drops it) leaves its row alone; with
    lazy Adam an update with a zero gradient would still move the row."""
    table = create_table(tf.int64, 4, "t", tf.compat.v1.constant_initializer(0.5), 64)
    ids = tf.compat.v1.ragged.placeholder(tf.int64, 1, [])
    weights = tf.compat.v1.ragged.placeholder(tf.float32, 1, [])
    loss = tf.reduce_sum(sparse_lookup(table, ids, combiner="mean", weights=weights))
    train = lazy_adam.create_hash_optimizer(0.1).minimize(loss)

    def feed(ids_value, weights_value):
        return {ids: tf.compat.v1.ragged.RaggedTensorValue(np.int64(ids_value), np.int64([0, 2])),
                weights: tf.compat.v1.ragged.RaggedTensorValue(np.float32(weights_value),
                                                               np.int64([0, 2]))}

    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, feed([5, 6], [1.0, 1.0]))  # both get Adam moments
        before = _rows(table, [5, 6], sess)
        sess.run(train, feed([5, 9], [0.0, -1.0]))  # neither counts
        after = _rows(table, [5, 6, 9], sess)
        assert table.size(sess) == 3, "key 9 was inserted"
    for key in (5, 6):
        np.testing.assert_array_equal(after[key], before[key])
    np.testing.assert_array_equal(after[9], [0.5] * 4)


# ---- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def table(mx):
    return create_table(tf.int64, 4, "t", None, 64)


def ragged():
    return tf.ragged.constant([[1, 2], [3]], dtype=tf.int64)


def sparse():
    return tf.SparseTensor([[0, 0], [0, 1], [1, 0]], tf.constant([1, 2, 3], tf.int64), [2, 2])


def dense():
    return tf.constant([[1, 2]], tf.int64)


# (ids, keyword arguments) made in the test's graph, error, message
BAD_ARGUMENTS = [
    (lambda: (ragged(), dict(combiner="max")), ValueError,
     r"lookup 'bad': combiner must be one of sum, mean, sqrtn .*got 'max'"),
    (lambda: (dense(), dict(combiner="mean")), ValueError,
     "combiner applies to multi-hot ids .*RaggedTensor.from_tensor"),
    (lambda: (dense(), dict(weights=tf.constant([[1.0, 1.0]]))), ValueError,
     "weights applies to multi-hot ids"),
    (lambda: (sparse(), dict(weights=tf.ragged.constant([[1.0, 1.0], [1.0]]))), TypeError,
     "weights must be a SparseTensor like the ids"),
    (lambda: (ragged(), dict(weights=tf.ragged.constant([[1, 1], [1]]))), TypeError,
     "weights must be floating point, got int32"),
    (lambda: (sparse(), dict(weights=tf.SparseTensor([[0, 0]], [1.0], [2, 2]))), ValueError,
     r"weights.indices must equal the ids' indices; shapes \(3, 2\) and \(1, 2\) differ"),
    (lambda: (tf.SparseTensor([[0, 0, 0]], tf.constant([1], tf.int64), [1, 1, 1]), {}),
     ValueError, "multi-hot ids must be 2-D .*got a 3-D SparseTensor"),
    (lambda: (tf.ragged.constant([[[1]], [[2, 3]]], dtype=tf.int64), {}), ValueError,
     "got a 3-D RaggedTensor"),
    (lambda: (tf.SparseTensor([[0, 0]], [1.5], [1, 1]), {}), TypeError,
     "lookup 'bad': SparseTensor ids must hold int32 or int64 values, got float32"),
    (lambda: (tf.ragged.constant([["a"]]), {}), TypeError,
     "RaggedTensor ids must hold int32 or int64 values, got string"),
    (lambda: (tf.ragged.constant([[1]], dtype=tf.int16), {}), TypeError,
     "RaggedTensor ids must hold int32 or int64 values, got int16"),
]


@pytest.mark.parametrize("make, error, match", BAD_ARGUMENTS)
def test_bad_arguments_are_clear_errors(table, make, error, match):
    ids, kwargs = make()
    with pytest.raises(error, match=match):
        sparse_lookup(table, ids, name="bad", **kwargs)
    with pytest.raises(error, match=match.replace("lookup 'bad'", "lookup 'bad'")):
        sparse_lookup(table, ids, name="bad", is_train=False, **kwargs)


def fed(value):
    """value as a tensor known at run time only (no constant folding)."""
    value = np.asarray(value, np.int64)
    return tf.compat.v1.placeholder_with_default(value, [None] * value.ndim)


@pytest.mark.parametrize("make_weights, field", [
    (lambda: tf.SparseTensor(fed([[0, 0], [1, 0], [1, 1]]), [1.0] * 3, [2, 2]), "indices"),
    (lambda: tf.SparseTensor([[0, 0], [0, 1], [1, 0]], [1.0] * 3, fed([2, 3])), "dense_shape"),
    (lambda: tf.RaggedTensor.from_row_splits([1.0] * 3, fed([0, 1, 3])), "row_splits"),
])
def test_weights_laid_out_unlike_the_ids_fail_the_step(table, make_weights, field):
    weights = make_weights()
    ids = sparse() if isinstance(weights, tf.SparseTensor) else ragged()
    pooled = sparse_lookup(table, ids, weights=weights, name="tags")
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        message = f"tags.{{1,3}}: weights.{field} must equal the ids.{{1,3}}{field}"
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            sess.run(pooled)


def _tags_dataset():
    tags = tf.RaggedTensor.from_row_lengths(np.int64([1, 2, 3, 4, 5]), [2, 0, 3])
    return tf.data.Dataset.from_tensor_slices({"tags": tags, "x": np.int64([[1, 2], [3, 4],
                                                                           [5, 6]])}).batch(3)


def test_feature_spec_misuse_is_a_clear_error(table):
    spec, dense_spec = FeatureSpec("tags", table_name="t"), FeatureSpec("x", table_name="t")
    keyed = _tags_dataset().map(get_asc_insert_func([spec, dense_spec]))
    batch = tf.compat.v1.data.make_one_shot_iterator(keyed).get_next()
    with pytest.raises(ValueError, match=r"feature 'x': combiner and weights need the batch's "
                                         r"multi-hot ids batch\['x'\] .* got dense tensor"):
        sparse_lookup(table, dense_spec, batch=batch, combiner="sum")
    # The feature changed after the key pipeline ran: the step fails, naming the lookup.
    changed = keyed.map(lambda b: dict(b, tags=b["tags"][:, :1]))
    batch = tf.compat.v1.data.make_one_shot_iterator(changed).get_next()
    pooled = sparse_lookup(table, spec, batch=batch, name="tags_lookup")
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"tags_lookup.{1,3}: the key pipeline.{1,3}s keys do not "
                                 "match"):
            sess.run(pooled)
    cube = tf.data.Dataset.from_tensors({"tags": tf.SparseTensor([[0, 0, 0]], np.int64([1]),
                                                                 [1, 1, 1])})
    with pytest.raises(ValueError, match="feature 'tags': multi-hot ids must be 2-D"):
        cube.map(get_asc_insert_func([spec]))


def test_modify_graph_needs_multi_hot_ids_straight_from_the_iterator(table):
    batch = tf.compat.v1.data.make_one_shot_iterator(_tags_dataset()).get_next()
    ragged = tf.RaggedTensor.from_tensor(batch["x"], padding=2)
    sparse_lookup(table, ragged, modify_graph=True, name="padded")
    with pytest.raises(ValueError, match="lookup 'padded': modify_graph=True needs ids read "
                                         "straight from a tf.data iterator.*FeatureSpec mode"):
        modify_graph_and_start_emb_cache()
