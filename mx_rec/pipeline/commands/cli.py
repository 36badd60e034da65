"""What the pipeline's commands share: their parser and how they run."""

import argparse

import tensorflow as tf

from mx_rec.config import ConfigError, add_pipeline_arguments
from mx_rec.export import checkpoint_prefix


class UsageError(ValueError):
    """A command-line argument that cannot be used; the message names it."""


def parser(prog, doc, training=False):
    """An ArgumentParser with the pipeline's shared options (add_pipeline_arguments)."""
    arg_parser = argparse.ArgumentParser(prog=f"python -m {prog}", description=doc,
                                         formatter_class=argparse.RawDescriptionHelpFormatter)
    return add_pipeline_arguments(arg_parser, training=training)


def run(arg_parser, argv, command):
    """Parses argv and returns command(args) in graph mode with TF's INFO
    log (the progress lines). A ConfigError or UsageError exits 2 with its
    message; other errors keep their traceback."""
    args = arg_parser.parse_args(argv)
    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.INFO)
    try:
        return command(args)
    except (ConfigError, UsageError) as error:
        arg_parser.exit(2, f"{arg_parser.prog}: error: {error}\n")


def print_metrics(metrics):
    """One "name: value" line per metric, sorted by name."""
    for name, value in sorted(metrics.items()):
        print(f"{name}: {value}", flush=True)


def checkpoint(checkpoint_path, model_dir):
    """The checkpoint prefix of --checkpoint_path (a prefix or a directory),
    default model_dir's latest; UsageError naming which is wrong."""
    try:
        return checkpoint_prefix(checkpoint_path or model_dir)
    except ValueError as error:
        where = "--checkpoint_path" if checkpoint_path else f"model_dir {model_dir}"
        raise UsageError(f"{where}: {error}") from None


def add_checkpoint_argument(arg_parser):
    arg_parser.add_argument("--checkpoint_path", help="checkpoint prefix or directory (default: "
                            "model_dir's latest checkpoint)")
