"""Convert Criteo Kaggle TSV files to TFRecord, streaming.

    python convert.py --input train.tsv[,more.tsv] --output train.tfrecord

Lines are parsed as the training reader parses them (criteo.parse_lines:
dense log1p, hashed keys) a batch at a time and written as one
tf.train.Example per line (records.py), in order; memory stays at one batch
whatever the file size. The DLRM example reads the output with
``--stream 1 --data train.tfrecord`` and gets the same batches as from the
TSV, without parsing text. A malformed line stops the conversion with an
error naming its file and line; the partial output is removed.
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import criteo  # noqa: E402
import records  # noqa: E402
import stream  # noqa: E402


def convert(files, output, batch_size=8192, report_every=0):
    """Writes the rows of TSV `files` to TFRecord `output`; returns the row count.
    A line that fails to parse raises tf.errors.InvalidArgumentError naming it;
    the output is then deleted."""
    rows = 0
    t0 = time.time()
    with tf.Graph().as_default() as graph:
        batches = stream.parsed_batches(files, batch_size, drop_remainder=False)
        batch = tf.compat.v1.data.make_one_shot_iterator(batches.prefetch(1)).get_next()
        try:
            with tf.compat.v1.Session(graph=graph) as sess, \
                    tf.io.TFRecordWriter(output) as writer:
                while True:
                    try:
                        parsed = sess.run(batch)
                    except tf.errors.OutOfRangeError:
                        break
                    for example in records.serialize(parsed):
                        writer.write(example)
                    rows += parsed["label"].shape[0]
                    if report_every and rows % report_every < batch_size:
                        print("  %d rows (%.0f s)" % (rows, time.time() - t0))
                        sys.stdout.flush()
        except BaseException:
            if os.path.exists(output):
                os.remove(output)
            raise
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--input", required=True, help="comma-separated Criteo TSV files")
    p.add_argument("--output", required=True, help="TFRecord file to write (*.tfrecord)")
    p.add_argument("--batch-size", type=int, default=8192, help="lines parsed at once")
    args = p.parse_args(argv)
    try:
        files = stream.input_files(args.input, "--input")
    except ValueError as e:
        p.error(str(e))
    if records.is_tfrecord(files[0]):
        p.error("--input: %s is TFRecord already; give Criteo TSV files" % files[0])
    if not records.is_tfrecord(args.output):
        p.error("--output must end in %s (how the reader tells TFRecord from TSV), got %r"
                % (" or ".join(records.SUFFIXES), args.output))
    if args.batch_size <= 0:
        p.error("--batch-size must be positive, got %d" % args.batch_size)
    t0 = time.time()
    try:
        rows = convert(files, args.output, args.batch_size, report_every=500_000)
    except tf.errors.InvalidArgumentError as e:
        sys.exit("error: %s" % criteo.input_error(e))
    print("wrote %d rows to %s in %.1f s" % (rows, args.output, time.time() - t0))


if __name__ == "__main__":
    main()
