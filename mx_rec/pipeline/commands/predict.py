"""python -m mx_rec.predict: the model's outputs for every sample of an
input file, written to an output file (EasyRec's predict).

  python -m mx_rec.predict --pipeline_config_path X.config --input_path IN --output_path OUT
      [--output_cols 'probs float,logits float'] [--reserved_cols 'label,user_id']
      [--output_sep SEP] [--checkpoint_path C] [--model_dir M] [--edit_config_json JSON]

IN is read like the eval input (data_config's format and columns); OUT gets
a header line of column names, then one line per sample: the reserved input
columns, then the output columns, separated by --output_sep (default tab).
See mx_rec/pipeline/output_columns.py for output_cols and reserved_cols.
"""

import os
import sys

from mx_rec.config import pipeline_config_from_args
from mx_rec.pipeline.commands import cli
from mx_rec.pipeline.estimator import build_estimator, init_mx_rec
from mx_rec.pipeline.inputs import RESERVED_PREFIX, input_fn
from mx_rec.pipeline.output_columns import (VECTOR_SEPARATOR, Column, cell, parse_output_cols,
                                            parse_reserved_cols)


def predict(config, input_path, output_path, output_cols=None, reserved_cols=None,
            output_sep="\t", checkpoint_path=None):
    """Writes the predictions of every sample of input_path to output_path;
    returns the number of samples."""
    if len(output_sep) != 1 or output_sep == VECTOR_SEPARATOR:
        raise cli.UsageError(f"--output_sep must be one character other than "
                             f"{VECTOR_SEPARATOR!r} (it joins vector values), got {output_sep!r}")
    reserved = parse_reserved_cols(reserved_cols)
    try:
        read = input_fn(config, "predict", input_path, reserved)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    prefix = cli.checkpoint(checkpoint_path, config.model_dir)
    init_mx_rec(config)
    batches = build_estimator(config).predict(read, checkpoint_path=prefix,
                                              yield_single_examples=False)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    count, columns = 0, None
    with open(output_path, "w", encoding="utf-8") as out:
        for batch in batches:
            if columns is None:
                columns = _columns(batch, output_cols, reserved)
                out.write(output_sep.join(reserved + [c.name for c in columns[len(reserved):]])
                          + "\n")
            rows = len(batch[columns[0].name])
            for i in range(rows):
                out.write(output_sep.join(cell(batch[c.name][i], c) for c in columns) + "\n")
            count += rows
    return count


def _columns(batch, output_cols, reserved):
    """Every Column written: the reserved inputs, then the outputs."""
    outputs = [name for name in batch if not name.startswith(RESERVED_PREFIX)]
    try:
        chosen = parse_output_cols(output_cols, outputs)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    return [Column(RESERVED_PREFIX + name, "string") for name in reserved] + chosen


def main(argv=None):
    parser = cli.parser("mx_rec.predict", __doc__)
    parser.add_argument("--input_path", required=True, help="input files, comma-separated")
    parser.add_argument("--output_path", required=True, help="the output file")
    parser.add_argument("--output_cols", help="'name type, ...' of the outputs written "
                        "(default: every output)")
    parser.add_argument("--reserved_cols", help="'a,b': input columns copied to the output")
    parser.add_argument("--output_sep", default="\t", help="column separator (default: tab)")
    cli.add_checkpoint_argument(parser)

    def command(args):
        count = predict(pipeline_config_from_args(args), args.input_path, args.output_path,
                        args.output_cols, args.reserved_cols, args.output_sep,
                        args.checkpoint_path)
        print(f"{count} samples -> {args.output_path}", flush=True)
    cli.run(parser, argv, command)


if __name__ == "__main__":
    sys.exit(main())
