"""Small Criteo files held in memory: the bundled sample's path.

The lines are read, repeated rows dropped (the bundled sample is 900 rows
repeated 12 times), split into disjoint train and eval sets, parsed once
into numpy arrays (criteo.parse_lines) and fed with
``tf.data.Dataset.from_tensor_slices``. Big files go through stream.py
instead, which never holds a file in memory.
"""
import numpy as np
import tensorflow as tf

import criteo


def read_lines(path):
    """Non-empty lines of comma-separated files `path`, in order:
    (paths, [(file index, line number, line)])."""
    paths = path.split(",")
    lines = []
    for index, one in enumerate(paths):
        with open(one, "r") as f:
            lines += [(index, number, line.rstrip("\r\n"))
                      for number, line in enumerate(f, 1) if line.strip()]
    return paths, lines


def distinct(lines):
    """Drop lines whose text repeats an earlier one (order preserved)."""
    seen = set()
    out = []
    for item in lines:
        if item[2] not in seen:
            seen.add(item[2])
            out.append(item)
    return out


def to_arrays(paths, lines):
    """Parse read_lines items into dict(dense=float32 [N,13], sparse=int64
    [N,26], label=float32 [N,1]) with criteo.parse_lines, in a graph of its
    own (works with eager execution on or off)."""
    if not lines:
        raise ValueError("no rows to parse in %s" % ",".join(paths))
    index, number, text = zip(*lines)
    with tf.Graph().as_default() as graph:
        rows = criteo.parse_lines(tf.constant(text), tf.constant(index),
                                  tf.constant(number, tf.int64), paths)
        with tf.compat.v1.Session(graph=graph) as sess:
            return sess.run(rows)


def _features(line):
    # A row without its label: what must not be shared by train and eval.
    return line.split("\t", 1)[1] if "\t" in line else ""


def split_train_eval(path, eval_rows, eval_path=None):
    """Build disjoint train and eval sets from raw Criteo files.

    Repeated rows are dropped first: a row that is in both sets would make
    the eval score a training score. Without ``eval_path`` the last
    ``eval_rows`` distinct rows of ``path`` are held out; with it,
    ``eval_path`` is the eval set (``eval_rows`` <= 0 means all of it) and
    rows of ``path`` with the same features are left out of training.

    Returns (train arrays, eval arrays, info dict).
    """
    paths, raw = read_lines(path)
    rows = distinct(raw)
    info = {"rows": len(raw), "distinct": len(rows)}
    if eval_path is None:
        if not 0 < eval_rows < len(rows):
            raise ValueError("--eval-rows must be in (0, %d) for %s (%d "
                             "distinct rows), got %d"
                             % (len(rows), path, len(rows), eval_rows))
        train, evals, eval_paths = rows[:-eval_rows], rows[-eval_rows:], paths
    else:
        eval_paths, evals = read_lines(eval_path)
        evals = distinct(evals)
        if eval_rows > 0:
            evals = evals[:eval_rows]
        held = set(_features(item[2]) for item in evals)
        train = [item for item in rows if _features(item[2]) not in held]
        info["overlap_dropped"] = len(rows) - len(train)
    return to_arrays(paths, train), to_arrays(eval_paths, evals), info


def pad_to_multiple(arrays, batch_size):
    """Repeat leading rows so the row count is a multiple of batch_size.

    Lets eval batches keep one static shape; callers drop the padded
    predictions (the first ``n`` rows are the real ones).
    """
    n = arrays["label"].shape[0]
    pad = (-n) % batch_size
    if pad == 0:
        return arrays, n
    idx = np.concatenate([np.arange(n), np.arange(pad) % n])
    return {k: v[idx] for k, v in arrays.items()}, n


def make_dataset(arrays, batch_size, shuffle=False, repeat=False, seed=None,
                 insert_func=None):
    """tf.data pipeline of criteo.batch_dict batches of the arrays.

    Batches always have exactly batch_size rows (drop_remainder) so the
    static-shape mode of the embedding lookups sees one shape. insert_func
    (mx_rec's get_asc_insert_func) runs on each batch before the prefetch, so
    the key work overlaps the previous training step.
    """
    ds = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle:
        ds = ds.shuffle(arrays["label"].shape[0], seed=seed,
                        reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True).map(criteo.batch_dict)
    if insert_func is not None:
        ds = ds.map(insert_func)
    return ds.prefetch(2)
