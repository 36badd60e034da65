"""python -m mx_rec.export: a stock-TF SavedModel of a checkpoint (every
table frozen into standard ops, see mx_rec.export), with export_config's
options; its inputs are the data_config fields the model reads.

  python -m mx_rec.export --pipeline_config_path X.config --export_dir D
      [--checkpoint_path C] [--export_done_file F] [--clear_export]
      [--model_dir M] [--edit_config_json JSON]

The export goes to D/<timestamp>/ (printed); --checkpoint_path: a prefix or
a directory (its latest), default model_dir's latest; --export_done_file F
writes the file F into the export when it is complete; --clear_export
removes D first.
"""

import sys

from mx_rec.config import export_options, pipeline_config_from_args
from mx_rec.export import export_estimator
from mx_rec.pipeline.commands import cli
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.fields import serving_features


def export(config, export_dir, checkpoint_path=None, export_done_file="", clear_export=False):
    """Exports a checkpoint of `config`'s model; returns the export directory."""
    prefix = cli.checkpoint(checkpoint_path, config.model_dir)
    options = export_options(config, export_done_file, clear_export)
    init_mx_rec(config)
    return export_estimator(build_estimator(config), export_dir, serving_features(config),
                            checkpoint_path=prefix, options=options)


def main(argv=None):
    parser = cli.parser("mx_rec.export", __doc__)
    parser.add_argument("--export_dir", required=True, help="the exports' base directory")
    cli.add_checkpoint_argument(parser)
    parser.add_argument("--export_done_file", default="",
                        help="a file of this name is written into the finished export")
    parser.add_argument("--clear_export", action="store_true",
                        help="remove export_dir (earlier exports) first")
    cli.run(parser, argv, lambda args: print(export(
        pipeline_config_from_args(args), args.export_dir, args.checkpoint_path,
        args.export_done_file, args.clear_export), flush=True))


if __name__ == "__main__":
    sys.exit(main())
