"""python -m mx_rec.evaluate: eval_config's metrics of a checkpoint on the
eval input, printed and written to <model_dir>/eval_result.txt (JSON).

  python -m mx_rec.evaluate --pipeline_config_path X.config
      [--model_dir D] [--edit_config_json JSON] [--checkpoint_path C] [--eval_input_path F ...]

--checkpoint_path: a checkpoint prefix or a directory (its latest);
default: model_dir's latest checkpoint.
"""

import json
import os
import sys

from mx_rec.config import pipeline_config_from_args
from mx_rec.pipeline.commands import cli
from mx_rec.pipeline.commands.train_eval import eval_steps
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.inputs import input_fn

RESULT_NAME = "eval_result.txt"


def evaluate(config, checkpoint_path=None):
    """{metric: value} of `config`'s evaluation of a checkpoint (default:
    model_dir's latest), also written to <model_dir>/eval_result.txt."""
    prefix = cli.checkpoint(checkpoint_path, config.model_dir)
    init_mx_rec(config)
    metrics = build_estimator(config).evaluate(input_fn(config, "eval"), steps=eval_steps(config),
                                               checkpoint_path=prefix)
    metrics = {name: value.item() if hasattr(value, "item") else value
               for name, value in metrics.items()}
    os.makedirs(config.model_dir, exist_ok=True)
    with open(os.path.join(config.model_dir, RESULT_NAME), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=1, sort_keys=True)
    return metrics


def main(argv=None):
    parser = cli.parser("mx_rec.evaluate", __doc__)
    cli.add_checkpoint_argument(parser)
    parser.add_argument("--eval_input_path", nargs="+", help="overrides eval_input_path")
    cli.run(parser, argv, lambda args: cli.print_metrics(
        evaluate(pipeline_config_from_args(args), args.checkpoint_path)))


if __name__ == "__main__":
    sys.exit(main())
