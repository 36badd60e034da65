"""tf.estimator.Estimator end to end (finding 6 of "Tables owned by TensorFlow").

train -> evaluate -> train -> predict in one process: every call builds its
own graph and runs its own session, so tables created in model_fn are
created once per graph (no "already exists"), and a table created before the
Estimator serves every graph it is used in (no graph mismatch). The rows a
train call ends with reach the other calls through the Estimator's
checkpoints (mx_rec/checkpoint/saveable.py): evaluate and predict compute
with exactly those rows, the next train call starts from them, and
keep_checkpoint_max prunes table directories with their TF checkpoints.
"""

import gc
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import lazy_adam, minimize
from table_scenarios import table_kwargs

DIM = 8
IDS = 3


def make_data(seed):
    """(ids [512, IDS], labels [512]) of input_fn(seed), in order."""
    rng = np.random.RandomState(seed)
    ids = rng.zipf(1.2, size=(512, IDS)).astype(np.int64) * 7919
    return ids, (ids[:, 0] % 2).astype(np.float32)


def input_fn(seed, epochs=None):
    ids, labels = make_data(seed)

    def fn():
        ds = tf.data.Dataset.from_tensor_slices(({"ids": ids}, labels))
        return ds.repeat(epochs).batch(32)
    return fn


def make_model_fn(tier, table=None, made=None):
    """model_fn over `table`, or over a table "user" it creates; `made`
    (a dict) gets the table of the graph built last."""
    def model_fn(features, labels, mode):
        user = table or create_table(tf.int64, DIM, "user",
                                     emb_initializer=tf.compat.v1.random_uniform_initializer(
                                         -0.1, 0.1, seed=1), **tier)
        if made is not None:
            made["table"] = user
        training = mode == tf.estimator.ModeKeys.TRAIN
        emb = sparse_lookup(user, features["ids"], is_train=training)
        logits = tf.compat.v1.layers.dense(tf.reduce_mean(emb, 1), 1)[:, 0]
        prob = tf.sigmoid(logits)
        if mode == tf.estimator.ModeKeys.PREDICT:
            return tf.estimator.EstimatorSpec(mode, predictions={"prob": prob})
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                                      logits=logits))
        if mode == tf.estimator.ModeKeys.EVAL:
            return tf.estimator.EstimatorSpec(
                mode, loss=loss, eval_metric_ops={"auc": tf.compat.v1.metrics.auc(labels, prob)})
        train_op = minimize(loss, tf.compat.v1.train.AdamOptimizer(0.01),
                            lazy_adam.create_hash_optimizer(0.01),
                            global_step=tf.compat.v1.train.get_global_step())
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
    return model_fn


EVAL_STEPS = 5  # evaluate reads the first EVAL_STEPS * 32 examples of input_fn(1)


class ReadTraining(tf.compat.v1.train.SessionRunHook):
    """Reads, in a train call's own session, the rows of `keys` and the table
    size when the session starts (restored) and ends (trained), and the dense
    layer's variables at the end."""

    def __init__(self, made, keys):
        self._made = made
        self._keys = keys

    def begin(self):
        self._table = self._made["table"]
        self._dense = {v.op.name: v for v in tf.compat.v1.trainable_variables()}

    def _read(self, session):
        return self._table.read_rows(self._keys, session), self._table.size(session)

    def after_create_session(self, session, coord):
        self.start_rows, self.start_size = self._read(session)

    def end(self, session):
        self.end_rows, self.end_size = self._read(session)
        self.dense = session.run(self._dense)


def predict(estimator):
    """Predicted probabilities of every example of input_fn(1), in order."""
    return np.concatenate([p["prob"] for p in estimator.predict(
        input_fn(1, epochs=1), yield_single_examples=False)])


def predict_from(trained, ids, keys):
    """What model_fn predicts for `ids` from the rows and dense variables a
    ReadTraining hook read in the training session."""
    row_of = {int(k): r for k, r in zip(keys, trained.end_rows)}
    emb = np.array([[row_of[int(k)] for k in row] for row in ids], np.float64)
    logits = emb.mean(1) @ trained.dense["dense/kernel"].astype(np.float64)[:, 0] + \
        trained.dense["dense/bias"][0]
    return 1 / (1 + np.exp(-logits))


def log_loss(labels, prob):
    prob = prob.astype(np.float64)
    return float(np.mean(-labels * np.log(prob) - (1 - labels) * np.log(1 - prob)))


def tf_auc(labels, prob, num_thresholds=200):
    """tf.compat.v1.metrics.auc (ROC, trapezoidal, 200 thresholds) in numpy."""
    thresholds = np.array([-1e-7] + [(i + 1) / (num_thresholds - 1)
                                     for i in range(num_thresholds - 2)] + [1 + 1e-7], np.float32)
    positive = prob[None, :] > thresholds[:, None]
    label = labels[None, :] > 0
    tp = (positive & label).sum(1).astype(np.float64)
    fp = (positive & ~label).sum(1).astype(np.float64)
    fn = (~positive & label).sum(1).astype(np.float64)
    tn = (~positive & ~label).sum(1).astype(np.float64)
    recall = (tp + 1e-6) / (tp + fn + 1e-6)
    fp_rate = fp / (fp + tn + 1e-6)
    return float(np.sum((fp_rate[:-1] - fp_rate[1:]) * (recall[:-1] + recall[1:]) / 2))


def table_checkpoint_manifest(model_dir):
    """The manifest of table "user" in the latest checkpoint of model_dir."""
    prefix = tf.train.latest_checkpoint(model_dir)
    entry = tf.train.load_checkpoint(prefix).get_tensor("mx_rec/user/checkpoint").decode()
    with open(os.path.join(prefix + ".mx_rec", entry, "manifest.json")) as f:
        return json.load(f)


def checkpoint_files(model_dir):
    """(steps of TF checkpoints, steps of table directories) in model_dir."""
    names = os.listdir(model_dir)
    tf_steps = sorted(int(n[len("model.ckpt-"):-len(".index")]) for n in names
                      if n.startswith("model.ckpt-") and n.endswith(".index"))
    table_steps = sorted(int(n[len("model.ckpt-"):-len(".mx_rec")]) for n in names
                         if n.startswith("model.ckpt-") and n.endswith(".mx_rec"))
    return tf_steps, table_steps


@pytest.mark.parametrize("inside", [True, False], ids=["table_in_model_fn", "table_outside"])
@pytest.mark.parametrize("mode", ("HBM", "DDR", "SSD"))
def test_train_evaluate_train_predict(mx, tmp_path, mode, inside):
    """Every call runs, and evaluate, predict and the next train see exactly
    the rows the last train call ended with."""
    tier = table_kwargs(mode, tmp_path, device=128, host=1024, ssd=4096)
    table = None if inside else create_table(
        tf.int64, DIM, "user", emb_initializer=tf.compat.v1.random_uniform_initializer(-0.1, 0.1),
        **tier)
    made = {}
    model_dir = str(tmp_path / "model")
    estimator = tf.estimator.Estimator(
        make_model_fn(tier, table, made), model_dir=model_dir,
        config=tf.estimator.RunConfig(log_step_count_steps=None, save_checkpoints_steps=5,
                                      keep_checkpoint_max=2))
    untrained = predict(tf.estimator.Estimator(
        make_model_fn(tier, table), model_dir=str(tmp_path / "untrained"),
        config=tf.estimator.RunConfig(log_step_count_steps=None)))
    ids, labels = make_data(1)
    keys = np.unique(ids)
    n_eval = EVAL_STEPS * 32

    first_train = ReadTraining(made, keys)
    estimator.train(input_fn(0), steps=20, hooks=[first_train])
    assert first_train.start_size == 0 and first_train.end_size > 0
    assert checkpoint_files(model_dir) == ([15, 20], [15, 20])
    manifest = table_checkpoint_manifest(model_dir)
    assert (manifest["global_step"], manifest["rows"]) == (20, first_train.end_size)

    first = estimator.evaluate(input_fn(1, epochs=1), steps=EVAL_STEPS)
    assert first["global_step"] == 20
    prob = predict(estimator)
    assert len(prob) == 512 and np.all((prob > 0) & (prob < 1))
    # Predict computes with the trained rows (not fresh or empty ones) ...
    np.testing.assert_allclose(prob, predict_from(first_train, ids, keys), rtol=0, atol=1e-6)
    assert np.max(np.abs(prob - untrained)) > 1e-3
    # ... every time ...
    np.testing.assert_array_equal(predict(estimator), prob)
    # ... and evaluate with the same ones.
    assert abs(first["loss"] - log_loss(labels[:n_eval], prob[:n_eval])) <= 1e-5
    assert abs(first["auc"] - tf_auc(labels[:n_eval], prob[:n_eval])) <= 1e-5

    # The next train call continues from the checkpoint: same rows, same keys.
    second_train = ReadTraining(made, keys)
    estimator.train(input_fn(2), steps=15, hooks=[second_train])
    np.testing.assert_array_equal(second_train.start_rows, first_train.end_rows)
    assert second_train.start_size == first_train.end_size
    assert second_train.end_size >= first_train.end_size
    # keep_checkpoint_max=2: older TF checkpoints went with their table directories.
    assert checkpoint_files(model_dir) == ([30, 35], [30, 35])
    manifest = table_checkpoint_manifest(model_dir)
    assert (manifest["global_step"], manifest["rows"]) == (35, second_train.end_size)

    second = estimator.evaluate(input_fn(1, epochs=1), steps=EVAL_STEPS)
    assert second["global_step"] == 35
    prob = predict(estimator)
    np.testing.assert_allclose(prob, predict_from(second_train, ids, keys), rtol=0, atol=1e-6)
    assert abs(second["loss"] - log_loss(labels[:n_eval], prob[:n_eval])) <= 1e-5
    assert abs(second["auc"] - tf_auc(labels[:n_eval], prob[:n_eval])) <= 1e-5
    # Every session the Estimator opened is closed: its tables are gone.
    gc.collect()
    assert _libasc.live_tables("user") == []
    if mode == "SSD":
        assert not list((tmp_path / "ssd").iterdir()), "SSD directories are removed with the tables"


@pytest.mark.parametrize("mode", ("HBM", "DDR"))
def test_incremental_checkpoints_with_train_and_evaluate(tmp_path, mode):
    """init(is_incremental_checkpoint=True): an Estimator's checkpoints are a
    full one then deltas; tf.estimator.train_and_evaluate evaluates each; any
    kept version, also one whose full base was pruned, evaluates and
    predicts as its training session left it."""
    from mx_rec.checkpoint.versions import version_path, versions
    from mx_rec.util.initialize import init
    init(is_incremental_checkpoint=True)
    tier = table_kwargs(mode, tmp_path, device=128, host=1024)
    model_dir = str(tmp_path / "model")
    config = tf.estimator.RunConfig(model_dir=model_dir, save_checkpoints_steps=5,
                                    keep_checkpoint_max=2, log_step_count_steps=None)
    estimator = tf.estimator.Estimator(make_model_fn(tier), config=config)
    tf.estimator.train_and_evaluate(
        estimator, tf.estimator.TrainSpec(input_fn(0), max_steps=20),
        tf.estimator.EvalSpec(input_fn(1), steps=EVAL_STEPS, throttle_secs=0))
    assert list(versions(model_dir)) == [15, 20]
    assert table_checkpoint_manifest(model_dir)["kind"] == "delta"
    # The chain of version 15 starts at the full checkpoint of step 0 (pruned
    # by TF, kept for the chain).
    assert os.path.isdir(os.path.join(model_dir, "model.ckpt-0.mx_rec"))
    for version in (15, 20):
        path = version_path(model_dir, version)
        metrics = estimator.evaluate(input_fn(1), steps=EVAL_STEPS, checkpoint_path=path)
        assert metrics["global_step"] == version
        prob = np.concatenate([p["prob"] for p in estimator.predict(
            input_fn(1, epochs=1), checkpoint_path=path, yield_single_examples=False)])
        labels = make_data(1)[1]
        n = EVAL_STEPS * 32
        assert abs(metrics["loss"] - log_loss(labels[:n], prob[:n])) < 1e-5
    with pytest.raises(ValueError, match=r"no checkpoint of global step 7.*\[15, 20\]"):
        version_path(model_dir, 7)
