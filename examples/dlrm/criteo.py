"""Criteo (Kaggle "dac" format) reader for the DLRM example.

One line is ``label \\t I1..I13 \\t C1..C26``; an empty field means "missing".

* label      -> float32 [B, 1]
* I1..I13    -> float32 [B, 13], missing -> 0, then log(1 + max(x, 0))
* C1..C26    -> int64   [B, 26], the hex string parsed with ``int(x, 16)``.
  The keys stay raw and unbounded (no hashing into a range): bounding the
  vocabulary is the embedding table's job, not the reader's. A missing value
  becomes ``MISSING_KEY``, one key above the 32-bit range the hex fields use,
  so it never collides with a real value.

The sample files are small, so they are parsed once into numpy arrays and fed
with ``tf.data.Dataset.from_tensor_slices``. Repeated rows are dropped before
the train/eval split so no eval row is also a training row.
"""
import math

import numpy as np
import tensorflow as tf

NUM_DENSE = 13
NUM_SPARSE = 26
NUM_FIELDS = 1 + NUM_DENSE + NUM_SPARSE
DENSE_NAMES = ["I%d" % i for i in range(1, NUM_DENSE + 1)]
SPARSE_NAMES = ["C%d" % i for i in range(1, NUM_SPARSE + 1)]
MISSING_KEY = 1 << 32


def parse_line(line):
    """Parse one raw line into (label, dense list[13], sparse list[26])."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) < NUM_FIELDS:
        # Some exports cut trailing empty fields; treat them as missing.
        fields += [""] * (NUM_FIELDS - len(fields))
    elif len(fields) > NUM_FIELDS:
        raise ValueError("expected %d tab-separated fields, got %d"
                         % (NUM_FIELDS, len(fields)))
    label = float(fields[0])
    dense = []
    for x in fields[1:1 + NUM_DENSE]:
        v = float(x) if x else 0.0
        dense.append(math.log1p(max(v, 0.0)))
    sparse = [int(x, 16) if x else MISSING_KEY
              for x in fields[1 + NUM_DENSE:NUM_FIELDS]]
    return label, dense, sparse


def read_lines(path):
    """Non-empty lines of raw Criteo files (comma-separated paths), in order."""
    lines = []
    for one in path.split(","):
        with open(one, "r") as f:
            lines += [line.rstrip("\r\n") for line in f if line.strip()]
    return lines


def distinct(lines):
    """Drop repeated lines (first occurrence kept, order preserved)."""
    seen = set()
    out = []
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def to_arrays(lines):
    """Parse lines into dict(dense=float32 [N,13], sparse=int64 [N,26],
    label=float32 [N,1])."""
    if not lines:
        raise ValueError("no rows to parse")
    labels, dense, sparse = [], [], []
    for line in lines:
        lab, d, s = parse_line(line)
        labels.append(lab)
        dense.append(d)
        sparse.append(s)
    return {
        "dense": np.asarray(dense, dtype=np.float32).reshape(-1, NUM_DENSE),
        "sparse": np.asarray(sparse, dtype=np.int64).reshape(-1, NUM_SPARSE),
        "label": np.asarray(labels, dtype=np.float32).reshape(-1, 1),
    }


def _features(line):
    # A row without its label: what must not be shared by train and eval.
    return line.split("\t", 1)[1] if "\t" in line else ""


def split_train_eval(path, eval_rows, eval_path=None):
    """Build disjoint train and eval sets from raw Criteo files.

    Repeated rows are dropped first: a row that is in both sets would make
    the eval score a training score (the bundled sample file is 900 distinct
    rows repeated 12 times). Without ``eval_path`` the last ``eval_rows``
    distinct rows of ``path`` are held out; with it, ``eval_path`` is the
    eval set (``eval_rows`` <= 0 means all of it) and rows of ``path`` with
    the same features are left out of training.

    Returns (train arrays, eval arrays, info dict).
    """
    raw = read_lines(path)
    rows = distinct(raw)
    info = {"rows": len(raw), "distinct": len(rows)}
    if eval_path is None:
        if not 0 < eval_rows < len(rows):
            raise ValueError("--eval-rows must be in (0, %d) for %s (%d "
                             "distinct rows), got %d"
                             % (len(rows), path, len(rows), eval_rows))
        train, evals = rows[:-eval_rows], rows[-eval_rows:]
    else:
        evals = distinct(read_lines(eval_path))
        if eval_rows > 0:
            evals = evals[:eval_rows]
        held = set(_features(line) for line in evals)
        train = [line for line in rows if _features(line) not in held]
        info["overlap_dropped"] = len(rows) - len(train)
    return to_arrays(train), to_arrays(evals), info


def serving_features():
    """The inputs of an exported model, one row each: "dense" (13 floats) and
    one int64 id per categorical feature ("C1".."C26")."""
    features = {"dense": tf.TensorSpec([NUM_DENSE], tf.float32)}
    features.update((name, tf.TensorSpec([], tf.int64)) for name in SPARSE_NAMES)
    return features


def serving_inputs(arrays):
    """serving_features() values of parsed rows (to_arrays)."""
    inputs = {"dense": arrays["dense"]}
    inputs.update((name, arrays["sparse"][:, i]) for i, name in enumerate(SPARSE_NAMES))
    return inputs


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
    """tf.data pipeline of batch dicts: "dense" [B,13], "label" [B,1] and one
    int64 [B] entry per categorical feature ("C1".."C26").

    Batches always have exactly batch_size rows (drop_remainder) so the
    static-shape mode of the embedding lookups sees one shape. insert_func
    (mx_rec's get_asc_insert_func) runs on each batch before the prefetch, so
    the key work overlaps the previous training step.
    """
    ds = tf.data.Dataset.from_tensor_slices(
        (arrays["dense"], arrays["sparse"], arrays["label"]))
    if shuffle:
        ds = ds.shuffle(arrays["label"].shape[0], seed=seed,
                        reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=True)

    def as_dict(dense, sparse, label):
        batch = {"dense": dense, "label": label}
        for i, name in enumerate(SPARSE_NAMES):
            batch[name] = sparse[:, i]
        return batch

    ds = ds.map(as_dict)
    if insert_func is not None:
        ds = ds.map(insert_func)
    return ds.prefetch(2)
