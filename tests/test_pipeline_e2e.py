"""The pipeline end to end: config-driven train -> export -> serve in plain
TensorFlow, fine-tuning with a var map, --continue_train, early stopping and
the best exporter from a config, and the four commands on the shipped
configs and bundled samples (as a user runs them, in subprocesses)."""

import json
import logging
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import pipeline_data
from mx_rec.export.sources import CheckpointSource
from mx_rec.pipeline.commands.export import export
from mx_rec.pipeline.commands.train_eval import train_and_evaluate
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.inputs import input_fn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVE_WITHOUT_MX_REC = """
import json, sys
sys.modules["mx_rec"] = None  # the export must not need mx_rec
import numpy as np, tensorflow as tf
served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
inputs = json.loads(sys.argv[2])
kinds = {k: s.dtype for k, s in served.structured_input_signature[1].items()}
out = served(**{k: tf.constant(np.array(v), kinds[k]) for k, v in inputs.items()})
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()}))
"""


def serve(export_dir, inputs):
    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_MX_REC, export_dir,
                           json.dumps(inputs)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return {k: np.array(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()}


def estimator_predictions(config, key="probs"):
    init_mx_rec(config)
    return np.concatenate([batch[key] for batch in build_estimator(config).predict(
        input_fn(config, "predict"), yield_single_examples=False)])


def stop_after_two_evaluations(eval_results, params):
    """An early_stop_func: stop once two evaluations exist."""
    return len(eval_results) >= int(params)


@pytest.mark.slow
def test_train_export_serve_in_plain_tf(tmp_path):
    """The final export of training (a placeholder per field) and one by the
    export function (one string placeholder) serve estimator.predict's values."""
    config = pipeline_data.load(tmp_path)
    train_and_evaluate(config)
    expected = estimator_predictions(config)
    rows = pipeline_data.rows(96, 2)  # the eval input
    fields = dict(x1=1, x2=2, user=3, item=4, tags=5)
    inputs = {name: [row[i] for row in rows] for name, i in fields.items()}
    inputs["x1"], inputs["x2"] = ([float(v) for v in inputs[k]] for k in ("x1", "x2"))
    (final,) = os.listdir(os.path.join(config.model_dir, "export", "final"))
    served = serve(os.path.join(config.model_dir, "export", "final", final), inputs)
    np.testing.assert_allclose(served["probs"], expected, atol=1e-6, rtol=0)
    one_string = pipeline_data.load(tmp_path, {"export_config.multi_placeholder": False})
    exported = export(one_string, str(tmp_path / "export"))
    lines = [",".join(row[i] for i in fields.values()) for row in rows]
    np.testing.assert_allclose(serve(exported, {"features": lines})["probs"], expected,
                               atol=1e-6, rtol=0)


@pytest.mark.slow
def test_fine_tune_with_a_var_map_restores_renamed_variables_and_tables(tmp_path):
    mmoe = {"expert_dnn": {"hidden_units": [8]}, "num_expert": 2,
            "task_towers": [{"tower_name": "clicks", "dnn": {"hidden_units": [4]}}]}
    edits = {"model_config.mmoe": mmoe, "model_config.loss_type": None,
             "train_config.num_steps": 10}
    (tmp_path / "a").mkdir()
    old = pipeline_data.load(tmp_path / "a", {**edits, "model_config.features[2].table_name":
                                              "user_old"})
    train_and_evaluate(old)
    var_map = tmp_path / "var_map.txt"
    var_map.write_text("mmoe/ctr/tower/dnn_0/kernel\tmmoe/clicks/tower/dnn_0/kernel\n"
                       "user\tuser_old\n")
    mmoe["task_towers"][0]["tower_name"] = "ctr"
    new = pipeline_data.load(tmp_path, {**edits, "model_config.mmoe": mmoe,
                                        "train_config.fine_tune_checkpoint": old.model_dir,
                                        "train_config.fine_tune_ckpt_var_map": str(var_map)})
    train_and_evaluate(new)
    before = tf.train.load_checkpoint(tf.train.latest_checkpoint(old.model_dir))
    start = f"{new.model_dir}/model.ckpt-0"
    after = tf.train.load_checkpoint(start)
    np.testing.assert_array_equal(after.get_tensor("mmoe/ctr/tower/dnn_0/kernel"),
                                  before.get_tensor("mmoe/clicks/tower/dnn_0/kernel"))
    assert not np.array_equal(after.get_tensor("mmoe/expert_0/dnn_0/kernel"),
                              before.get_tensor("mmoe/expert_0/dnn_0/kernel"))
    old_keys, old_rows = table_rows(tf.train.latest_checkpoint(old.model_dir), "user_old")
    new_keys, new_rows = table_rows(start, "user")
    assert len(old_keys) > 10
    order = np.argsort(old_keys), np.argsort(new_keys)
    np.testing.assert_array_equal(new_keys[order[1]], old_keys[order[0]])
    np.testing.assert_array_equal(new_rows[order[1]], old_rows[order[0]])
    assert len(table_rows(start, "item")[0]) == 0


def table_rows(prefix, name, dim=8):
    """(keys, rows) of table `name` in checkpoint `prefix`."""
    return CheckpointSource(prefix).rows(types.SimpleNamespace(name=name, key_dtype=tf.int64,
                                                               dim=dim))


@pytest.mark.slow
def test_continue_train_resumes_from_the_checkpoint(tmp_path, caplog):
    config = pipeline_data.load(tmp_path, {"train_config.num_steps": 10})
    train_and_evaluate(config)
    config = pipeline_data.load(tmp_path, {"train_config.num_steps": 20})
    caplog.set_level(logging.INFO, logger="tensorflow")
    assert train_and_evaluate(config, continue_train=True)["global_step"] == 20
    progress = [r.getMessage().split(",")[0] for r in caplog.records
                if r.getMessage().startswith("step ")]
    assert progress == ["step 15", "step 20"]
    assert f"Restoring parameters from {config.model_dir}/model.ckpt-10" in caplog.text


@pytest.mark.slow
def test_early_stop_and_best_exporter_from_the_config(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "train_config.num_steps": 100, "train_config.save_checkpoints_steps": 5,
        "export_config": {"exporter_type": "best", "best_exporter_metric": "auc",
                          "enable_early_stop": True, "early_stop_params": "2",
                          "early_stop_func": "test_pipeline_e2e.stop_after_two_evaluations"}})
    assert train_and_evaluate(config)["global_step"] == 10
    assert os.listdir(os.path.join(config.model_dir, "export", "best"))


def command(name, *args, cwd=ROOT):
    """Runs python -m mx_rec.<name> args; returns its stdout."""
    done = subprocess.run([sys.executable, "-m", f"mx_rec.{name}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout, done.stderr


@pytest.fixture(scope="module")
def dlrm_criteo(tmp_path_factory):
    """examples/configs/dlrm_criteo.config trained 20 steps by the command."""
    model_dir = str(tmp_path_factory.mktemp("dlrm_criteo"))
    edits = {"train_config.num_steps": 20, "train_config.save_checkpoints_steps": 20,
             "train_config.log_step_count_steps": 10, "eval_config.eval_interval_secs": 0}
    out, err = command("train_eval", "--pipeline_config_path",
                       "examples/configs/dlrm_criteo.config", "--model_dir", model_dir,
                       "--edit_config_json", json.dumps(edits))
    return model_dir, out, err


@pytest.mark.slow
def test_train_eval_command_on_the_dlrm_criteo_config(dlrm_criteo):
    model_dir, out, err = dlrm_criteo
    assert "global_step: 20" in out and "auc: " in out
    assert "step 10, loss " in err and "samples/s, ETA " in err
    assert os.listdir(os.path.join(model_dir, "export", "best"))
    assert os.path.exists(os.path.join(model_dir, "pipeline.config"))


@pytest.mark.slow
def test_export_evaluate_predict_commands(dlrm_criteo, tmp_path):
    model_dir = dlrm_criteo[0]
    config = ["--pipeline_config_path", "examples/configs/dlrm_criteo.config",
              "--model_dir", model_dir]
    out, _ = command("export", *config, "--export_dir", str(tmp_path / "export"),
                     "--export_done_file", "DONE", "--checkpoint_path",
                     os.path.join(model_dir, "model.ckpt-0"))
    assert os.path.exists(os.path.join(out.strip(), "DONE"))
    out, _ = command("evaluate", *config, "--eval_input_path",
                     "data/criteo/paddlerec_dnn_sample_test.txt")
    with open(os.path.join(model_dir, "eval_result.txt")) as f:
        metrics = json.load(f)
    assert metrics["global_step"] == 20 and f"auc: {metrics['auc']}" in out
    output = tmp_path / "predictions.tsv"
    command("predict", *config, "--input_path", "data/criteo/paddlerec_dnn_sample_test.txt",
            "--output_path", str(output), "--reserved_cols", "label,C1",
            "--output_cols", "probs float,logits double")
    lines = output.read_text().splitlines()
    assert lines[0] == "label\tC1\tprobs\tlogits" and len(lines) == 101
    label, c1, prob, logit = lines[1].split("\t")
    assert (label, c1) == ("0", "05db9164") and 0 < float(prob) < 1
    assert float(prob) == pytest.approx(1 / (1 + np.exp(-float(logit))), rel=1e-5)


@pytest.mark.slow
def test_dssm_criteo_config_trains_exports_and_splits(tmp_path):
    model_dir = str(tmp_path / "dssm")
    config = ["--pipeline_config_path", "examples/configs/dssm_criteo.config",
              "--model_dir", model_dir]
    out, _ = command("train_eval", *config, "--edit_config_json",
                     json.dumps({"train_config.num_steps": 30}))
    assert "auc: " in out
    (final,) = os.listdir(os.path.join(model_dir, "export", "final"))
    command("tools.split_model", "--model_dir", os.path.join(model_dir, "export", "final", final),
            "--user_model_dir", str(tmp_path / "user"), "--item_model_dir", str(tmp_path / "item"))
    assert os.path.exists(tmp_path / "user" / "saved_model.pb")
    assert os.path.exists(tmp_path / "item" / "saved_model.pb")


CENSUS_SAMPLE = os.path.join(ROOT, "data", "census", "census-income.test.head1200.gz")


@pytest.mark.slow
def test_mmoe_census_config(tmp_path):
    """The shipped MMoE config on TFRecords examples/mmoe/census.py makes of
    the bundled Census sample (800 training rows: the input ends at step 100)."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mmoe", "census.py"),
                           "--train_data_path", CENSUS_SAMPLE, "--output_path", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out, _ = command("train_eval", "--pipeline_config_path", "examples/configs/mmoe_census.config",
                     "--model_dir", str(tmp_path / "mmoe"),
                     "--train_input_path", str(tmp_path / "census_train.tfrecord"),
                     "--eval_input_path", str(tmp_path / "census_test.tfrecord"),
                     "--edit_config_json", json.dumps({"eval_config.eval_interval_secs": 0}))
    metrics = dict(line.split(": ") for line in out.splitlines())
    assert metrics["global_step"] == "100"
    assert float(metrics["auc_income"]) > 0.5 and float(metrics["auc_marital"]) > 0.8
    assert os.listdir(tmp_path / "mmoe" / "export" / "best")
