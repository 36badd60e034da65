"""The DLRM example's train and eval inputs: the in-memory sample or streamed files.

Both kinds give train.py the same things: a line describing the data, the
training dataset (criteo.batch_dict batches), the eval dataset, and how
many of the eval predictions are real rows (the in-memory eval set is
padded to whole batches; a stream's last batch is just smaller).
"""
import os

import sample
import stream


class SampleInputs(object):
    """Small files (sample.py): distinct rows, split, in memory; training
    repeats them in shuffled order for as many steps as asked."""

    def __init__(self, args):
        self.args = args
        self.train_rows, eval_rows, info = sample.split_train_eval(
            args.data, args.eval_rows, args.eval_data)
        self.eval_padded, self.eval_count = sample.pad_to_multiple(eval_rows,
                                                                   args.eval_batch_size)
        self.lines = ["data: %s: %d rows, %d distinct" % (
            os.path.normpath(args.data), info["rows"], info["distinct"])]
        if args.eval_data:
            self.lines.append("eval data: %s (%d rows of it overlap --data: left out of "
                              "training)" % (os.path.normpath(args.eval_data),
                                             info["overlap_dropped"]))
        n_train = self.train_rows["label"].shape[0]
        self.lines.append("  train rows %d (positives %.1f%%), eval rows %d (positives %.1f%%)" % (
            n_train, 100.0 * self.train_rows["label"].mean(), self.eval_count,
            100.0 * eval_rows["label"].mean()))
        self.passes = "%.2f epochs" % (args.steps * args.batch_size / float(n_train))

    def train(self, insert_func):
        return sample.make_dataset(self.train_rows, self.args.batch_size, shuffle=True,
                                   repeat=True, seed=self.args.seed, insert_func=insert_func)

    def eval(self, insert_func):
        return sample.make_dataset(self.eval_padded, self.args.eval_batch_size,
                                   insert_func=insert_func)


class StreamInputs(object):
    """Big files (stream.py): --data streamed --epochs times, all of
    --eval-data scored; nothing held in memory."""

    def __init__(self, args):
        self.args = args
        self.train_files = stream.input_files(args.data, "--data")
        self.eval_files = stream.input_files(args.eval_data, "--eval-data")
        self.eval_count = None
        self.lines = ["data (streamed): %s; eval data: %s" % (
            ",".join(map(os.path.normpath, self.train_files)),
            ",".join(map(os.path.normpath, self.eval_files)))]
        self.passes = "%s epochs of --data" % (args.epochs or "endless")

    def train(self, insert_func):
        return stream.dataset(self.train_files, self.args.batch_size, insert_func=insert_func,
                              epochs=self.args.epochs, shuffle_buffer=self.args.shuffle_buffer,
                              seed=self.args.seed)

    def eval(self, insert_func):
        return stream.dataset(self.eval_files, self.args.eval_batch_size,
                              insert_func=insert_func, drop_remainder=False)


def make_inputs(args):
    """SampleInputs, or StreamInputs with --stream 1."""
    return StreamInputs(args) if args.stream else SampleInputs(args)
