"""Census-Income (KDD) raw files -> TFRecord files for the MMoE example.

    # default protocol: a fixed, seeded 2/3 train / 1/3 test split of one file
    python census.py --train_data_path census-income.test.gz --output_path OUT
    # the official train and test files
    python census.py --train_data_path census-income.data.gz \\
        --test_data_path census-income.test.gz --output_path OUT

Writes ``OUT/census_train.tfrecord``, ``OUT/census_test.tfrecord`` (one
tf.train.Example a person, features named as in schema.py) and
``OUT/census_meta.json`` (what the training script needs to know: the id
ranges, the numeric transforms, row and label counts, the source). An
output made from the same files (path, size, mtime) and split is kept.

* Id column k (a categorical column, or a numeric column's buckets, below)
  gets the ids ``offset_k .. offset_k + n_k``: its
  ``n_k`` training categories, sorted, are ``offset_k + 1 ..``, and
  ``offset_k`` itself is reserved for a category the training rows never
  showed (met in the test rows). Ranges follow each other, so all ids are
  distinct and one table can hold every column.
* Numeric columns: ``log(1 + x)`` for the amounts (schema.LOG_SCALED), then
  standardised with the training rows' mean and standard deviation. Each
  is also an id column, ``<name>_bucket``: 0 for zero, else which of 16
  training quantile ranges of the column's non-zero values holds it.
* Labels: ``income`` 1 for "50000+.", ``marital`` 1 for "Never married".

Input files are comma-separated, 42 fields a line, plain or gzip. A line
that cannot be read (field count, a number that is not one, an income that
is neither label) is an error naming its file and line number.
"""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np

import schema

# The project's shared data, beside the repository.
DEFAULT_DATA = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "census",
    "census-income.test.gz"))
SPLIT_SEED = 2024
MAX_REPORTED_ERRORS = 20
TRAIN_FILE, TEST_FILE, META_FILE = (
    "census_train.tfrecord", "census_test.tfrecord", "census_meta.json")

_COLUMN = {name: i for i, name in enumerate(schema.RAW_COLUMNS)}


class MalformedDataError(ValueError):
    """Lines of an input file that are not Census-Income rows."""


def _open_text(path):
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, "r", encoding="utf-8")


def parse_line(line):
    """One raw line -> its 42 stripped fields; ValueError says what is wrong."""
    fields = [f.strip() for f in line.rstrip("\r\n").split(",")]
    if len(fields) != len(schema.RAW_COLUMNS):
        raise ValueError("expected %d comma-separated fields, got %d"
                         % (len(schema.RAW_COLUMNS), len(fields)))
    for name in schema.NUMERIC:
        value = fields[_COLUMN[name]]
        try:
            number = float(value)
        except ValueError:
            raise ValueError("%s is %r, not a number" % (name, value)) from None
        if not math.isfinite(number) or number < 0:
            raise ValueError("%s is %r, not a finite number >= 0" % (name, value))
    if fields[_COLUMN["income"]] not in schema.INCOME_VALUES:
        raise ValueError("income is %r, expected one of %s" % (
            fields[_COLUMN["income"]], ", ".join(map(repr, schema.INCOME_VALUES))))
    return fields


def read_rows(path):
    """Every non-blank line of a raw file, parsed. Raises MalformedDataError
    listing the bad lines (file:line: reason), the first few of them."""
    if not os.path.isfile(path):
        raise FileNotFoundError("census data file %r not found" % path)
    rows, errors = [], []
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(parse_line(line))
            except ValueError as e:
                errors.append("%s:%d: %s" % (path, lineno, e))
    if errors:
        shown = errors[:MAX_REPORTED_ERRORS]
        more = len(errors) - len(shown)
        raise MalformedDataError("%d malformed line(s):\n  %s%s" % (
            len(errors), "\n  ".join(shown),
            "\n  ... and %d more" % more if more else ""))
    if not rows:
        raise MalformedDataError("%s holds no rows" % path)
    return rows


def split_rows(rows, seed=SPLIT_SEED):
    """A fixed, seeded 2/3 train / 1/3 test split (rows shuffled first)."""
    order = np.random.RandomState(seed).permutation(len(rows))
    n_test = len(rows) // 3
    return [rows[i] for i in order[n_test:]], [rows[i] for i in order[:n_test]]


def _raw_numbers(rows, name):
    return np.array([float(row[_COLUMN[name]]) for row in rows], np.float64)


def build_numeric_transforms(train_rows):
    """Per numeric column: log1p or not, the training mean and std of the
    result, and the edges of its buckets: the training quantiles 1/16 ..
    15/16 of the non-zero values, duplicates dropped."""
    transforms = []
    for name in schema.NUMERIC:
        raw = _raw_numbers(train_rows, name)
        values = np.log1p(raw) if name in schema.LOG_SCALED else raw
        nonzero = raw[raw > 0]
        edges = np.unique(np.quantile(
            nonzero, np.linspace(0, 1, schema.NUM_BUCKETS + 1)[1:-1])) if nonzero.size else []
        transforms.append({"name": name, "log1p": name in schema.LOG_SCALED,
                           "mean": float(values.mean()), "std": float(values.std()) or 1.0,
                           "bucket_edges": [float(e) for e in edges]})
    return transforms


def categories(rows, numeric_transforms):
    """Per id column (schema.CATEGORICAL), the category string of each row;
    a bucket is "0" for zero, else 1 + the number of edges <= the value."""
    columns = {name: [row[_COLUMN[name]] for row in rows] for name in schema.RAW_CATEGORICAL}
    for t in numeric_transforms:
        raw = _raw_numbers(rows, t["name"])
        buckets = np.where(raw == 0, 0, 1 + np.searchsorted(t["bucket_edges"], raw, "right"))
        columns[t["name"] + "_bucket"] = [str(b) for b in buckets]
    return columns


def build_id_ranges(train_categories):
    """Per id column: its offset, reserved unknown id and sorted training
    categories (ids offset + 1 ..)."""
    ranges, offset = [], 0
    for name in schema.CATEGORICAL:
        known = sorted(set(train_categories[name]))
        ranges.append({"name": name, "offset": offset, "unknown_id": offset,
                       "size": len(known) + 1, "categories": known})
        offset += len(known) + 1
    return ranges


def encode(rows, id_ranges, numeric_transforms):
    """Rows -> dict of feature name -> numpy column, plus unknown-id counts."""
    columns, unknown = {}, {}
    cats = categories(rows, numeric_transforms)
    for r in id_ranges:
        ids = {c: r["offset"] + 1 + i for i, c in enumerate(r["categories"])}
        raw = cats[r["name"]]
        columns[r["name"]] = np.array([ids.get(c, r["unknown_id"]) for c in raw], np.int64)
        unknown[r["name"]] = int(sum(c not in ids for c in raw))
    for t in numeric_transforms:
        values = _raw_numbers(rows, t["name"])
        if t["log1p"]:
            values = np.log1p(values)
        columns[t["name"]] = ((values - t["mean"]) / t["std"]).astype(np.float32)
    columns["income"] = np.array(
        [schema.INCOME_VALUES[row[_COLUMN["income"]]] for row in rows], np.int64)
    columns["marital"] = np.array(
        [row[_COLUMN["marital_stat"]] == schema.NEVER_MARRIED for row in rows], np.int64)
    return columns, {k: v for k, v in unknown.items() if v}


def write_tfrecord(path, columns):
    """One tf.train.Example a row, every feature a scalar. One Example is
    refilled for each row: ten times faster than building a new one."""
    import tensorflow as tf
    names = sorted(columns)
    example = tf.train.Example()
    values = []
    for name in names:
        feature = example.features.feature[name]
        kind = feature.int64_list if columns[name].dtype == np.int64 else feature.float_list
        kind.value.append(0)
        values.append(kind.value)
    rows = [columns[name].tolist() for name in names]
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(rows[0])):
            for value, column in zip(values, rows):
                value[0] = column[i]
            writer.write(example.SerializeToString())


def _label_counts(columns):
    return {name: int(columns[name].sum()) for name in schema.LABEL_NAMES}


def describe_source(train_path, test_path, seed=SPLIT_SEED):
    """What an output is made from: each input file as [path, bytes, mtime],
    and the split (None with a test file)."""
    files = [train_path] + ([test_path] if test_path else [])
    for path in files:
        if not os.path.isfile(path):
            raise FileNotFoundError("census data file %r not found" % path)
    return {"files": [[os.path.abspath(p), os.path.getsize(p), int(os.path.getmtime(p))]
                      for p in files],
            "split": None if test_path else {"test_fraction": "1/3", "seed": seed}}


def made_from(output_path, source):
    """The meta of output_path if its files were made from source, else None."""
    try:
        meta = load_meta(output_path)
    except (OSError, ValueError):
        return None
    complete = all(os.path.isfile(os.path.join(output_path, name))
                   for name in (TRAIN_FILE, TEST_FILE))
    return meta if complete and meta.get("source") == source else None


def convert(train_path, test_path, output_path, seed=SPLIT_SEED):
    """Read, split (without test_path), encode and write; returns the meta
    dict. The meta file is written last: it marks a complete output."""
    source = describe_source(train_path, test_path, seed)
    train_rows = read_rows(train_path)
    if test_path:
        test_rows = read_rows(test_path)
    else:
        train_rows, test_rows = split_rows(train_rows, seed)
    numeric = build_numeric_transforms(train_rows)
    id_ranges = build_id_ranges(categories(train_rows, numeric))
    train, _ = encode(train_rows, id_ranges, numeric)
    test, unknown = encode(test_rows, id_ranges, numeric)
    os.makedirs(output_path, exist_ok=True)
    meta_path = os.path.join(output_path, META_FILE)
    if os.path.exists(meta_path):
        os.remove(meta_path)
    write_tfrecord(os.path.join(output_path, TRAIN_FILE), train)
    write_tfrecord(os.path.join(output_path, TEST_FILE), test)
    meta = {
        "source": source,
        "rows": {"train": len(train_rows), "test": len(test_rows)},
        "positives": {"train": _label_counts(train), "test": _label_counts(test)},
        "vocabulary_size": sum(r["size"] for r in id_ranges),
        "categorical": id_ranges,
        "numeric": numeric,
        "test_rows_with_unknown_category": unknown,
    }
    with open(meta_path, "w") as f:
        json.dump(meta, f, indent=1)
    return meta


def load_meta(data_dir):
    """census_meta.json of a census.py output directory."""
    path = os.path.join(data_dir, META_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError("%s not found: write it with examples/mmoe/census.py "
                                "--output_path %s" % (path, data_dir))
    with open(path) as f:
        return json.load(f)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train_data_path", default=DEFAULT_DATA,
                   help="raw Census-Income file (plain or .gz); without "
                        "--test_data_path it is split 2/3 train, 1/3 test "
                        "(default: %(default)s)")
    p.add_argument("--test_data_path", default=None,
                   help="raw test file (e.g. the official census-income.test)")
    p.add_argument("--output_path", required=True,
                   help="directory for %s, %s and %s" % (TRAIN_FILE, TEST_FILE, META_FILE))
    p.add_argument("--split_seed", type=int, default=SPLIT_SEED,
                   help="seed of the 2/3 : 1/3 split (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.train_data_path == DEFAULT_DATA and not os.path.isfile(DEFAULT_DATA):
        sys.exit("error: the full Census-Income file is not at %s (the project's shared "
                 "data, see data/census/PROVENANCE.md): pass --train_data_path, e.g. the "
                 "bundled sample data/census/census-income.test.head1200.gz" % DEFAULT_DATA)
    try:
        source = describe_source(args.train_data_path, args.test_data_path, args.split_seed)
        meta = made_from(args.output_path, source)
        if meta:
            print("census: %s was made from the same files: kept" % args.output_path)
        else:
            meta = convert(args.train_data_path, args.test_data_path, args.output_path,
                           args.split_seed)
    except (OSError, MalformedDataError) as e:
        sys.exit("error: %s" % e)
    pos = meta["positives"]
    for part in ("train", "test"):
        print("census %-5s %6d rows: income>50K %5d, never married %5d" % (
            part, meta["rows"][part], pos[part]["income"], pos[part]["marital"]))
    print("census ids: %d id columns (%d categorical, %d numeric buckets), %d ids (one "
          "reserved per column for unknown categories); test rows with an unknown category: "
          "%s" % (len(meta["categorical"]), len(schema.RAW_CATEGORICAL), len(schema.BUCKETS),
                  meta["vocabulary_size"], meta["test_rows_with_unknown_category"] or "none"))
    print("census output: %s" % os.path.abspath(args.output_path))


if __name__ == "__main__":
    main()
