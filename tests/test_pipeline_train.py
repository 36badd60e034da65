"""The pipeline's model_fn under Estimator: every optimizer kind and
learning-rate schedule, every model kind and key mode, the eval metrics."""

import math

import numpy as np
import pytest
import tensorflow as tf

import pipeline_data
from mx_rec.checkpoint import manifest
from mx_rec.pipeline.commands.train_eval import train_and_evaluate
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.inputs import input_fn

RATE = {"constant_learning_rate": {"learning_rate": 0.01}}
KERNEL = "dlrm/top_dnn/dnn_0/kernel"


def train(config, steps=3):
    """Trains `steps` steps; returns the estimator."""
    init_mx_rec(config)
    estimator = build_estimator(config)
    estimator.train(input_fn(config, "train"), max_steps=steps)
    return estimator


def trained_change(estimator, name=KERNEL):
    """How far variable `name` moved from its step-0 checkpoint."""
    start = tf.train.load_checkpoint(f"{estimator.model_dir}/model.ckpt-0").get_tensor(name)
    return float(np.abs(estimator.get_variable_value(name) - start).max())


@pytest.mark.parametrize("kind, arguments", [
    ("adam_optimizer", {}),
    ("lazy_adam_optimizer", {}),
    ("adam_w_optimizer", {"weight_decay": 0.01}),
    ("adamw_optimizer", {}),
    ("adagrad_optimizer", {}),
    ("momentum_optimizer", {"use_nesterov": True}),
    ("rms_prop_optimizer", {"centered": True}),
    ("ftrl_optimizer", {"l1_reg": 0.01}),
    ("gradient_descent_optimizer", {}),
])
def test_every_optimizer_trains(tmp_path, kind, arguments):
    config = pipeline_data.load(tmp_path, {"train_config.optimizer_config": [
        {kind: {"learning_rate": RATE, **arguments}}]})
    assert trained_change(train(config)) > 0


@pytest.mark.parametrize("schedule", [
    {"exponential_decay_learning_rate": {"initial_learning_rate": 0.01, "decay_steps": 1,
                                         "burnin_learning_rate": 0.001, "burnin_steps": 2}},
    {"manual_step_learning_rate": {"initial_learning_rate": 0.01, "warmup": True,
                                   "schedule": [{"step": 2, "learning_rate": 0.005}]}},
    {"cosine_decay_learning_rate": {"learning_rate_base": 0.01, "total_steps": 10,
                                    "warmup_steps": 1}},
    {"poly_decay_learning_rate": {"learning_rate_base": 0.01, "total_steps": 10,
                                  "power": 2}},
])
def test_every_schedule_trains_and_is_summarised(tmp_path, schedule):
    config = pipeline_data.load(tmp_path, {
        "train_config.optimizer_config": [{"momentum_optimizer": {"learning_rate": schedule}}],
        "train_config.save_summary_steps": 1})
    estimator = train(config)
    assert trained_change(estimator) > 0
    tags = summaries(estimator.model_dir)
    assert len(tags["learning_rate"]) == 3 and "loss" in tags


def summaries(directory):
    """{tag: [values]} of the scalar summaries in directory's event files."""
    found = {}
    for path in tf.io.gfile.glob(f"{directory}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(value.simple_value)
    return found


def test_separate_dense_and_sparse_optimizers_and_clipping(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "train_config.optimizer_config": [
            {"adam_w_optimizer": {"learning_rate": RATE}},
            {"adagrad_optimizer": {"learning_rate": {"constant_learning_rate": {
                "learning_rate": 0.1}}}}],
        "train_config.gradient_clipping_by_norm": 0.5,
        "train_config.save_summary_steps": 1})
    estimator = train(config)
    tags = summaries(estimator.model_dir)
    assert tags["learning_rate/sparse"][-1] == pytest.approx(0.1)
    assert tags["learning_rate/dense"][-1] == pytest.approx(0.01)
    # Table tier counters and the loss terms are summaries too.
    assert tags["mx_rec/user/device_keys"][-1] > 0
    assert "loss/classification" in tags


@pytest.mark.parametrize("key_mode", ["IN_STEP", "FEATURE_SPEC", "MODIFY_GRAPH"])
def test_key_modes_train_and_evaluate(tmp_path, key_mode):
    config = pipeline_data.load(tmp_path, {"model_config.embedding.key_mode": key_mode,
                                           "train_config.num_steps": 10})
    metrics = train_and_evaluate(config)
    assert metrics["global_step"] == 10 and 0 <= metrics["auc"] <= 1


def test_tiers_admission_and_static_shapes(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "model_config.features[2].table": {"dim": 8, "device_vocabulary_size": 40,
                                           "cache_mode": "DDR", "host_vocabulary_size": 64},
        "model_config.features[2].access_threshold": 2,
        "model_config.features[2].eviction_threshold": 5,
        "model_config.embedding": {"use_dynamic": False, "evict_step_interval": 3},
        "model_config.features[2:5].send_count": 32,
        "train_config.num_steps": 10})
    assert math.isfinite(train_and_evaluate(config)["loss"])


def test_every_eval_metric(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "eval_config.metrics_set": [
            {"auc": {}}, {"gauc": {"uid_field": "user"}}, {"logloss": {}}, {"accuracy": {}},
            {"mean_squared_error": {}}, {"mean_absolute_error": {}},
            {"root_mean_squared_error": {}}],
        "data_config.sample_weight": "weight", "train_config.num_steps": 10})
    metrics = train_and_evaluate(config)
    for name in ("auc", "gauc", "logloss", "accuracy", "mean_squared_error",
                 "mean_absolute_error", "root_mean_squared_error"):
        assert math.isfinite(metrics[name]), name
    assert metrics["root_mean_squared_error"] == pytest.approx(
        math.sqrt(metrics["mean_squared_error"]), rel=1e-5)


def test_regression_and_multi_class(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "model_config.loss_type": "L2_LOSS", "train_config.num_steps": 5,
        "eval_config.metrics_set": [{"mean_squared_error": {}}]})
    assert "mean_squared_error" in train_and_evaluate(config)
    (tmp_path / "multi").mkdir()
    config = pipeline_data.load(tmp_path / "multi", {
        "model_config.num_class": 3, "train_config.num_steps": 5,
        "eval_config.metrics_set": [{"accuracy": {}}, {"recall_at_topk": {"topk": 2}}]})
    metrics = train_and_evaluate(config)
    assert 0 <= metrics["accuracy"] <= metrics["recall_at_topk"] <= 1


def test_deepfm(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "model_config.deepfm": {"dnn": {"hidden_units": [16, 8]}}, "train_config.num_steps": 5,
        "model_config.losses": [{"loss_type": "CLASSIFICATION"},
                                {"loss_type": "PAIR_WISE_LOSS", "weight": 0.5}],
        "model_config.loss_type": None})
    assert math.isfinite(train_and_evaluate(config)["auc"])


def test_dssm(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "model_config.dssm": {
            "user_tower": {"feature_names": ["user", "x1"], "dnn": {"hidden_units": [16, 8]}},
            "item_tower": {"feature_names": ["item", "tags", "x2"],
                           "dnn": {"hidden_units": [16, 8]}},
            "simi_func": "INNER_PRODUCT"},
        "train_config.num_steps": 5})
    assert math.isfinite(train_and_evaluate(config)["auc"])


def test_mmoe_on_tfrecord(tmp_path):
    train = pipeline_data.write_tfrecord(tmp_path / "train.tfrecord", 256, 1)
    evals = pipeline_data.write_tfrecord(tmp_path / "eval.tfrecord", 64, 2)
    config = pipeline_data.load(tmp_path, {
        "train_input_path": train, "eval_input_path": evals,
        "data_config.input_type": "TFRecordInput",
        "data_config.input_fields[0].input_type": "INT64",
        "data_config.input_fields[6]": {"input_name": "other", "input_type": "INT64"},
        "data_config.label_fields": ["label", "other"],
        "model_config.mmoe": {
            "num_expert": 3, "expert_dnn": {"hidden_units": [8]},
            "task_towers": [{"tower_name": "clicks", "dnn": {"hidden_units": [4]}},
                            {"tower_name": "parity", "label_name": "other", "weight": 0.5,
                             "losses": [{"loss_type": "F1_REWEIGHTED_LOSS"}]}]},
        "model_config.loss_type": None,
        "export_config.exporter_type": "best", "export_config.best_exporter_metric": "auc_clicks",
        "train_config.num_steps": 10})
    metrics = train_and_evaluate(config)
    for name in ("auc_clicks", "auc_parity", "logloss_clicks", "logloss_parity"):
        assert 0 <= metrics[name] < 10, name


def test_incremental_checkpoints(tmp_path):
    config = pipeline_data.load(tmp_path, {"train_config.is_incremental_checkpoint": True,
                                           "train_config.save_checkpoints_steps": 5,
                                           "train_config.num_steps": 10})
    train(config, 10)
    kinds = []
    for step in (0, 5, 10):
        prefix = f"{config.model_dir}/model.ckpt-{step}"
        directory = manifest.table_dir(prefix, manifest.table_entries(prefix)["user"])
        kinds.append(manifest.read_manifest(directory)["kind"])
    assert kinds == ["full", "delta", "delta"]


def test_online_metrics_and_profiling(tmp_path):
    config = pipeline_data.load(tmp_path, {"eval_config.eval_online": True,
                                           "train_config.is_profiling": True,
                                           "train_config.log_step_count_steps": 2,
                                           "train_config.save_summary_steps": 1})
    estimator = train(config, 4)
    assert len(summaries(estimator.model_dir)["online/auc"]) == 4
    assert tf.io.gfile.glob(f"{config.model_dir}/timeline-*.json")


def test_dssm_with_negative_mining(tmp_path):
    config = pipeline_data.load(tmp_path, {
        "model_config.dssm": {
            "user_tower": {"feature_names": ["user", "x1"], "dnn": {"hidden_units": [8]}},
            "item_tower": {"feature_names": ["item", "tags", "x2"], "dnn": {"hidden_units": [8]}}},
        "model_config.loss_type": None,
        "model_config.losses": [{"loss_type": "SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING",
                                 "softmax_loss": {"num_negative_samples": 4}}],
        "train_config.num_steps": 5})
    assert math.isfinite(train_and_evaluate(config)["loss"])
