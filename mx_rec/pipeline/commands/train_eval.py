"""python -m mx_rec.train_eval: train with periodic evaluation, checkpoints,
exports and early stopping as the pipeline config says.

  python -m mx_rec.train_eval --pipeline_config_path X.config
      [--model_dir D] [--edit_config_json JSON] [--continue_train]
      [--train_input_path F ...] [--eval_input_path F ...] [--fine_tune_checkpoint C]

Training ends at train_config.num_steps, or when the training input ends
(data_config.num_epochs), or when early stopping says so; an evaluation
follows every checkpoint at most every eval_config.eval_interval_secs, and
one ends the run. A model_dir that already holds checkpoints is refused
unless --continue_train, which resumes from its latest one (fine-tuning
then does not apply). The effective config is saved as
<model_dir>/pipeline.config.
"""

import math
import os
import sys

import tensorflow as tf

from mx_rec.config import (ConfigError, export_options, exporter_config,
                           pipeline_config_from_args, save_pipeline_config)
from mx_rec.export import early_stop, exporters, export_estimator, serving, \
    serving_input_receiver_fn
from mx_rec.pipeline.commands import cli
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.fields import serving_features
from mx_rec.pipeline.inputs import input_fn

CONFIG_NAME = "pipeline.config"


def train_and_evaluate(config, continue_train=False):
    """Runs the training of `config`; returns the last evaluation's metrics."""
    _check_end(config)
    _check_model_dir(config.model_dir, continue_train)
    init_mx_rec(config)
    save_pipeline_config(config, os.path.join(config.model_dir, CONFIG_NAME))
    estimator = build_estimator(config, fine_tune=True)
    options, exporting = export_options(config), exporter_config(config)
    receiver_fn = serving_input_receiver_fn(serving_features(config), options)
    train_spec = tf.estimator.TrainSpec(input_fn(config, "train"),
                                        max_steps=config.train_config.num_steps or None,
                                        hooks=early_stop.make_hooks(estimator, exporting))
    eval_spec = tf.estimator.EvalSpec(input_fn(config, "eval"), steps=eval_steps(config),
                                      exporters=exporters.make_exporters(receiver_fn, exporting),
                                      start_delay_secs=0,
                                      throttle_secs=config.eval_config.eval_interval_secs)
    with serving.estimator_options(options):
        metrics, exports = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    if exporting.exporter_type == "final" and not any(exports or ()):
        # TF's final export waits for max_steps: a run that ends with its input has none.
        export_estimator(estimator, os.path.join(config.model_dir, "export", "final"),
                         serving_features(config), options=options)
    return metrics or {}


def eval_steps(config):
    """Batches per evaluation: eval_config.num_examples' worth, or None (all)."""
    examples = config.eval_config.num_examples
    return math.ceil(examples / config.data_config.batch_size) if examples else None


def _check_end(config):
    if not config.train_config.num_steps and not config.data_config.num_epochs:
        raise ConfigError.at("train_config.num_steps", "is 0 and so is data_config.num_epochs: "
                             "training would never end; set either")


def _check_model_dir(model_dir, continue_train):
    latest = tf.train.latest_checkpoint(model_dir) if os.path.isdir(model_dir) else None
    if latest and not continue_train:
        raise cli.UsageError(f"model_dir {model_dir} holds checkpoints (latest {latest}): pass "
                             "--continue_train to resume from it, or choose another model_dir")


def main(argv=None):
    parser = cli.parser("mx_rec.train_eval", __doc__, training=True)

    def command(args):
        metrics = train_and_evaluate(pipeline_config_from_args(args), args.continue_train)
        cli.print_metrics(metrics)
    cli.run(parser, argv, command)


if __name__ == "__main__":
    sys.exit(main())
