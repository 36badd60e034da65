"""Export for serving: SavedModels whose tables are standard TensorFlow ops.

The parity tests train the two-table model of model_harness in a subprocess
(tests/export_model.py), export it from its checkpoint, and load the export in
another subprocess in which mx_rec cannot be imported (tf.saved_model.load)
and with saved_model_cli run: predictions must equal the training graph's
eval predictions on held-out rows (ids never seen included) to 1e-6, in HBM,
DDR and SSD mode, with feature admission (unadmitted keys read the default
value in both).
"""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.saved_model import loader_impl

import model_harness as mh
import mx_rec.export
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad, lazy_adam, minimize
from table_scenarios import table_kwargs

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_model.py")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _run(args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env=ENV, **kwargs)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done.stdout


def op_types(export_dir):
    meta = loader_impl.parse_saved_model(export_dir).meta_graphs[0]
    return {n.op for n in meta.graph_def.node}


def _trained_keys(n_steps, threshold):
    """Keys of table a seen in training, and those seen often enough to be admitted."""
    _, _, batches = mh.make_data(40, seed=7)
    counts = {}
    for batch in batches[:n_steps]:
        for key in np.concatenate([batch["f1"].ravel(), batch["f2"].ravel()]):
            counts[key] = counts.get(key, 0) + 1
    return set(counts), {k for k, c in counts.items() if c >= threshold}


@pytest.mark.slow
@pytest.mark.parametrize("mode,faae", [("HBM", "off"), ("HBM", "on"), ("DDR", "on"),
                                       ("SSD", "on")])
def test_export_serves_eval_predictions_without_mx_rec(tmp_path, mode, faae):
    out = _run([sys.executable, SCRIPT, "train", str(tmp_path), mode, faae])
    export, export_fp16 = out.split()[-2:]
    assert not any(t.startswith("Asc") for t in op_types(export)), op_types(export)
    assert {"HashTableV2", "LookupTableFindV2"} <= op_types(export)
    _run([sys.executable, SCRIPT, "serve", str(tmp_path), export, export_fp16])
    held = np.load(tmp_path / "expected.npz")
    expected = held["expected"]
    served = np.load(tmp_path / "served-0.npy")
    assert np.abs(served - expected).max() <= 1e-6
    fp16_diff = np.abs(np.load(tmp_path / "served-1.npy") - expected).max()
    assert 0 < fp16_diff <= 1e-3, fp16_diff
    # The held-out rows hold ids the table never saw (and, with FAAE, ids seen
    # too rarely to be admitted): the export holds exactly the admitted keys.
    keys = np.fromfile(glob.glob(f"{export}/assets/a.keys")[0], np.int64)
    seen, admitted = _trained_keys(export_model_steps(), 3 if faae == "on" else 1)
    assert set(keys.tolist()) == admitted
    if faae == "on":
        assert len(admitted) < len(seen)
    held_ids = set(held["f1"].ravel()) | set(held["f2"].ravel())
    assert held_ids - seen and held_ids & admitted
    # saved_model_cli (no mx_rec anywhere in its process) gives the same.
    inputs = []
    for name in ("f1", "f2", "f3"):
        np.save(tmp_path / f"{name}.npy", held[name])
        inputs.append(f"{name}={tmp_path / (name + '.npy')}")
    _run(["saved_model_cli", "run", "--dir", export, "--tag_set", "serve", "--signature_def",
          "serving_default", "--inputs", ";".join(inputs), "--outdir", str(tmp_path / "cli")])
    assert np.abs(np.load(tmp_path / "cli" / "prob.npy") - expected).max() <= 1e-6


def export_model_steps():
    sys.path.insert(0, os.path.dirname(SCRIPT))
    import export_model  # pylint: disable=import-outside-toplevel
    return export_model.TRAIN_STEPS


# ---- in-process exports of a small one-table model -------------------------------


FEATURES = {"ids": tf.TensorSpec([3], tf.int64), "x": tf.TensorSpec([2], tf.float32)}


def _model(table, features, is_train=False):
    emb = tf.reduce_mean(sparse_lookup(table, features["ids"], is_train=is_train), 1)
    with tf.compat.v1.variable_scope("dense", reuse=tf.compat.v1.AUTO_REUSE):
        logits = tf.compat.v1.layers.dense(tf.concat([emb, features["x"]], 1), 1, name="out")
    return {"prob": tf.sigmoid(logits)[:, 0]}


def _batches(n, seed=0):
    rng = np.random.RandomState(seed)
    return [dict(ids=rng.zipf(1.3, size=(16, 3)).astype(np.int64) * 31,
                 x=rng.normal(size=(16, 2)).astype(np.float32)) for _ in range(n)]


@pytest.fixture
def trained(tmp_path, mx):
    """A session holding a trained one-table model, its checkpoint and eval predictions."""
    table = create_table(tf.int64, 4, "emb", tf.compat.v1.random_normal_initializer(0, 0.1),
                         device_vocabulary_size=500, default_value=0.5)
    ph = {"ids": tf.compat.v1.placeholder(tf.int64, [None, 3]),
          "x": tf.compat.v1.placeholder(tf.float32, [None, 2])}
    prob = _model(table, ph, is_train=True)["prob"]
    loss = -tf.reduce_mean(tf.math.log(prob + 1e-6))
    train_op = adagrad.create_hash_optimizer(0.5).minimize(loss)
    eval_prob = _model(table, ph)["prob"]
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    for batch in _batches(5):
        sess.run(train_op, {ph[k]: v for k, v in batch.items()})
    held = _batches(1, seed=9)[0]
    expected = sess.run(eval_prob, {ph[k]: v for k, v in held.items()})
    prefix = tf.compat.v1.train.Saver().save(sess, str(tmp_path / "ckpt" / "model.ckpt"))
    yield dict(table=table, sess=sess, prefix=prefix, held=held, expected=expected,
               model_fn=lambda f: _model(table, f))
    sess.close()


def _serve(export_dir, feeds):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        return sess.run(signature.outputs["prob"].name,
                        {signature.inputs[k].name: v for k, v in feeds.items()})


def test_export_from_session_and_checkpoint_agree(tmp_path, trained):
    from_ckpt = mx_rec.export.export_saved_model(tmp_path / "a", trained["model_fn"], FEATURES,
                                                 checkpoint_path=trained["prefix"])
    from_dir = mx_rec.export.export_saved_model(tmp_path / "b", trained["model_fn"], FEATURES,
                                                checkpoint_path=tmp_path / "ckpt")
    from_sess = mx_rec.export.export_saved_model(tmp_path / "c", trained["model_fn"], FEATURES,
                                                 sess=trained["sess"])
    for path in (from_ckpt, from_dir, from_sess):
        np.testing.assert_allclose(_serve(path, trained["held"]), trained["expected"], atol=1e-6)


def test_single_placeholder_batch_size_and_names(tmp_path, trained):
    held = trained["held"]
    lines = [",".join(str(v) for v in list(i) + list(x)) for i, x in zip(held["ids"], held["x"])]
    single = mx_rec.export.export_saved_model(tmp_path / "s", trained["model_fn"], FEATURES,
                                              checkpoint_path=trained["prefix"],
                                              multi_placeholder=False)
    np.testing.assert_allclose(_serve(single, {"features": np.array(lines)}),
                               trained["expected"], atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must hold 5 values"):
        _serve(single, {"features": np.array(["1,2,3,0.5"])})
    fixed = mx_rec.export.export_saved_model(tmp_path / "f", trained["model_fn"], FEATURES,
                                             checkpoint_path=trained["prefix"], batch_size=16,
                                             placeholder_named_by_input=True)
    meta = loader_impl.parse_saved_model(fixed).meta_graphs[0]
    inputs = meta.signature_def["serving_default"].inputs
    assert inputs["ids"].name == "ids:0" and inputs["x"].name == "x:0"
    assert [d.size for d in inputs["ids"].tensor_shape.dim] == [16, 3]
    default = mx_rec.export.export_saved_model(tmp_path / "d", trained["model_fn"], FEATURES,
                                               checkpoint_path=trained["prefix"])
    inputs = loader_impl.parse_saved_model(default).meta_graphs[0].signature_def[
        "serving_default"].inputs
    assert inputs["ids"].name == "input_0:0" and inputs["x"].name == "input_1:0"
    assert [d.size for d in inputs["ids"].tensor_shape.dim] == [-1, 3]


def test_assets_done_file_clear_export_and_atomicity(tmp_path, trained):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    base = tmp_path / "exports"
    first = mx_rec.export.export_saved_model(base, trained["model_fn"], FEATURES,
                                             checkpoint_path=trained["prefix"],
                                             asset_files=[str(vocab)], export_done_file="DONE")
    assert (tmp_path / "exports" / os.path.basename(first) / "assets" / "vocab.txt").read_text() \
        == "a\nb\n"
    assert os.path.isfile(os.path.join(first, "DONE"))
    second = mx_rec.export.export_saved_model(base, trained["model_fn"], FEATURES,
                                              checkpoint_path=trained["prefix"])
    assert sorted(os.listdir(base)) == sorted([os.path.basename(first), os.path.basename(second)])
    assert not os.path.exists(os.path.join(second, "DONE"))

    def failing(features):
        _model(trained["table"], features)
        raise RuntimeError("model_fn failed")

    with pytest.raises(RuntimeError, match="model_fn failed"):
        mx_rec.export.export_saved_model(base, failing, FEATURES, checkpoint_path=trained["prefix"])
    assert sorted(os.listdir(base)) == sorted([os.path.basename(first), os.path.basename(second)])
    third = mx_rec.export.export_saved_model(base, trained["model_fn"], FEATURES,
                                             checkpoint_path=trained["prefix"], clear_export=True)
    assert os.listdir(base) == [os.path.basename(third)]


def test_bad_arguments_are_clear_errors(tmp_path, trained):
    export = mx_rec.export.export_saved_model
    args = (tmp_path / "e", trained["model_fn"], FEATURES)
    with pytest.raises(ValueError, match="batch_size must be -1"):
        export(*args, checkpoint_path=trained["prefix"], batch_size=0)
    with pytest.raises(ValueError, match="asset_files: '.*nope' is not a file"):
        export(*args, checkpoint_path=trained["prefix"], asset_files=[str(tmp_path / "nope")])
    with pytest.raises(TypeError, match="fp16 must be a bool"):
        export(*args, checkpoint_path=trained["prefix"], fp16="yes")
    with pytest.raises(ValueError, match="exactly one of checkpoint_path"):
        export(*args)
    with pytest.raises(ValueError, match="neither a checkpoint directory nor"):
        export(*args, checkpoint_path=str(tmp_path / "missing"))
    with pytest.raises(TypeError, match="features\\['ids'\\] must be a tf.TensorSpec"):
        export(tmp_path / "e", trained["model_fn"], {"ids": [3]}, checkpoint_path=trained["prefix"])
    other = create_table(tf.int64, 4, "other", device_vocabulary_size=10)
    with pytest.raises(ValueError, match="holds no table 'other'"):
        export(tmp_path / "e", lambda f: {"y": sparse_lookup(other, f["ids"])}, FEATURES,
               checkpoint_path=trained["prefix"])
    assert not os.path.exists(tmp_path / "e") or os.listdir(tmp_path / "e") == []


def test_simple_save_of_a_training_graph_is_refused(tmp_path, trained):
    graph = trained["sess"].graph
    with graph.as_default():
        ids = graph.get_operations()[0].graph.get_tensor_by_name("Placeholder:0")
        with pytest.raises(ValueError, match="mx_rec.export.export_saved_model"):
            tf.compat.v1.saved_model.simple_save(trained["sess"], str(tmp_path / "simple"),
                                                 {"ids": ids}, {"ids": ids})


def test_a_table_without_rows_serves_its_default_value(tmp_path, mx):
    table = create_table(tf.int64, 4, "empty", device_vocabulary_size=10, default_value=0.5)
    ph = tf.compat.v1.placeholder(tf.int64, [None, 3])
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sparse_lookup(table, ph)  # the table exists in the graph
        path = mx_rec.export.export_saved_model(
            tmp_path / "e", lambda f: {"prob": sparse_lookup(table, f["ids"])},
            {"ids": FEATURES["ids"]}, sess=sess)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], path)
        signature = meta.signature_def["serving_default"]
        rows = sess.run(signature.outputs["prob"].name,
                        {signature.inputs["ids"].name: [[1, 2, 3]]})
    np.testing.assert_array_equal(rows, np.full([1, 3, 4], 0.5, np.float32))


# ---- Estimator -----------------------------------------------------------------------


def _estimator_model_fn(features, labels, mode):
    table = create_table(tf.int64, 4, "user", tf.compat.v1.random_uniform_initializer(-.1, .1),
                         **table_kwargs("DDR", _estimator_model_fn.tmp, device=100, host=400))
    training = mode == tf.estimator.ModeKeys.TRAIN
    emb = sparse_lookup(table, features["ids"], is_train=training)
    logits = tf.compat.v1.layers.dense(tf.reduce_mean(emb, 1), 1)[:, 0]
    prob = tf.sigmoid(logits)
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions={"prob": prob})
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    train_op = minimize(loss, tf.compat.v1.train.AdamOptimizer(0.01),
                        lazy_adam.create_hash_optimizer(0.05),
                        global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def test_estimator_export_saved_model_freezes_tables(tmp_path, mx):
    _estimator_model_fn.tmp = tmp_path
    rng = np.random.RandomState(0)
    ids = (rng.zipf(1.2, size=(256, 3)) * 7).astype(np.int64)
    labels = (ids[:, 0] % 2).astype(np.float32)
    estimator = tf.estimator.Estimator(_estimator_model_fn, model_dir=str(tmp_path / "model"))
    estimator.train(lambda: tf.data.Dataset.from_tensor_slices(({"ids": ids}, labels))
                    .repeat(2).batch(32))
    held = (np.random.RandomState(5).zipf(1.2, size=(64, 3)) * 7).astype(np.int64)
    predicted = np.array([p["prob"] for p in estimator.predict(
        lambda: tf.data.Dataset.from_tensor_slices({"ids": held}).batch(64))])
    features = {"ids": tf.TensorSpec([3], tf.int64)}
    plain = estimator.export_saved_model(
        str(tmp_path / "plain"), mx_rec.export.serving_input_receiver_fn(features)).decode()
    ours = mx_rec.export.export_estimator(estimator, tmp_path / "ours", features,
                                          export_done_file="DONE", fp16=True)
    assert os.path.isfile(os.path.join(ours, "DONE"))
    for path, tolerance in ((plain, 1e-6), (ours, 1e-3)):
        assert not any(t.startswith("Asc") for t in op_types(path))
        np.testing.assert_allclose(_serve(path, {"ids": held}), predicted, atol=tolerance)
    assert os.path.getsize(os.path.join(ours, "assets", "user.rows")) * 2 == \
        os.path.getsize(os.path.join(plain, "assets", "user.rows"))


def test_feature_spec_lookups_read_their_index_key_when_exporting(tmp_path, mx):
    table = create_table(tf.int64, 4, "t", device_vocabulary_size=50)
    spec = FeatureSpec("clicks", table_name="t", index_key="click_ids")
    ph = tf.compat.v1.placeholder(tf.int64, [None, 2])
    train_op = adagrad.create_hash_optimizer(0.1).minimize(tf.reduce_sum(sparse_lookup(table, ph)))
    read = sparse_lookup(table, ph, is_train=False)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train_op, {ph: [[5, 6]]})
        trained = sess.run(read, {ph: [[5, 6], [6, 7]]})
        path = mx_rec.export.export_saved_model(
            tmp_path / "e", lambda f: {"rows": sparse_lookup(table, spec, batch=f)},
            {"click_ids": tf.TensorSpec([2], tf.int64)}, sess=sess)
        with pytest.raises(ValueError, match="reads the raw ids batch\\['click_ids'\\]"):
            mx_rec.export.export_saved_model(
                tmp_path / "e2", lambda f: {"rows": sparse_lookup(table, spec, batch=f)},
                {"other": tf.TensorSpec([2], tf.int64)}, sess=sess)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], path)
        signature = meta.signature_def["serving_default"]
        served = sess.run(signature.outputs["rows"].name,
                          {signature.inputs["click_ids"].name: [[5, 6], [6, 7]]})
    np.testing.assert_array_equal(served, trained)


@pytest.mark.slow
@pytest.mark.parametrize("key_mode", ["feature_spec", "modify_graph"])
def test_dlrm_example_export_serves_its_eval_scores_in_plain_tf(tmp_path, key_mode):
    """examples/dlrm: --export-dir exports the checkpoint; serve.py (mx_rec
    unimportable) scores the same eval rows with the same AUC and log loss."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "examples", "dlrm")

    def scores(out):
        return [line for line in out.splitlines() if line.startswith(("eval AUC", "eval rows"))]

    trained = scores(_run([sys.executable, os.path.join(here, "train.py"), "--steps", "60",
                           "--cache-mode", "DDR", "--device-vocab-size", "256", "--faae", "1",
                           "--key-mode", key_mode, "--model-dir", str(tmp_path / "model"),
                           "--export-dir", str(tmp_path / "export")]))
    served = scores(_run([sys.executable, os.path.join(here, "serve.py"),
                          "--export-dir", str(tmp_path / "export")]))
    assert len(trained) == 2 and served == trained


def test_exporting_a_session_leaves_incremental_checkpoints_alone(tmp_path):
    """sess= exports save nothing: the session's next save is still a delta on
    its own chain, and restoring it gives the trained rows."""
    from mx_rec.util.initialize import init  # pylint: disable=import-outside-toplevel
    init(is_incremental_checkpoint=True)
    table = create_table(tf.int64, 4, "t", tf.compat.v1.random_normal_initializer(0, 0.1, seed=3),
                         device_vocabulary_size=100)
    ph = tf.compat.v1.placeholder(tf.int64, [None])
    train_op = adagrad.create_hash_optimizer(0.3).minimize(
        tf.reduce_sum(tf.square(sparse_lookup(table, ph) - 1.0)))
    read = sparse_lookup(table, ph, is_train=False)
    saver = tf.compat.v1.train.Saver()
    keys = np.arange(1, 40, dtype=np.int64)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train_op, {ph: keys[:20]})
        saver.save(sess, str(tmp_path / "ckpt" / "model.ckpt"), global_step=1)
        sess.graph.finalize()
        sess.run(train_op, {ph: keys[10:]})
        path = mx_rec.export.export_saved_model(
            tmp_path / "e", lambda f: {"rows": sparse_lookup(table, f["ids"])},
            {"ids": tf.TensorSpec([], tf.int64)}, sess=sess)
        sess.run(train_op, {ph: keys[30:]})
        expected = sess.run(read, {ph: keys})
        prefix = saver.save(sess, str(tmp_path / "ckpt" / "model.ckpt"), global_step=2)
    assert "delta" in open(glob.glob(prefix + ".mx_rec/*/manifest.json")[0]).read()
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, prefix)
        np.testing.assert_array_equal(sess.run(read, {ph: keys}), expected)
    served = _serve_rows(path, keys)
    np.testing.assert_array_equal(served[:30], expected[:30])   # untouched after the export
    assert not np.array_equal(served[30:], expected[30:])


def _serve_rows(export_dir, ids):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], export_dir)
        signature = meta.signature_def["serving_default"]
        return sess.run(signature.outputs["rows"].name, {signature.inputs["ids"].name: ids})


def test_fp16_refuses_rows_beyond_its_range(tmp_path, mx):
    table = create_table(tf.int64, 2, "big", tf.compat.v1.constant_initializer(1e5),
                         device_vocabulary_size=10)
    ph = tf.compat.v1.placeholder(tf.int64, [None])
    train_op = adagrad.create_hash_optimizer(0.1).minimize(tf.reduce_sum(sparse_lookup(table, ph)))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train_op, {ph: [1, 2]})
        model_fn = lambda f: {"rows": sparse_lookup(table, f["ids"])}  # noqa: E731
        features = {"ids": tf.TensorSpec([], tf.int64)}
        with pytest.raises(ValueError, match="fp16: table 'big' holds values beyond"):
            mx_rec.export.export_saved_model(tmp_path / "e", model_fn, features, sess=sess,
                                             fp16=True)
        path = mx_rec.export.export_saved_model(tmp_path / "e", model_fn, features, sess=sess)
    assert os.listdir(tmp_path / "e") == [os.path.basename(path)]
    assert _serve_rows(path, np.array([1, 2]))[0, 0] > 65504


def test_concurrent_exports_into_one_base_are_each_whole(tmp_path, trained):
    import threading  # pylint: disable=import-outside-toplevel
    paths, errors = [], []

    def export():
        try:
            paths.append(mx_rec.export.export_saved_model(
                tmp_path / "base", trained["model_fn"], FEATURES,
                checkpoint_path=trained["prefix"]))
        except Exception as e:  # pylint: disable=broad-except
            errors.append(e)

    threads = [threading.Thread(target=export) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(paths)) == 3
    assert sorted(os.listdir(tmp_path / "base")) == sorted(os.path.basename(p) for p in paths)
    for path in paths:
        np.testing.assert_allclose(_serve(path, trained["held"]), trained["expected"], atol=1e-6)


def test_abandoned_temporary_exports_are_swept(tmp_path, trained):
    base = tmp_path / "base"
    dead = base / "temp-999999999-abc" / "export"
    live = base / f"temp-{os.getpid()}-xyz"
    dead.mkdir(parents=True)
    live.mkdir()
    path = mx_rec.export.export_saved_model(base, trained["model_fn"], FEATURES,
                                            checkpoint_path=trained["prefix"])
    assert sorted(os.listdir(base)) == sorted([os.path.basename(path), live.name])


def test_misuse_is_refused_with_a_clear_error(tmp_path, trained):
    export = mx_rec.export.export_saved_model

    def training_model(features):
        outputs = trained["model_fn"](features)
        tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(-outputs["prob"][0])
        return outputs

    with pytest.raises(ValueError, match="serving graph updates variables"):
        export(tmp_path / "e", training_model, FEATURES, checkpoint_path=trained["prefix"])

    def renamed_model(features):
        with tf.compat.v1.variable_scope("renamed"):
            return trained["model_fn"](features)

    with pytest.raises(ValueError, match="has no variable renamed/dense/out/bias of the serving"):
        export(tmp_path / "e", renamed_model, FEATURES, checkpoint_path=trained["prefix"])
    with pytest.raises(ValueError, match="clear_export would remove"):
        export(tmp_path, trained["model_fn"], FEATURES, checkpoint_path=trained["prefix"],
               clear_export=True)
    assert os.path.exists(trained["prefix"] + ".index")
    clash = tmp_path / "emb.rows"
    clash.write_text("mine")
    with pytest.raises(ValueError, match="same file name"):
        export(tmp_path / "e", trained["model_fn"], FEATURES, checkpoint_path=trained["prefix"],
               asset_files=[str(clash)])

    def wider_table(features):
        wider = create_table(tf.int64, 5, "emb", device_vocabulary_size=10)
        return {"y": sparse_lookup(wider, features["ids"])}

    with pytest.raises(ValueError, match="table 'emb'.*dim"):
        export(tmp_path / "e", wider_table, FEATURES, checkpoint_path=trained["prefix"])
    assert os.listdir(tmp_path / "e") == []


def test_a_session_export_finds_tables_by_name(tmp_path, trained):
    """A model_fn that creates its tables (as an Estimator's does) exports a
    session's values: tables are matched by name."""
    def own_tables(features):
        table = create_table(tf.int64, 4, "emb", device_vocabulary_size=500, default_value=0.5)
        return _model(table, features)

    path = mx_rec.export.export_saved_model(tmp_path / "e", own_tables, FEATURES,
                                            sess=trained["sess"])
    np.testing.assert_allclose(_serve(path, trained["held"]), trained["expected"], atol=1e-6)
