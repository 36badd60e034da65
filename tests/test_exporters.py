"""Exporters for tf.estimator.train_and_evaluate (mx_rec/export/exporters.py).

eval_curve_model drives the eval metric "score" through a known sequence (an
evaluation every 10 steps), and its variable w equals the global step, so
each kept export directory is identified by the step it holds.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import eval_curve_model as curve
import mx_rec.export
from mx_rec.export import early_stop, eval_history, exporters
from mx_rec.export.exporter_config import ExporterConfig
from test_estimator import make_model_fn


def kept(model_dir, name):
    """The global steps held by the exports kept under export/<name>, oldest first."""
    return list(curve.exported_steps(os.path.join(model_dir, "export", name)).values())


@pytest.mark.parametrize("kwargs, error, message", [
    ({"exporter_type": "bestt"}, ValueError,
     "exporter_type must be one of 'final', 'latest', 'best', 'none', got 'bestt'"),
    ({"best_exporter_metric": ""}, ValueError,
     "best_exporter_metric must be the name of an eval metric"),
    ({"metric_bigger": "yes"}, TypeError, "metric_bigger must be a bool, got str 'yes'"),
    ({"exports_to_keep": 0}, ValueError, r"exports_to_keep must be in \[1, inf\], got 0"),
    ({"enable_early_stop": 1}, TypeError, "enable_early_stop must be a bool"),
    ({"max_check_steps": 0}, ValueError, r"max_check_steps must be in \[1, inf\], got 0"),
    ({"early_stop_func": 3}, TypeError, "early_stop_func must be a function or its dotted path"),
    ({"eval_name": 3}, TypeError, "eval_name must be None or an EvalSpec name"),
    ({"expoter_type": "best"}, TypeError,
     "unknown ExporterConfig field.s. expoter_type; the fields are exporter_type, "),
    ({"config": "best"}, TypeError, "config must be an ExporterConfig, got 'best'"),
])
def test_bad_config_names_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        exporters.make_exporters(curve.serving_input_receiver_fn, **kwargs)


def test_serving_input_receiver_fn_must_be_a_function():
    with pytest.raises(TypeError, match="serving_input_receiver_fn must be a function"):
        exporters.make_exporters({"x": tf.TensorSpec([], tf.float32)})


def test_one_exporter_per_type_named_after_it():
    made = {t: exporters.make_exporters(curve.serving_input_receiver_fn,
                                        ExporterConfig(exporter_type=t))
            for t in ("final", "latest", "best", "none")}
    assert made["none"] == []
    assert [type(e) for e in made["final"] + made["latest"] + made["best"]] == \
        [exporters.FinalExporter, tf.estimator.LatestExporter, exporters.BestExporter]
    assert [e.name for e in made["final"] + made["latest"] + made["best"]] == \
        ["final", "latest", "best"]


@pytest.mark.parametrize("metric_bigger, scores", [
    (True, [0.5, 0.7, 0.6, 0.8, 0.8, 0.75]),
    (False, [0.5, 0.3, 0.4, 0.2, 0.2, 0.25]),
])
def test_best_exports_each_improvement_and_keeps_the_best(tmp_path, metric_bigger, scores):
    est = curve.estimator(tmp_path, scores)
    made = exporters.make_exporters(curve.serving_input_receiver_fn, exporter_type="best",
                                    best_exporter_metric="score", metric_bigger=metric_bigger,
                                    exports_to_keep=2)
    curve.train_and_evaluate(est, 60, made)
    # Exports at 10, 20 and 40; the tie at 50 and the worse 30 and 60 are not exported.
    assert kept(tmp_path, "best") == [20, 40]


def test_best_exporter_metric_must_be_an_eval_metric(tmp_path):
    made = exporters.make_exporters(curve.serving_input_receiver_fn, exporter_type="best")
    with pytest.raises(ValueError, match=r"best_exporter_metric 'auc' is not an eval metric; "
                                         r"the evaluation reports 'loss', 'score'"):
        curve.train_and_evaluate(curve.estimator(tmp_path, [0.5]), 10, made)


def test_latest_keeps_the_newest(tmp_path):
    made = exporters.make_exporters(curve.serving_input_receiver_fn, exporter_type="latest",
                                    exports_to_keep=2)
    curve.train_and_evaluate(curve.estimator(tmp_path, [0.5]), 40, made)
    assert kept(tmp_path, "latest") == [30, 40]


def test_final_exports_at_max_steps(tmp_path):
    made = exporters.make_exporters(curve.serving_input_receiver_fn)
    curve.train_and_evaluate(curve.estimator(tmp_path, [0.5]), 30, made)
    assert kept(tmp_path, "final") == [30]


def test_final_exports_where_early_stopping_ends_training(tmp_path):
    config = ExporterConfig(enable_early_stop=True, best_exporter_metric="score",
                            max_check_steps=20)
    est = curve.estimator(tmp_path, [0.5, 0.6, 0.7, 0.7, 0.65, 0.9])
    made = exporters.make_exporters(curve.serving_input_receiver_fn, config) + [
        tf.estimator.FinalExporter("tf_final", curve.serving_input_receiver_fn)]
    assert curve.train_and_evaluate(est, 100, made, early_stop.make_hooks(est, config)) == 50
    assert kept(tmp_path, "final") == [50]
    assert kept(tmp_path, "tf_final") == []  # TF's final export waits for max_steps


@pytest.mark.slow
def test_best_export_survives_a_restart(tmp_path):
    """Run 1 exports its best, step 20 (0.8). Run 2, a new process on the same
    model_dir, evaluates 0.7 and 0.75 (worse) and then 0.85: only step 60 beats
    step 20. TF's BestExporter exports the first evaluation of run 2 and
    then 0.75, deleting the best export of run 1."""
    scores = [0.5, 0.8, 0.6, 0.7, 0.75, 0.85]
    curve.train_and_evaluate(curve.estimator(tmp_path, scores), 30,
                             curve.best_exporters_mx_rec_and_tf())
    assert kept(tmp_path, "best") == kept(tmp_path, "tf_best") == [10, 20]
    best_of_run_1 = sorted(os.listdir(tmp_path / "export" / "best"))[-1]

    child = os.path.join(os.path.dirname(__file__), "eval_curve_model.py")
    done = subprocess.run([sys.executable, child, str(tmp_path), "60", json.dumps(scores)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert kept(tmp_path, "best") == [20, 60]
    assert sorted(os.listdir(tmp_path / "export" / "best"))[0] == best_of_run_1
    assert kept(tmp_path, "tf_best") == [50, 60]


SERVE_WITHOUT_MX_REC = """
import json, sys
sys.modules["mx_rec"] = None  # mx_rec must not be importable
import numpy as np, tensorflow as tf
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
ids = np.array(json.loads(sys.argv[2]), np.int64)
print(json.dumps(served(ids=tf.constant(ids))["prob"].numpy().tolist()))
"""


@pytest.mark.slow
def test_best_export_of_an_mx_rec_model_serves_without_mx_rec(tmp_path, mx):
    """The best exporter with mx_rec.export.serving_input_receiver_fn: the
    kept export is the checkpoint with the best eval AUC (the first: the
    evaluation's labels are the training labels flipped), loads with
    tf.saved_model.load where mx_rec cannot be imported, and predicts what
    the Estimator predicts from that checkpoint."""
    rng = np.random.RandomState(0)
    ids = (rng.zipf(1.3, size=(512, 3)) * 7).astype(np.int64)
    labels = (ids[:, 0] % 3 == 0).astype(np.float32)

    def input_fn(epochs=None, flip=False):
        return tf.data.Dataset.from_tensor_slices(
            ({"ids": ids}, 1 - labels if flip else labels)).repeat(epochs).batch(32)

    model_fn = make_model_fn(dict(device_vocabulary_size=100, host_vocabulary_size=400))  # DDR
    est = tf.estimator.Estimator(model_fn, config=tf.estimator.RunConfig(
        model_dir=str(tmp_path), save_checkpoints_steps=15, save_summary_steps=None,
        log_step_count_steps=None))
    made = exporters.make_exporters(
        mx_rec.export.serving_input_receiver_fn({"ids": tf.TensorSpec([3], tf.int64)}),
        exporter_type="best")
    tf.estimator.train_and_evaluate(est, tf.estimator.TrainSpec(input_fn, max_steps=45),
                                    tf.estimator.EvalSpec(lambda: input_fn(1, flip=True),
                                                          steps=None, exporters=made,
                                                          throttle_secs=0, start_delay_secs=0))

    aucs = {step: m["auc"] for step, m in eval_history.read(est.eval_dir()).items()}
    assert list(aucs) == [15, 30, 45]
    assert max(aucs, key=aucs.get) == 15  # training moves away from the eval labels
    [export] = os.listdir(tmp_path / "export" / "best")
    held = (np.random.RandomState(5).zipf(1.3, size=(64, 3)) * 7).astype(np.int64)

    def predict(step):
        return np.concatenate([p["prob"] for p in est.predict(
            lambda: tf.data.Dataset.from_tensor_slices({"ids": held}).batch(64),
            checkpoint_path=str(tmp_path / f"model.ckpt-{step}"), yield_single_examples=False)])

    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_MX_REC,
                           str(tmp_path / "export" / "best" / export), json.dumps(held.tolist())],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.splitlines()[-1])
    np.testing.assert_allclose(served, predict(15), atol=1e-6)
    assert np.abs(np.array(served) - predict(45)).max() > 1e-3
