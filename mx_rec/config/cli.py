"""The command-line options every pipeline command shares (EasyRec's):

  --pipeline_config_path X.config   the config file (required)
  --model_dir D                     overrides model_dir
  --edit_config_json '{"train_config.num_steps": 100}'
                                    edits fields by dotted path (edit_config)
and for training commands also
  --continue_train                  resume from model_dir's checkpoint
  --train_input_path F [F ...]      override train_input_path (joined by ",")
  --eval_input_path F [F ...]       override eval_input_path
  --fine_tune_checkpoint C          override train_config.fine_tune_checkpoint

Usage:
  parser = argparse.ArgumentParser(...)
  add_pipeline_arguments(parser)
  args = parser.parse_args()
  config = pipeline_config_from_args(args)   # ConfigError (a ValueError) if unusable
"""

import json

from mx_rec.config.errors import ConfigError
from mx_rec.config.pipeline import load_pipeline_config

# Option -> the field it overrides.
_OVERRIDES = {
    "model_dir": "model_dir",
    "train_input_path": "train_input_path",
    "eval_input_path": "eval_input_path",
    "fine_tune_checkpoint": "train_config.fine_tune_checkpoint",
}


def add_pipeline_arguments(parser, training=True):
    """Adds the options above to an argparse parser; training=False leaves
    out the training-only ones."""
    parser.add_argument("--pipeline_config_path", required=True,
                        help="the pipeline config file (protobuf text format)")
    parser.add_argument("--model_dir", help="overrides model_dir")
    parser.add_argument("--edit_config_json",
                        help='JSON {"dotted.path": value, ...} of fields to edit, e.g. '
                             '\'{"train_config.num_steps": 100}\'')
    if training:
        parser.add_argument("--continue_train", action="store_true",
                            help="continue from the checkpoint in model_dir")
        parser.add_argument("--train_input_path", nargs="+",
                            help="overrides train_input_path")
        parser.add_argument("--eval_input_path", nargs="+", help="overrides eval_input_path")
        parser.add_argument("--fine_tune_checkpoint",
                            help="overrides train_config.fine_tune_checkpoint")
    return parser


def pipeline_config_from_args(args):
    """The validated PipelineConfig that parsed `args` describe: the file,
    then the option overrides and --edit_config_json. An option and an edit
    of the same field is an error."""
    edits = _json_edits(args.edit_config_json)
    for option, path in _OVERRIDES.items():
        value = getattr(args, option, None)
        if value is None:
            continue
        if path in edits:
            raise ConfigError.at(path, f"set by both --{option} and --edit_config_json: give it "
                                 "once")
        edits[path] = ",".join(value) if isinstance(value, list) else value
    return load_pipeline_config(args.pipeline_config_path, edits)


def _json_edits(text):
    """The {path: value} of --edit_config_json (None: none)."""
    if text is None:
        return {}
    try:
        edits = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError.at("", f"--edit_config_json is not JSON: {error}") from None
    if not isinstance(edits, dict):
        raise ConfigError.at("", "--edit_config_json must be a JSON object "
                             f'{{"dotted.path": value}}, got {text}')
    return edits
