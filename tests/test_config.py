"""The pipeline config: parsing, round trips, edits, command-line overrides,
validation (every error names its field) and the converters to mx_rec's
typed configs."""

import argparse
import dataclasses
import os

import pytest

from mx_rec import config as cfg
from mx_rec import losses as mx_losses
from mx_rec import optimizers
from mx_rec.config import ConfigError, load_pipeline_config, parse_pipeline_config
from mx_rec.config.protos import export_pb2, loss_pb2, optimizer_pb2
from mx_rec.export.exporter_config import ExporterConfig
from mx_rec.export.options import ExportOptions
from mx_rec.optimizers import learning_rate as lr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(ROOT, "examples", "configs")
DLRM = os.path.join(CONFIGS, "dlrm_criteo.config")
SAMPLES = {"dlrm_criteo.config": (39, 40), "dssm_criteo.config": (4, 40),
           "mmoe_census.config": (39, 41)}


def problems(error):
    """{path: its messages joined by " | "} of a ConfigError."""
    found = {}
    for problem in error.problems:
        found[problem.path] = " | ".join(filter(None, [found.get(problem.path), problem.message]))
    return found


def load_dlrm(edits):
    return load_pipeline_config(DLRM, edits)


def dlrm_error(edits):
    with pytest.raises(ConfigError) as info:
        load_dlrm(edits)
    return info.value


# ---- sample configs and round trips ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_configs_load(name):
    config = load_pipeline_config(os.path.join(CONFIGS, name))
    features, fields = SAMPLES[name]
    assert len(config.model_config.features) == features
    assert len(config.data_config.input_fields) == fields
    assert config.model_dir.startswith("out/")
    for path in (config.train_input_path + "," + config.eval_input_path).split(","):
        if not path.startswith("data/census/"):  # written by examples/mmoe/census.py
            assert os.path.isfile(os.path.join(ROOT, path)), path


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name, tmp_path):
    config = load_pipeline_config(os.path.join(CONFIGS, name))
    assert parse_pipeline_config(cfg.pipeline_config_text(config)) == config
    saved = str(tmp_path / "sub" / "pipeline.config")
    cfg.save_pipeline_config(config, saved)
    assert load_pipeline_config(saved) == config  # expanded configs expand to themselves


def test_dlrm_expansion():
    config = load_dlrm({})
    data = config.data_config
    assert [f.input_name for f in data.input_fields][:3] == ["label", "I1", "I2"]
    assert data.input_fields[-1].input_name == "C26"
    features = config.model_config.features
    assert [f.input_name for f in features[12:15]] == ["I13", "C1", "C2"]
    assert all(f.table.dim == 16 and not f.HasField("feature_name") for f in features[13:])


def test_easyrec_blocks_from_the_seeds_parse():
    config = parse_pipeline_config('''
        train_config {
          log_step_count_steps: 200
          optimizer_config: {
            adam_optimizer: {
              learning_rate: {
                exponential_decay_learning_rate {
                  initial_learning_rate: 0.0001
                  decay_steps: 100000
                  decay_factor: 0.5
                  min_learning_rate: 0.0000001
                }
              }
            }
          }
          sync_replicas: true
          num_steps: 1000
          fine_tune_checkpoint: "experiments/model.ckpt-0"
          save_checkpoints_steps: 1000
          keep_checkpoint_max: 10
          save_summary_steps: 1000
        }
        model_config {
          losses {
            loss_type: F1_REWEIGHTED_LOSS
            weight: 1.0
            f1_reweighted_loss { f1_beta_square: 0.5625 }
          }
          losses { loss_type: PAIR_WISE_LOSS weight: 1.0 }
        }
        export_config {
          exporter_type: "best"
          best_exporter_metric: "auc"
          exports_to_keep: 1
          multi_value_fields { input_name: ["field1", "field2", "field3"] }
        }''')
    schedule = config.train_config.optimizer_config[0].adam_optimizer.learning_rate
    assert schedule.exponential_decay_learning_rate.min_learning_rate == 1e-7
    assert list(config.export_config.multi_value_fields.input_name) == ["field1", "field2",
                                                                        "field3"]
    assert [loss.loss_type for loss in cfg.losses(config.model_config, "model_config")] == [
        "F1_REWEIGHTED_LOSS", "PAIR_WISE_LOSS"]


def test_adamw_spelling_is_adam_w():
    settings = [cfg.optimizer_settings(parse_pipeline_config(
        f"train_config {{ optimizer_config {{ {field} {{ weight_decay: 0.01 learning_rate {{ "
        "constant_learning_rate {} } } } }").train_config)[0]
        for field in ("adam_w_optimizer", "adamw_optimizer")]
    assert settings[0] == settings[1]
    assert settings[0].kind == "adam_w_optimizer" and settings[0].hash_rule == "adam_w"
    assert settings[0].arguments["weight_decay"] == 0.01


# ---- schema defaults are mx_rec's -----------------------------------------------------------


@pytest.mark.parametrize("message, cls", [
    (optimizer_pb2.ConstantLearningRate, lr.ConstantLearningRate),
    (optimizer_pb2.ExponentialDecayLearningRate, lr.ExponentialDecayLearningRate),
    (optimizer_pb2.ManualStepLearningRate, lr.ManualStepLearningRate),
    (optimizer_pb2.ManualStepLearningRate.LearningRateSchedule, lr.LearningRateSchedule),
    (optimizer_pb2.CosineDecayLearningRate, lr.CosineDecayLearningRate),
    (optimizer_pb2.PolyDecayLearningRate, lr.PolyDecayLearningRate),
    (loss_pb2.Loss, mx_losses.Loss),
    (loss_pb2.F1ReweighedLoss, mx_losses.F1ReweighedLoss),
    (loss_pb2.SoftmaxCrossEntropyWithNegativeMining,
     mx_losses.SoftmaxCrossEntropyWithNegativeMining),
    (loss_pb2.CircleLoss, mx_losses.CircleLoss),
    (loss_pb2.MultiSimilarityLoss, mx_losses.MultiSimilarityLoss),
    (loss_pb2.PairwiseLoss, mx_losses.PairwiseLoss),
    (export_pb2.ExportConfig, ExportOptions),
    (export_pb2.ExportConfig, ExporterConfig),
])
def test_messages_mirror_the_dataclasses(message, cls):
    """Same field names; a field with a default in the dataclass has the same
    default in the schema (the converters pass only the fields a file sets).
    loss_type has no default; an unset early_stop_params becomes None."""
    fields = message.DESCRIPTOR.fields_by_name
    if cls not in (ExportOptions, ExporterConfig):
        assert {f.name for f in dataclasses.fields(cls)} == set(fields)
    for field in dataclasses.fields(cls):
        if field.name in fields and field.default is not dataclasses.MISSING and \
                field.name not in ("loss_type", "early_stop_params") and \
                not fields[field.name].message_type:
            assert fields[field.name].default_value == \
                (field.default if field.default != () else []), field.name


# ---- parse errors ------------------------------------------------------------------------


@pytest.mark.parametrize("text, path, words", [
    ("train_config { num_stepz: 3 }", "train_config.num_stepz",
     ["no field 'num_stepz' in TrainConfig", "did you mean num_steps?", "line 1, column 16"]),
    ("train_config {\n  num_steps: \"abc\" }", "train_config.num_steps",
     ["Couldn't parse integer", "an integer in [0, 4294967295]", "line 2"]),
    ("train_config { num_steps: -1 }", "train_config.num_steps", ["out of range"]),
    ("train_config { train_distribute: Foo }", "train_config.train_distribute",
     ["NoStrategy, PSStrategy"]),
    ("train_config { sync_replicas: yes }", "train_config.sync_replicas", ["true or false"]),
    ("model_dir: 5", "model_dir", ["a string"]),
    ("train_config { num_steps: 1 num_steps: 2 }", "train_config.num_steps", ["multiple"]),
    ("train_config { optimizer_config { adam_optimizer {} adagrad_optimizer {} } }",
     "train_config.optimizer_config[0].adagrad_optimizer", ["oneof"]),
    ("train_config { optimizer_config {} optimizer_config { adam_optimizer { beta9: 1 } } }",
     "train_config.optimizer_config[1].adam_optimizer.beta9", ["did you mean beta"]),
    ("model_config { features: [{input_name: 'a'}, {input_nam: 'b'}] }",
     "model_config.features[1].input_nam", ["did you mean input_name?"]),
    ("model_config { losses { loss_type: F1_REWEIGHTED_LOSS f1_reweight_loss {} } }",
     "model_config.losses[0].f1_reweight_loss", ["did you mean f1_reweighted_loss?"]),
    ("train_config {", "train_config", ['Expected "}"']),
])
def test_parse_errors_name_the_field(text, path, words):
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config(text)
    [problem] = info.value.problems
    assert problem.path == path
    for word in words:
        assert word in problem.message


def test_unreadable_file():
    with pytest.raises(ConfigError, match="nope.config: cannot read it"):
        load_pipeline_config("nope.config")


# ---- edit_config ------------------------------------------------------------------------


def test_edits():
    config = load_dlrm({
        "train_config.num_steps": 100,                                   # scalar
        "model_dir": "/tmp/m",
        "data_config.batch_size": "64",                                  # number in a string
        "data_config.shuffle": "false",
        "data_config.input_fields[0].input_name": "click",               # list index
        "data_config.label_fields": ["click"],                          # whole list
        "data_config.input_fields[-1].default_val": 0,                  # negative index
        "eval_config.metrics_set[1:]": {"accuracy": {}},                # slice, message
        "model_config.features[:].feature_type": "RawFeature",          # every entry...
        "model_config.features[input_name=C[1-26]].feature_type": "IdFeature",  # ...but one
        "model_config.features[feature_type=IdFeature].table.dim": 8,
        "model_config.features[1].table.cache_mode": "DDR",
        "train_config.optimizer_config[0].adagrad_optimizer":            # switches the oneof
            {"learning_rate": {"constant_learning_rate": {"learning_rate": 0.1}}},
        "train_config.keep_checkpoint_max": None,                      # back to the default
    })
    assert config.train_config.num_steps == 100 and config.model_dir == "/tmp/m"
    assert config.data_config.batch_size == 64 and not config.data_config.shuffle
    assert config.data_config.input_fields[0].input_name == "click"
    assert config.data_config.input_fields[2].default_val == "0"
    assert [m.WhichOneof("metric") for m in config.eval_config.metrics_set] == ["auc",
                                                                              "accuracy"]
    features = config.model_config.features
    assert features[0].feature_type == features[0].RawFeature
    assert features[13].table.dim == 8 and features[13].table.cache_mode == features[13].table.DDR
    optimizer = config.train_config.optimizer_config[0]
    assert optimizer.WhichOneof("optimizer") == "adagrad_optimizer"
    assert not config.train_config.HasField("keep_checkpoint_max")


def test_edit_conditions():
    config = parse_pipeline_config(
        "model_config { features { input_name: 'a' send_count: 5 } "
        "features { input_name: 'b' send_count: 50 } features { input_name: 'c' } }")
    features = config.model_config.features
    cfg.edit_config(config, {"model_config.features[send_count>=10].faae_coefficient": 2,
                             "model_config.features[input_name!=b].table.dim": 4,
                             "model_config.features[send_count<5].combiner": "sum",
                             "model_config.features[send_count<=5].table.init_stddev": 0.1,
                             "model_config.features[send_count>5].separator": ","})
    assert [f.faae_coefficient for f in features] == [1, 2, 1]
    assert [f.table.dim for f in features] == [4, 0, 4]
    assert [f.combiner for f in features] == ["mean", "mean", "sum"]
    assert [f.table.init_stddev for f in features] == [0.1, 0.05, 0.1]
    assert [f.HasField("separator") for f in features] == [False, True, False]
    cfg.edit_config(config, {"model_config.features[0]": {"input_name": "z"},
                             "model_config.features[feature_type=IdFeature].send_count": 7})
    assert features[0] == type(features[0])(input_name="z", send_count=7)


@pytest.mark.parametrize("edits, path, words", [
    ({"train_config.num_stepz": 1}, "train_config.num_stepz", ["did you mean num_steps?"]),
    ({"train_config.num_steps": "abc"}, "train_config.num_steps", ["an integer", "'abc'"]),
    ({"train_config.num_steps": -1}, "train_config.num_steps", ["[0, 4294967295]"]),
    ({"train_config.num_steps": 1.5}, "train_config.num_steps", ["an integer"]),
    ({"train_config.num_steps": True}, "train_config.num_steps", ["an integer"]),
    ({"train_config.sync_replicas": 3}, "train_config.sync_replicas", ["true or false"]),
    ({"train_config.gradient_clipping_by_norm": "x"},
     "train_config.gradient_clipping_by_norm", ["a number"]),
    ({"model_dir": True}, "model_dir", ["a string"]),
    ({"model_dir": ["a"]}, "model_dir", ["a string"]),
    ({"train_config.train_distribute": "Foo"}, "train_config.train_distribute",
     ["one of NoStrategy"]),
    ({"train_config": 3}, "train_config", ["TrainConfig block"]),
    ({"train_config": {"num_stepz": 3}}, "train_config.num_stepz", ["did you mean"]),
    ({"data_config.label_fields": "label"}, "data_config.label_fields", ["give a JSON list"]),
    ({"data_config.input_fields[40].input_name": "x"}, "data_config.input_fields[40]",
     ["no such entry: the list has 3"]),
    ({"data_config.input_fields.input_name": "x"}, "data_config.input_fields", ["[i], [:]"]),
    ({"model_dir[0]": "x"}, "model_dir", ["not a list"]),
    ({"model_dir.x": "x"}, "model_dir", ["no fields"]),
    ({"data_config.input_fields[input_name=nope].input_type": "INT64"},
     "data_config.input_fields[input_name=nope]", ["no entry matches"]),
    ({"data_config.input_fields[nope=1].input_type": "INT64"},
     "data_config.input_fields[nope]", ["no field 'nope' in Field"]),
    ({"data_config.input_fields[?].input_type": "INT64"}, "data_config.input_fields[?]",
     ["a selector is"]),
    ({"data_config.label_fields[x=1]": "a"}, "data_config.label_fields[x=1]",
     ["on a list of messages"]),
    ({"model_config.features[table=1].dim": 1}, "model_config.features[table]",
     ["compares one number"]),
    ({"train_config..num_steps": 1}, "train_config..num_steps", ["not a field path"]),
    ({"train_config.num_steps]": 1}, "train_config.num_steps]", ["unexpected ']'"]),
])
def test_edit_errors_name_the_path(edits, path, words):
    error = dlrm_error(edits)
    [problem] = error.problems
    assert problem.path == path
    for word in words:
        assert word in problem.message
    assert str(error).startswith(f"pipeline config {DLRM}: {path}: ")


def test_edit_config_takes_a_dict():
    with pytest.raises(ConfigError, match="JSON object"):
        cfg.edit_config(cfg.PipelineConfig(), ["model_dir", "x"])


# ---- command-line options -------------------------------------------------------------------


def parse_args(*argv, training=True):
    parser = cfg.add_pipeline_arguments(argparse.ArgumentParser(), training=training)
    return parser.parse_args(["--pipeline_config_path", DLRM, *argv])


def test_command_line_overrides():
    args = parse_args("--model_dir", "/tmp/d", "--continue_train",
                      "--train_input_path", "a.txt", "b.txt", "--eval_input_path", "c.txt",
                      "--fine_tune_checkpoint", "/tmp/ckpt",
                      "--edit_config_json", '{"train_config.num_steps": 7, '
                      '"model_config.features[1].table.dim": 4}')
    config = cfg.pipeline_config_from_args(args)
    assert args.continue_train
    assert config.model_dir == "/tmp/d"
    assert config.train_input_path == "a.txt,b.txt" and config.eval_input_path == "c.txt"
    assert config.train_config.fine_tune_checkpoint == "/tmp/ckpt"
    assert config.train_config.num_steps == 7
    assert config.model_config.features[38].table.dim == 4


def test_command_line_defaults_keep_the_file():
    args = parse_args()
    assert not args.continue_train
    assert cfg.pipeline_config_from_args(args) == load_dlrm({})


def test_export_commands_take_no_training_options():
    args = parse_args("--model_dir", "/tmp/e", training=False)
    assert not hasattr(args, "continue_train") and not hasattr(args, "train_input_path")
    assert cfg.pipeline_config_from_args(args).model_dir == "/tmp/e"


@pytest.mark.parametrize("argv, words", [
    (["--model_dir", "x", "--edit_config_json", '{"model_dir": "y"}'],
     "model_dir: set by both --model_dir and --edit_config_json"),
    (["--fine_tune_checkpoint", "x", "--edit_config_json",
      '{"train_config.fine_tune_checkpoint": "y"}'], "train_config.fine_tune_checkpoint: set by"),
    (["--edit_config_json", "{nope"], "--edit_config_json is not JSON"),
    (["--edit_config_json", "[1]"], "--edit_config_json must be a JSON object"),
])
def test_command_line_errors(argv, words):
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace("[", r"\[")):
        cfg.pipeline_config_from_args(parse_args(*argv))


# ---- validation: every rule names its field ---------------------------------------------------


def poly_rate(**fields):
    return {"learning_rate": {"poly_decay_learning_rate": fields}}


OPTIMIZER = "train_config.optimizer_config[0]"
ADAM_RATE = f"{OPTIMIZER}.adam_optimizer.learning_rate"
VALIDATION_CASES = [
    # top level
    ({"model_dir": ""}, "model_dir", "is required"),
    # train_config
    ({"train_config.save_checkpoints_secs": 60}, "train_config.save_checkpoints_secs",
     "set one of them"),
    ({"train_config.save_checkpoints_steps": 0}, "train_config.save_checkpoints_steps", ">= 1"),
    ({"train_config.log_step_count_steps": 0}, "train_config.log_step_count_steps", ">= 1"),
    ({"train_config.save_checkpoint_due_time": 0}, "train_config.save_checkpoint_due_time",
     ">= 1"),
    ({"train_config.sync_replicas": True, "train_config.train_distribute": "PSStrategy"},
     "train_config.sync_replicas", "needs train_distribute NoStrategy"),
    ({"train_config.train_distribute": "HorovodStrategy"}, "train_config.train_distribute",
     "HorovodStrategy is not supported: mx_rec trains in one process (NoStrategy)"),
    ({"train_config.gradient_clipping_by_norm": -1}, "train_config.gradient_clipping_by_norm",
     ">= 0"),
    ({"train_config.gradient_clipping_by_norm": float("nan")},
     "train_config.gradient_clipping_by_norm", "finite"),
    ({"train_config.fine_tune_ckpt_var_map": "nope.txt"}, "train_config.fine_tune_ckpt_var_map",
     "needs fine_tune_checkpoint"),
    ({"train_config.fine_tune_checkpoint": "c", "train_config.fine_tune_ckpt_var_map": "n.txt"},
     "train_config.fine_tune_ckpt_var_map", "'n.txt' is not a file"),
    ({"train_config.optimizer_config": []}, "train_config.optimizer_config", "got 0"),
    ({"train_config.optimizer_config": [{}]}, OPTIMIZER, "set one optimizer: adam_optimizer"),
    ({f"{OPTIMIZER}.adam_optimizer.beta1": 1.5}, f"{OPTIMIZER}.adam_optimizer.beta1",
     "beta1 must be in [0, 1)"),
    ({OPTIMIZER: {"momentum_optimizer": {"learning_rate": {"constant_learning_rate": {}},
                                         "momentum_optimizer_value": 1.0}}},
     f"{OPTIMIZER}.momentum_optimizer.momentum_optimizer_value", "momentum must be in [0, 1)"),
    ({OPTIMIZER: {"ftrl_optimizer": {"learning_rate": {"constant_learning_rate": {}},
                                     "l1_reg": -1}}},
     f"{OPTIMIZER}.ftrl_optimizer.l1_reg", "l1_regularization_strength must be"),
    ({ADAM_RATE: {}}, ADAM_RATE, "set one schedule: constant_learning_rate"),
    ({f"{ADAM_RATE}.exponential_decay_learning_rate.decay_steps": 0},
     f"{ADAM_RATE}.exponential_decay_learning_rate.decay_steps", "decay_steps must be"),
    ({f"{OPTIMIZER}.adam_optimizer": poly_rate(power=1)},
     f"{ADAM_RATE}.poly_decay_learning_rate.learning_rate_base", "is required"),
    ({f"{OPTIMIZER}.adam_optimizer": {"learning_rate": {"manual_step_learning_rate": {}}}},
     f"{ADAM_RATE}.manual_step_learning_rate.schedule", "non-empty"),
    ({f"{OPTIMIZER}.adam_optimizer": {"learning_rate": {"manual_step_learning_rate": {
        "schedule": [{"learning_rate": 0.1}]}}}},
     f"{ADAM_RATE}.manual_step_learning_rate.schedule[0].step", "is required"),
    # data_config
    ({"data_config.input_type": None}, "data_config.input_type",
     "is required: one of CSVInput, TFRecordInput"),
    ({"data_config.batch_size": 0}, "data_config.batch_size", ">= 1"),
    ({"data_config.separator": "ab"}, "data_config.separator", "one character"),
    ({"data_config.shuffle_buffer_size": 0}, "data_config.shuffle_buffer_size", ">= 1"),
    ({"data_config.data_compression_type": "LZ4"}, "data_config.data_compression_type",
     "'', 'GZIP', 'ZLIB'"),
    ({"data_config.label_fields": []}, "data_config.label_fields", "is required"),
    ({"data_config.label_fields": ["nope"]}, "data_config.label_fields[0]",
     "'nope' is not a data_config.input_fields input_name"),
    ({"data_config.sample_weight": "nope"}, "data_config.sample_weight", "'nope' is not"),
    ({"data_config.input_fields[0].default_val": "x"}, "data_config.input_fields[0].default_val",
     "'x' is not a INT32 value"),
    ({"data_config.input_fields[1].default_val": "x"}, "data_config.input_fields[1].default_val",
     "'x' is not a FLOAT value"),
    ({"data_config.input_fields[0].input_type": "BOOL", "data_config.input_fields[0].default_val":
      "maybe"}, "data_config.input_fields[0].default_val", "is not a BOOL value"),
    ({"data_config.input_fields[0].input_name": ""}, "data_config.input_fields[0].input_name",
     "is required"),
    ({"data_config.input_fields[0].input_name": "I[1-1]"},
     "data_config.input_fields[1].input_name", "'I1' is listed twice"),
    ({"data_config.input_fields": []}, "data_config.input_fields", "is required"),
    ({"data_config.input_fields[2].input_name": "C[5-1]"},
     "data_config.input_fields[2].input_name", "the range of 'C[5-1]' is empty"),
    # eval_config
    ({"eval_config.metrics_set[0]": {}}, "eval_config.metrics_set[0]", "set one metric: auc"),
    ({"eval_config.metrics_set[1]": {"auc": {}}}, "eval_config.metrics_set[1].auc",
     "listed twice"),
    ({"eval_config.metrics_set[1]": {"gauc": {"uid_field": "nope"}}},
     "eval_config.metrics_set[1].gauc.uid_field", "'nope' is not"),
    ({"eval_config.metrics_set[1]": {"gauc": {"uid_field": "C1", "reduction": "median"}}},
     "eval_config.metrics_set[1].gauc.reduction", "'median' is not one of mean"),
    ({"eval_config.metrics_set[1]": {"recall_at_topk": {"topk": 0}}},
     "eval_config.metrics_set[1].recall_at_topk.topk", ">= 1"),
    # export_config
    ({"export_config.exporter_type": "bestest"}, "export_config.exporter_type",
     "exporter_type must be one of 'final', 'latest', 'best', 'none'"),
    ({"export_config.best_exporter_metric": "gauc"}, "export_config.best_exporter_metric",
     "'gauc' is not a metric this config evaluates (add it to eval_config.metrics_set); they "
     "are: loss, auc, logloss"),
    ({"export_config.exporter_type": "final", "export_config.enable_early_stop": True,
      "export_config.best_exporter_metric": "accuracy"}, "export_config.best_exporter_metric",
     "'accuracy' is not a metric"),
    ({"export_config.exports_to_keep": 0}, "export_config.exports_to_keep",
     "exports_to_keep must be in [1, inf]"),
    ({"export_config.max_check_steps": 0}, "export_config.max_check_steps",
     "max_check_steps must be"),
    ({"export_config.batch_size": 0}, "export_config.batch_size", "batch_size must be -1"),
    ({"export_config.asset_files": ["nope.txt"]}, "export_config.asset_files",
     "'nope.txt' is not a file"),
    ({"export_config.multi_value_fields.input_name": ["nope"]},
     "export_config.multi_value_fields.input_name[0]", "'nope' is not"),
    # model_config.features
    ({"model_config.features": []}, "model_config.features", "is required"),
    ({"model_config.features[0].input_name": ""}, "model_config.features[0].input_name",
     "is required"),
    ({"model_config.features[0].input_name": "nope"}, "model_config.features[0].input_name",
     "'nope' is not a data_config.input_fields input_name"),
    ({"model_config.features[0].input_name": "label"}, "model_config.features[0].input_name",
     "'label' is a label field"),
    ({"model_config.features[0].table": {"dim": 4}}, "model_config.features[0].table",
     "only used by features looked up in a table"),
    ({"model_config.features[0].feature_type": "IdFeature"},
     "model_config.features[0].input_name", "IdFeature reads INT32, INT64, STRING input"),
    ({"model_config.features[1].feature_type": "TagFeature",
      "model_config.features[1].combiner": "max"}, "model_config.features[1].combiner",
     "'max' is not one of sum, mean, sqrtn"),
    ({"model_config.features[1].feature_type": "TagFeature",
      "model_config.features[1].separator": ""}, "model_config.features[1].separator",
     "must not be empty"),
    ({"model_config.features[1].combiner": "sum"}, "model_config.features[1].combiner",
     "only used by TagFeature"),
    ({"data_config.input_fields[2].input_type": "INT64",
      "data_config.input_fields[2].default_val": "0"},
     "model_config.features[1].string_to_key", "only used with a STRING input"),
    ({"model_config.features[1].eviction_threshold": 10},
     "model_config.features[1].eviction_threshold",
     "eviction_threshold needs access_threshold"),
    ({"model_config.features[1].access_threshold": 0},
     "model_config.features[1].access_threshold", "access_threshold must be in [1"),
    ({"model_config.features[1].faae_coefficient": 0},
     "model_config.features[1].faae_coefficient", "faae_coefficient must be in [1"),
    ({"model_config.embedding.use_dynamic": False}, "model_config.features[1].send_count",
     "is required with embedding.use_dynamic false"),
    ({"model_config.embedding.evict_step_interval": 100},
     "model_config.embedding.evict_step_interval", "no feature has an eviction_threshold"),
    ({"model_config.embedding.evict_time_interval": 0},
     "model_config.embedding.evict_time_interval", ">= 1"),
    ({"model_config.features[1].feature_name": "x"}, "model_config.features[1].feature_name",
     "must be unset when input_name is a range"),
    ({"model_config.features[0].input_name": "C1", "model_config.features[0].feature_type":
      "IdFeature", "model_config.features[0].table": {"dim": 16, "device_vocabulary_size": 8}},
     "model_config.features[1].feature_name", "'C1' is listed twice"),
    # tables
    ({"model_config.features[1].table": {}}, "model_config.features[1].table.dim",
     "is required"),
    ({"model_config.features[1].table.device_vocabulary_size": None},
     "model_config.features[1].table.device_vocabulary_size", "is required"),
    ({"model_config.features[1].table.dim": 9000}, "model_config.features[1].table.dim",
     "dim must be in [1, 8192], got 9000"),
    ({"model_config.features[1].table.cache_mode": "DDR",
      "model_config.features[1].table.host_vocabulary_size": 0},
     "model_config.features[1].table.host_vocabulary_size", ">= 1 with cache_mode DDR"),
    ({"model_config.features[1].table.cache_mode": "SSD",
      "model_config.features[1].table.ssd_vocabulary_size": 0},
     "model_config.features[1].table.ssd_vocabulary_size", ">= 1 with cache_mode SSD"),
    ({"model_config.features[1].table.cache_mode": "SSD",
      "model_config.features[1].table.ssd_data_path": []},
     "model_config.features[1].table.ssd_data_path", "is required with cache_mode SSD"),
    ({"model_config.features[1].table.cache_mode": "SSD",
      "model_config.features[1].table.ssd_data_path": [DLRM]},
     "model_config.features[1].table.ssd_data_path", "is not a directory"),
    ({"model_config.features[1].table.hot_refresh_steps": 5},
     "model_config.features[1].table.hot_refresh_steps", "only used with hot_embedding"),
    ({"model_config.features[1].table.hot_embedding": True},
     "model_config.features[1].table.hot_vocabulary_size", "needs a host tier"),
    ({"model_config.features[1].table.cache_mode": "DDR",
      "model_config.features[1].table.hot_embedding": True,
      "model_config.features[1].table.hot_vocabulary_size": 1024},
     "model_config.features[1].table.hot_vocabulary_size", "hot_vocabulary_size must be in"),
    ({"model_config.features[1].table.init_stddev": 0},
     "model_config.features[1].table.init_stddev", "> 0"),
    ({"model_config.features[1].table.default_value": float("inf")},
     "model_config.features[1].table.default_value", "finite"),
    ({"model_config.features[1].table_name": "shared", "model_config.features[0]": {
        "input_name": "C1", "table_name": "shared", "table": {"dim": 16,
                                                              "device_vocabulary_size": 8}},
      "model_config.features[1].input_name": "C[2-26]"},
     "model_config.features[1].table", "differs from the options feature 'C1' gives the same "
     "table 'shared'"),
    ({"model_config.features[1].table_name": "shared", "model_config.features[0]": {
        "input_name": "C1", "table_name": "shared", "access_threshold": 2},
      "model_config.features[1].input_name": "C[2-26]",
      "model_config.features[1].access_threshold": 3},
     "model_config.features[1].access_threshold", "differs from feature 'C1''s: features of one "
     "table ('shared') share its admission"),
    ({"model_config.features[0]": {"input_name": "I1", "feature_type": "IdFeature"},
      "data_config.input_fields[1].input_type": "INT64"}, "model_config.features[0].table",
     "is required: the options of table 'I1'"),
    # model block, labels, losses
    ({"model_config.dlrm": None}, "model_config", "set one model block: dlrm, deepfm"),
    ({"data_config.label_fields": ["label", "I1"]}, "data_config.label_fields",
     "dlrm is single-task and takes one"),
    ({"model_config.num_class": 0}, "model_config.num_class", ">= 1"),
    ({"model_config.losses": [{"loss_type": "L2_LOSS"}]}, "model_config.loss_type",
     "set loss_type or losses, not both"),
    ({"model_config.loss_type": "SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING"},
     "model_config.loss_type", "needs num_negative_samples"),
    ({"model_config.loss_type": None, "model_config.losses": [{"weight": 1}]},
     "model_config.losses[0].loss_type", "is required: one of CLASSIFICATION"),
    ({"model_config.loss_type": None, "model_config.losses": [{"loss_type": "L2_LOSS",
                                                               "weight": -1}]},
     "model_config.losses[0].weight", "weight must be"),
    ({"model_config.loss_type": None, "model_config.losses": [
        {"loss_type": "L2_LOSS", "circle_loss": {}}]}, "model_config.losses[0]",
     "`circle_loss` does not go with loss_type L2_LOSS"),
    ({"model_config.loss_type": None, "model_config.losses": [
        {"loss_type": "SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", "softmax_loss": {}}]},
     "model_config.losses[0].softmax_loss.num_negative_samples", "is required"),
    ({"model_config.loss_type": None, "model_config.losses": [
        {"loss_type": "F1_REWEIGHTED_LOSS", "f1_reweighted_loss": {"f1_beta_square": 0}}]},
     "model_config.losses[0].f1_reweighted_loss.f1_beta_square", "f1_beta_square must be"),
    ({"model_config.features[0].feature_type": "IdFeature", "model_config.features[0].table":
      {"dim": 16, "device_vocabulary_size": 8}, "data_config.input_fields[1].input_type": "INT64"},
     "model_config.features", "DLRM needs at least one RawFeature"),
    ({"model_config.features": [
        {"input_name": "I[1-13]", "feature_type": "RawFeature"},
        {"input_name": "C[1-25]", "table": {"dim": 8, "device_vocabulary_size": 64}},
        {"input_name": "C26", "table": {"dim": 16, "device_vocabulary_size": 64}}]},
     "model_config.features[2]", "has dim 16 but feature 'C1' has 8: DLRM needs one dim"),
    ({"model_config.dlrm.top_dnn.hidden_units": [64, 0]},
     "model_config.dlrm.top_dnn.hidden_units[1]", ">= 1"),
]


@pytest.mark.parametrize("edits, path, words", VALIDATION_CASES)
def test_validation_errors_name_the_field(edits, path, words):
    found = problems(dlrm_error(edits))
    assert path in found, found
    assert words in found[path]


@pytest.mark.parametrize("model, edits, path, words", [
    ("deepfm", {"model_config.deepfm.dnn": {}}, "model_config.deepfm.dnn.hidden_units",
     "is required"),
    ("deepfm", {"model_config.features": [{"input_name": "I1", "feature_type": "RawFeature"}]},
     "model_config.features", "DeepFM needs at least one IdFeature"),
    ("mmoe", {"model_config.loss_type": "L2_LOSS"}, "model_config.loss_type",
     "is set per task tower in MMoE"),
    ("mmoe", {"model_config.mmoe.num_expert": 0}, "model_config.mmoe.num_expert", ">= 1"),
    ("mmoe", {"model_config.mmoe.expert_dnn": {}}, "model_config.mmoe.expert_dnn.hidden_units",
     "is required"),
    ("mmoe", {"model_config.mmoe.task_towers": []}, "model_config.mmoe.task_towers",
     "one per task"),
    ("mmoe", {"model_config.mmoe.task_towers[1].tower_name": "income"},
     "model_config.mmoe.task_towers[1].tower_name", "'income' is listed twice"),
    ("mmoe", {"model_config.mmoe.task_towers[1].tower_name": ""},
     "model_config.mmoe.task_towers[1].tower_name", "is required"),
    ("mmoe", {"model_config.mmoe.task_towers[1].label_name": "age"},
     "model_config.mmoe.task_towers[1].label_name", "'age' is not in data_config.label_fields"),
    ("mmoe", {"model_config.mmoe.task_towers[1].label_name": None,
              "data_config.label_fields": ["income"]},
     "model_config.mmoe.task_towers[1].label_name", "no data_config.label_fields entry"),
    ("mmoe", {"model_config.mmoe.task_towers[0].num_class": 0},
     "model_config.mmoe.task_towers[0].num_class", ">= 1"),
    ("mmoe", {"model_config.mmoe.task_towers[0].weight": -1},
     "model_config.mmoe.task_towers[0].weight", ">= 0"),
    ("mmoe", {"model_config.mmoe.task_towers[0].losses": [{"loss_type": "L2_LOSS"}]},
     "model_config.mmoe.task_towers[0].loss_type", "not both"),
    ("mmoe", {"export_config.best_exporter_metric": "auc"}, "export_config.best_exporter_metric",
     "they are: loss, auc_income, auc_marital, logloss_income, logloss_marital"),
    ("dssm", {"model_config.dssm.user_tower": None}, "model_config.dssm.user_tower.feature_names",
     "is required"),
    ("dssm", {"model_config.dssm.item_tower.feature_names[0]": "nope"},
     "model_config.dssm.item_tower.feature_names[0]", "'nope' is not a model_config.features"),
    ("dssm", {"model_config.dssm.item_tower.feature_names[0]": "user_id"},
     "model_config.dssm.item_tower.feature_names[0]", "'user_id' is already in user_tower"),
    ("dssm", {"model_config.dssm.item_tower.feature_names": ["item_id"]},
     "model_config.features", "item_category belong to no DSSM tower"),
    ("dssm", {"model_config.dssm.item_tower.dnn.hidden_units": [64, 32]},
     "model_config.dssm.item_tower.dnn.hidden_units", "ends with 32 but user_tower's ends with 16"),
])
def test_model_validation_errors_name_the_field(model, edits, path, words):
    if model == "deepfm":
        edits = {"model_config.deepfm": {"dnn": {"hidden_units": [32]}}, **edits}
    name = {"deepfm": "dlrm_criteo", "mmoe": "mmoe_census", "dssm": "dssm_criteo"}[model]
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(os.path.join(CONFIGS, f"{name}.config"), edits)
    found = problems(info.value)
    assert path in found, found
    assert words in found[path]


def test_every_problem_at_once():
    error = dlrm_error({"model_dir": "", "train_config.save_checkpoints_secs": 5,
                        "export_config.exporter_type": "bestest"})
    assert list(problems(error)) == ["model_dir", "train_config.save_checkpoints_secs",
                                     "export_config.exporter_type"]
    assert str(error).startswith(f"pipeline config {DLRM}: 3 problems\n  model_dir: ")


def test_a_range_reports_a_problem_once():
    error = dlrm_error({"model_config.features[1].table.dim": 0})
    assert [str(p) for p in error.problems] == [
        "model_config.features[1].table.dim: dim must be in [1, 8192], got 0"]


def test_allowed_combinations():
    load_dlrm({"train_config.sync_replicas": True})  # NoStrategy: one process is synchronous
    load_dlrm({"train_config.save_checkpoints_steps": None,
               "train_config.save_checkpoints_secs": 60})
    load_dlrm({"export_config.enable_early_stop": True, "export_config.exporter_type": "final",
               "export_config.best_exporter_metric": "nope",
               "export_config.early_stop_func": "my.module.stop"})  # a custom rule
    load_dlrm({"model_config.features[1].eviction_threshold": 10,
               "model_config.features[1].access_threshold": 1,
               "model_config.embedding.evict_step_interval": 100})


# ---- converters into mx_rec's typed configs --------------------------------------------------


def optimizer_config(block):
    text = f"train_config {{ optimizer_config {{ {block} }} }}"
    return cfg.optimizer_settings(parse_pipeline_config(text).train_config)[0]


@pytest.mark.parametrize("block, rule, arguments", [
    ("adam_optimizer { beta1: 0.8 }", "lazy_adam",
     {"beta1": 0.8, "beta2": 0.999, "epsilon": 1e-8}),
    ("lazy_adam_optimizer {}", "lazy_adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("adam_w_optimizer {}", "adam_w",
     {"weight_decay": 1e-6, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}),
    ("adagrad_optimizer {}", "adagrad", {"initial_accumulator_value": 0.1}),
    ("momentum_optimizer { use_nesterov: true }", "momentum",
     {"momentum": 0.9, "use_nesterov": True}),
    ("rms_prop_optimizer {}", "rms_prop",
     {"momentum": 0.9, "decay": 0.9, "epsilon": 1.0, "centered": False}),
    ("ftrl_optimizer { l2_reg: 0.5 }", "ftrl",
     {"learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
      "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.5}),
    ("gradient_descent_optimizer {}", "gradient_descent", {}),
])
def test_optimizer_settings_build_hash_optimizers(block, rule, arguments):
    kind = block.split()[0]
    block = block.replace("{", "{ learning_rate { constant_learning_rate { learning_rate: 0.5 } }",
                          1)
    setting = optimizer_config(block)
    assert setting == cfg.OptimizerSetting(
        kind, rule, lr.LearningRate(constant_learning_rate=lr.ConstantLearningRate(0.5)),
        arguments)
    getattr(optimizers, setting.hash_rule).create_hash_optimizer(0.5, **setting.arguments)


def test_dense_and_sparse_optimizers():
    config = load_dlrm({})
    cfg.edit_config(config, {"train_config.optimizer_config": [
        {"adam_optimizer": {"learning_rate": {"constant_learning_rate": {}}}},
        {"adagrad_optimizer": {"learning_rate": {"cosine_decay_learning_rate": {}}}}]})
    dense, sparse = cfg.optimizer_settings(config.train_config)
    assert (dense.kind, sparse.kind) == ("adam_optimizer", "adagrad_optimizer")
    assert sparse.learning_rate.schedule == lr.CosineDecayLearningRate()
    with pytest.raises(ConfigError) as info:
        cfg.optimizer_settings(cfg.edit_config(config, {
            "train_config.optimizer_config[:].adam_optimizer.beta2": 2.0,
            "train_config.optimizer_config[1].adam_optimizer.learning_rate": {}}).train_config)
    assert list(problems(info.value)) == [
        "train_config.optimizer_config[0].adam_optimizer.beta2",
        "train_config.optimizer_config[1].adam_optimizer.learning_rate"]


def test_learning_rate_schedules():
    text = """manual_step_learning_rate {
        initial_learning_rate: 0.01
        schedule { step: 100 learning_rate: 0.005 }
        schedule { step: 200 learning_rate: 0.001 }
        warmup: true }"""
    setting = optimizer_config(f"adam_optimizer {{ learning_rate {{ {text} }} }}")
    assert setting.learning_rate.schedule == lr.ManualStepLearningRate(
        0.01, (lr.LearningRateSchedule(100, 0.005), lr.LearningRateSchedule(200, 0.001)), True)
    setting = optimizer_config("adam_optimizer { learning_rate { poly_decay_learning_rate { "
                               "learning_rate_base: 0.1 total_steps: 10 power: 2 } } }")
    assert setting.learning_rate.schedule == lr.PolyDecayLearningRate(0.1, 10, 2.0)


def test_losses():
    config = parse_pipeline_config("""model_config {
        losses { loss_type: CLASSIFICATION weight: 0.5 }
        losses { loss_type: PAIR_WISE_LOSS pairwise_loss { margin: 0.1 session_name: "uid" } }
        losses { loss_type: CIRCLE_LOSS circle_loss { gamma: 16 } }
        losses { loss_type: MULTI_SIMILARITY_LOSS multi_simi_loss { ms_mining: true } }
        losses { loss_type: SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING
                 softmax_loss { num_negative_samples: 4 } } }""")
    assert cfg.losses(config.model_config, "model_config") == [
        mx_losses.Loss("CLASSIFICATION", 0.5),
        mx_losses.Loss("PAIR_WISE_LOSS", pairwise_loss=mx_losses.PairwiseLoss(0.1, "uid")),
        mx_losses.Loss("CIRCLE_LOSS", circle_loss=mx_losses.CircleLoss(gamma=16.0)),
        mx_losses.Loss("MULTI_SIMILARITY_LOSS",
                       multi_simi_loss=mx_losses.MultiSimilarityLoss(ms_mining=True)),
        mx_losses.Loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING",
                       softmax_loss=mx_losses.SoftmaxCrossEntropyWithNegativeMining(4))]
    single = parse_pipeline_config("model_config { loss_type: L2_LOSS }").model_config
    assert cfg.losses(single, "model_config") == [mx_losses.Loss("L2_LOSS")]


def test_export_conversions(tmp_path):
    asset = tmp_path / "vocab.txt"
    asset.write_text("a\n")
    config = load_dlrm({"export_config": {
        "batch_size": 8, "exporter_type": "latest", "best_exporter_metric": "logloss",
        "metric_bigger": False, "exports_to_keep": 3, "enable_early_stop": True,
        "max_check_steps": 500, "multi_placeholder": False, "placeholder_named_by_input": True,
        "asset_files": [str(asset)], "fp16": True, "early_stop_params": '{"k": 1}'}})
    assert cfg.export_options(config, export_done_file="DONE", clear_export=True) == \
        ExportOptions(batch_size=8, multi_placeholder=False, placeholder_named_by_input=True,
                      separator="\t", asset_files=(str(asset),), fp16=True,
                      export_done_file="DONE", clear_export=True)
    assert cfg.exporter_config(config, eval_name="e") == ExporterConfig(
        "latest", "logloss", False, 3, True, 500, "", '{"k": 1}', "e")
    assert cfg.exporter_config(load_dlrm({})).early_stop_params is None


def test_tables_and_feature_specs():
    config = load_dlrm({
        "model_config.features[1].table.cache_mode": "SSD",
        "model_config.features[1].table.ssd_data_path": ["/tmp/ssd_a", "/tmp/ssd_b"],
        "model_config.features[1].table.cache_policy": "LFU",
        "model_config.features[1].access_threshold": 3,
        "model_config.features[1].faae_coefficient": 2})
    tables = cfg.table_arguments(config)
    assert list(tables)[:2] == ["C1", "C2"] and len(tables) == 26
    arguments = dict(tables["C5"])
    assert arguments.pop("emb_initializer").stddev == 0.05
    assert arguments == dict(
        key_dtype=arguments["key_dtype"], dim=16, name="C5", device_vocabulary_size=1024,
        host_vocabulary_size=4096, ssd_vocabulary_size=1048576,
        ssd_data_path=["/tmp/ssd_a", "/tmp/ssd_b"], default_value=0.0, cache_policy="LFU",
        hot_embedding=False, hot_vocabulary_size=None, hot_refresh_steps=None)
    assert arguments["key_dtype"].name == "int64"
    ddr = cfg.table_arguments(load_dlrm({"model_config.features[1].table.cache_mode": "DDR"}))
    assert (ddr["C1"]["host_vocabulary_size"], ddr["C1"]["ssd_vocabulary_size"]) == (4096, 0)
    hbm = cfg.table_arguments(load_dlrm({}))["C1"]
    assert (hbm["host_vocabulary_size"], hbm["ssd_data_path"]) == (0, None)
    specs = cfg.feature_specs(config)
    assert [(s.name, s.table_name, s.index_key, s.access_threshold, s.faae_coefficient)
            for s in specs[:2]] == [("C1", "C1", "C1", 3, 2), ("C2", "C2", "C2", 3, 2)]


def test_shared_table():
    config = load_pipeline_config(os.path.join(CONFIGS, "dssm_criteo.config"), {
        "model_config.features[1].table_name": "user_id",
        "model_config.features[1].table": None})
    assert list(cfg.table_arguments(config)) == ["user_id", "item_id", "item_category"]
    assert [s.table_name for s in cfg.feature_specs(config)[:2]] == ["user_id", "user_id"]


def test_metric_names():
    config = load_pipeline_config(os.path.join(CONFIGS, "mmoe_census.config"))
    assert cfg.metric_names(config) == ["loss", "auc_income", "auc_marital", "logloss_income",
                                        "logloss_marital"]
    assert cfg.metric_names(load_dlrm({})) == ["loss", "auc", "logloss"]


# ---- the generated modules ------------------------------------------------------------------


def test_stale_generated_module_is_reported(tmp_path, monkeypatch):
    from mx_rec.config import protos
    (tmp_path / "a_pb2.py").write_text("")
    (tmp_path / "a.proto").write_text("")
    os.utime(tmp_path / "a_pb2.py", (0, 0))
    monkeypatch.setattr(protos, "_HERE", str(tmp_path))
    with pytest.raises(ImportError, match="a_pb2.py is older than its .proto: run `python "
                                          "scripts/compile_protos.py`"):
        protos._check_generated()
    (tmp_path / "b.proto").write_text("")
    os.utime(tmp_path / "a_pb2.py")
    with pytest.raises(ImportError, match="b_pb2.py is missing"):
        protos._check_generated()
