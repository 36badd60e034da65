"""The Estimator of a pipeline config: mx_rec's init() switches, the
RunConfig of train_config's checkpoint and summary policy, and fine-tuning
(fine_tune_checkpoint with fine_tune_ckpt_var_map, tables included)."""

import re

import tensorflow as tf

from mx_rec.checkpoint.warm_start import warm_start_model_fn
from mx_rec.config.errors import ConfigError
from mx_rec.pipeline.model_fn import make_model_fn
from mx_rec.util import initialize


def init_mx_rec(config):
    """init() with model_config.embedding's and train_config's switches
    (again if mx_rec was initialised: one pipeline per process)."""
    initialize.terminate_config_initializer()
    embedding, train = config.model_config.embedding, config.train_config
    incremental = train.is_incremental_checkpoint
    return initialize.init(use_dynamic=embedding.use_dynamic,
                           use_dynamic_expansion=embedding.use_dynamic_expansion,
                           max_steps=train.num_steps or None,
                           is_incremental_checkpoint=incremental,
                           save_checkpoint_due_time=train.save_checkpoint_due_time
                           if incremental else None)


def run_config(config):
    """The RunConfig: save_checkpoints_steps or _secs, keep_checkpoint_max,
    save_summary_steps. Estimator's own loss lines are off: the model_fn's
    ProgressHook writes the progress lines."""
    train = config.train_config
    if train.HasField("save_checkpoints_secs"):
        every = dict(save_checkpoints_secs=train.save_checkpoints_secs)
    else:
        every = dict(save_checkpoints_steps=train.save_checkpoints_steps)
    return tf.estimator.RunConfig(model_dir=config.model_dir,
                                  keep_checkpoint_max=train.keep_checkpoint_max,
                                  save_summary_steps=train.save_summary_steps,
                                  log_step_count_steps=None, **every)


def build_estimator(config, fine_tune=False):
    """The Estimator of `config`; with fine_tune, its model starts from
    train_config.fine_tune_checkpoint unless model_dir holds a checkpoint."""
    model_fn = make_model_fn(config)
    if fine_tune and config.train_config.fine_tune_checkpoint:
        model_fn = warm_start_model_fn(model_fn, warm_start_settings(config.train_config))
    return tf.estimator.Estimator(model_fn, config=run_config(config))


def warm_start_settings(train):
    """WarmStartSettings of fine_tune_checkpoint: every trainable variable
    and table, or with fine_tune_ckpt_var_map exactly the variables and
    tables it names, each from its name there."""
    if not train.fine_tune_ckpt_var_map:
        return tf.estimator.WarmStartSettings(train.fine_tune_checkpoint, ".*")
    renames = read_var_map(train.fine_tune_ckpt_var_map)
    # Whole names: a variable "x" (op name; its tensor is "x:0") or a table "x".
    selectors = [re.escape(name) + r"(:\d+)?" + "$" for name in renames]
    return tf.estimator.WarmStartSettings(train.fine_tune_checkpoint, selectors,
                                          var_name_to_prev_var_name=renames)


def read_var_map(path):
    """{name in the model: name in the checkpoint} of a fine_tune_ckpt_var_map
    file: lines "name_in_model<TAB>name_in_checkpoint" (blank lines skipped)."""
    renames = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) != 2 or not all(part.strip() for part in parts):
                raise ConfigError.at("train_config.fine_tune_ckpt_var_map", (
                    f"{path} line {number}: {line.strip()!r} is not "
                    "'name_in_model<TAB>name_in_checkpoint'"))
            model_name, checkpoint_name = (part.strip().removesuffix(":0") for part in parts)
            renames[model_name] = checkpoint_name
    if not renames:
        raise ConfigError.at("train_config.fine_tune_ckpt_var_map", f"{path} names no variable")
    return renames
