"""Big Criteo inputs streamed through tf.data, never held in memory.

    files = input_files("/data/train.tsv,/data/day1.tsv", "--data")
    ds = dataset(files, batch_size=1024, epochs=1, shuffle_buffer=100000)

Kaggle TSV files are read line by line (empty lines skipped) and parsed a
batch at a time by criteo.parse_lines, whose errors name the file and line;
TFRecord files (convert.py's output, named *.tfrecord) hold parsed rows
(records.py). The batches are criteo.batch_dict dicts, as the in-memory
sample gives (sample.py), so the model cannot tell the two apart.
"""
import os

import tensorflow as tf

import criteo
import records


def input_files(value, option):
    """The comma-separated files of command-line option `option`: all TSV or
    all TFRecord. ValueError naming the option if one is missing or they mix."""
    files = [p for p in value.split(",") if p]
    if not files:
        raise ValueError("%s: no input file given" % option)
    for path in files:
        if not os.path.isfile(path):
            raise ValueError("%s: no such file %r" % (option, path))
    kinds = set(records.is_tfrecord(path) for path in files)
    if len(kinds) > 1:
        raise ValueError("%s: TSV and TFRecord files cannot be mixed: %s" % (option, value))
    return files


def numbered_lines(files):
    """(file index, line number from 1, line) of every non-empty line of the
    files, in order."""
    def lines_of(index, path):
        return tf.data.TextLineDataset(path).enumerate(start=1).map(
            lambda number, line: (index, number, line))

    ds = tf.data.Dataset.from_tensor_slices((tf.range(len(files)), files)).flat_map(lines_of)
    return ds.filter(lambda index, number, line: tf.strings.length(tf.strings.strip(line)) > 0)


def parsed_batches(files, batch_size, epochs=1, shuffle_buffer=0, seed=None,
                   drop_remainder=True, parallel=2):
    """tf.data batches {"label", "dense", "sparse"} of `files` (input_files),
    read `epochs` times (0: without end), shuffled through a buffer of
    `shuffle_buffer` rows (0: in file order); `parallel` batches are parsed
    at once."""
    if records.is_tfrecord(files[0]):
        ds = tf.data.TFRecordDataset(files)
        parse = records.parse_records
    else:
        ds = numbered_lines(files)

        def parse(index, number, line):
            return criteo.parse_lines(line, index, number, files)
    if epochs != 1:
        ds = ds.repeat(epochs or None)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).map(
        parse, num_parallel_calls=parallel)


def dataset(files, batch_size, insert_func=None, **options):
    """parsed_batches (same options) as criteo.batch_dict batches; insert_func
    (mx_rec's get_asc_insert_func) maps each batch before the prefetch."""
    ds = parsed_batches(files, batch_size, **options).map(criteo.batch_dict)
    if insert_func is not None:
        ds = ds.map(insert_func)
    return ds.prefetch(2)
