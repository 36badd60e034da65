"""The Criteo Kaggle ("dac") format and how its lines become model inputs.

One line is ``label \\t I1..I13 \\t C1..C26``; an empty field means
"missing", and a line may stop early (its trailing fields are missing).
``parse_lines`` turns a batch of lines into tensors with TensorFlow ops, the
same ops for the in-memory sample (sample.py), the streamed files
(stream.py) and the TFRecord converter (convert.py):

* label      -> float32 [B, 1], "0" or "1"
* I1..I13    -> float32 [B, 13], missing -> 0, then log(1 + max(x, 0))
* C1..C26    -> int64   [B, 26]: the key of value v of field Ck is FarmHash
  Fingerprint64 of the string "Ck:v" modulo 2^63 - 1
  (``tf.strings.to_hash_bucket_fast``), so any string maps to a key >= 0
  without a vocabulary pass, and equal values of different fields get
  different keys. A missing value is ``MISSING_KEY`` (-1), which no string
  hashes to. The keys stay unbounded: bounding the vocabulary is the
  embedding table's job, not the reader's.

A malformed line (more than 40 fields, a label other than 0/1, a dense
field that is not a number) fails the step with an InvalidArgumentError
naming its file and line number.
"""
import re

import numpy as np
import tensorflow as tf

NUM_DENSE = 13
NUM_SPARSE = 26
NUM_FIELDS = 1 + NUM_DENSE + NUM_SPARSE
DENSE_NAMES = ["I%d" % i for i in range(1, NUM_DENSE + 1)]
SPARSE_NAMES = ["C%d" % i for i in range(1, NUM_SPARSE + 1)]
MISSING_KEY = -1
_KEY_BUCKETS = 2**63 - 1
_NUMBER = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"


def _check(ok, line_names, detail):
    """An assert that every row is ok; the message names the first bad row's
    line (line_names(i): its "file:line") and detail(i) says what is wrong."""
    first = tf.argmin(tf.cast(ok, tf.int32))
    message = tf.strings.join([line_names(first), ": ", detail(first)])
    return tf.debugging.Assert(tf.reduce_all(ok), [message], summarize=1)


def parse_lines(lines, file_index, line_number, paths):
    """Parses lines (string [B]) into {"label", "dense", "sparse"}.

    file_index (int [B]) and line_number (int64 [B], from 1) say where each
    line comes from (``paths[file_index]``): error messages name it.
    """
    paths = tf.constant(list(paths))

    def line_name(i):
        return tf.strings.join([tf.gather(paths, file_index[i]), ":",
                                tf.strings.as_string(line_number[i])])

    lines = tf.strings.regex_replace(lines, "\r$", "")
    fields = tf.strings.split(lines, "\t")
    counts = fields.row_lengths()
    too_many = _check(counts <= NUM_FIELDS, line_name, lambda i: tf.strings.join([
        tf.strings.as_string(counts[i]), " tab-separated fields, expected at most %d "
        "(label, I1..I13, C1..C26)" % NUM_FIELDS]))
    with tf.control_dependencies([too_many]):
        table = fields.to_tensor(default_value="", shape=[None, NUM_FIELDS])
    label, dense, sparse = table[:, 0], table[:, 1:1 + NUM_DENSE], table[:, 1 + NUM_DENSE:]
    numeric = tf.strings.regex_full_match(dense, _NUMBER) | tf.equal(dense, "")
    bad_column = tf.argmin(tf.cast(numeric, tf.int32), axis=1)
    checks = [
        _check(tf.strings.regex_full_match(label, "[01]"), line_name, lambda i: tf.strings.join([
            "the label must be 0 or 1, got '", label[i], "'"])),
        _check(tf.reduce_all(numeric, axis=1), line_name, lambda i: tf.strings.join([
            tf.gather(DENSE_NAMES, bad_column[i]), " is not a number: '",
            dense[i, bad_column[i]], "'"])),
    ]
    with tf.control_dependencies(checks):
        values = tf.strings.to_number(tf.where(tf.equal(dense, ""), "0", dense), tf.float64)
        labels = tf.strings.to_number(label[:, None], tf.float32)
    prefixed = tf.strings.join([tf.broadcast_to([name + ":" for name in SPARSE_NAMES],
                                                tf.shape(sparse)), sparse])
    keys = tf.where(tf.equal(sparse, ""), tf.constant(MISSING_KEY, tf.int64),
                    tf.strings.to_hash_bucket_fast(prefixed, _KEY_BUCKETS))
    # In float64, then rounded: float32 log1p's vectorised and scalar code paths
    # differ in the last bit, so a row's value would depend on its batch.
    features = tf.cast(tf.math.log1p(tf.maximum(values, 0.0)), tf.float32)
    return {"label": labels, "dense": features, "sparse": keys}


def input_error(error):
    """The message of a parse_lines check in a TF error ("file:line: what"),
    else the error's first line."""
    found = re.search(r"assertion failed: \[(.*)\]", error.message)
    if not found:
        return error.message.strip().splitlines()[0]
    return found.group(1).replace("\\'", "'")  # TF escapes quotes in printed strings


def batch_dict(rows):
    """{"label", "dense", "sparse"} -> the model's batch dict: "dense" [B,13],
    "label" [B,1] and one int64 [B] entry per categorical feature."""
    batch = {"dense": rows["dense"], "label": rows["label"]}
    for i, name in enumerate(SPARSE_NAMES):
        batch[name] = rows["sparse"][:, i]
    return batch


def serving_features():
    """The inputs of an exported model, one row each: "dense" (13 floats) and
    one int64 key per categorical feature ("C1".."C26")."""
    features = {"dense": tf.TensorSpec([NUM_DENSE], tf.float32)}
    features.update((name, tf.TensorSpec([], tf.int64)) for name in SPARSE_NAMES)
    return features


def serving_inputs(arrays):
    """serving_features() values of parsed rows (numpy "dense" and "sparse")."""
    inputs = {"dense": np.asarray(arrays["dense"])}
    inputs.update((name, arrays["sparse"][:, i]) for i, name in enumerate(SPARSE_NAMES))
    return inputs
