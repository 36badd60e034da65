"""What the command-line tools share: usage errors exit 2 with one line."""

import argparse

import tensorflow as tf


def parser(prog, doc):
    """An ArgumentParser whose description is the tool's module docstring."""
    return argparse.ArgumentParser(prog=f"python -m {prog}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run(arg_parser, argv, command):
    """Parses argv and returns command(args). A ValueError (a bad argument or
    bad input, its message naming which) exits 2 with that message, as
    argparse's own usage errors do. TensorFlow's warnings (the TF1 SavedModel
    loader is deprecated) are silenced while it runs: the tool prints its own
    report (the level is put back, for callers running tools in-process)."""
    args = arg_parser.parse_args(argv)
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        return command(args)
    except ValueError as e:
        arg_parser.exit(2, f"{arg_parser.prog}: error: {e}\n")
    finally:
        logger.setLevel(level)
