"""examples/dlrm at scale, in small: the synthetic generator's planted AUC, the
Kaggle TSV reader, the TFRecord converter, and a few streamed training steps
in HBM, DDR and SSD modes."""
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
DLRM = os.path.join(ROOT, "examples", "dlrm")
sys.path[:0] = [DLRM, os.path.join(ROOT, "examples", "common")]

import convert  # noqa: E402  pylint: disable=wrong-import-position
import criteo  # noqa: E402  pylint: disable=wrong-import-position
import sample  # noqa: E402  pylint: disable=wrong-import-position
import stream  # noqa: E402  pylint: disable=wrong-import-position
import synthetic  # noqa: E402  pylint: disable=wrong-import-position

pytestmark = pytest.mark.slow
SMALL = ["--rows", "4000", "--eval-rows", "2000", "--min-vocab", "100", "--max-vocab", "5000"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """synthetic.py's output for 4,000 + 2,000 rows (module-wide: read only)."""
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.main(["--out-dir", str(out)] + SMALL)
    return out


def _planted(path):
    import json  # pylint: disable=import-outside-toplevel
    with open(os.path.join(path, "planted.json")) as f:
        return json.load(f)["files"]


def _batches(ds):
    """Every batch of a tf.data dataset, as numpy, concatenated per key."""
    with tf.Graph().as_default():
        ds = ds()
        item = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        out = []
        with tf.compat.v1.Session() as sess:
            while True:
                try:
                    out.append(sess.run(item))
                except tf.errors.OutOfRangeError:
                    break
    return {k: np.concatenate([b[k] for b in out]) for k in out[0]}


def test_generator_is_reproducible_and_its_planted_auc_beats_chance(generated, tmp_path):
    again = tmp_path / "again"
    synthetic.main(["--out-dir", str(again)] + SMALL)
    first, second = _planted(generated), _planted(again)
    for name in ("train", "eval"):
        assert first[name]["planted_auc"] == second[name]["planted_auc"]
        assert first[name]["planted_auc"] > 0.65
        assert 0.1 < first[name]["ctr"] < 0.4
        assert (generated / (name + ".tsv")).read_bytes() == (again / (name + ".tsv")).read_bytes()
    lines = (generated / "train.tsv").read_text().splitlines()
    assert len(lines) == 4000 and all(len(line.split("\t")) == 40 for line in lines)
    other = tmp_path / "other_seed"
    synthetic.main(["--out-dir", str(other), "--seed", "2"] + SMALL)
    assert _planted(other)["train"]["planted_auc"] != first["train"]["planted_auc"]


def test_generator_rejects_bad_arguments_naming_them(tmp_path, capsys):
    for bad, name in ((["--rows", "0"], "--rows"), (["--zipf", "-1"], "--zipf"),
                      (["--min-vocab", "10", "--max-vocab", "5"], "--max-vocab")):
        with pytest.raises(SystemExit):
            synthetic.main(["--out-dir", str(tmp_path)] + bad)
        assert name in capsys.readouterr().err


def test_tsv_reader_fills_empty_fields_and_hashes_strings(tmp_path):
    path = tmp_path / "rows.tsv"
    full = ["1"] + [str(i) for i in range(13)] + ["v%d" % i for i in range(26)]
    path.write_text("\t".join(full) + "\n"
                    + "0\t\t7" + "\t" * 12 + "not-hex at all\n"    # empty fields, C1 a free string
                    + "\n"                                          # empty line: skipped
                    + "1\t-3\r\n")                                  # cut short, CRLF
    rows = sample.to_arrays(*sample.read_lines(str(path)))
    np.testing.assert_array_equal(rows["label"][:, 0], [1, 0, 1])
    np.testing.assert_allclose(rows["dense"][0], np.log1p(np.arange(13)), rtol=1e-6)
    np.testing.assert_allclose(rows["dense"][1, :2], [0.0, np.log1p(7.0)], rtol=1e-6)
    np.testing.assert_array_equal(rows["dense"][2], np.zeros(13))   # -3 -> max(x, 0) = 0
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        expected = sess.run(tf.strings.to_hash_bucket_fast(
            ["C%d:v%d" % (i + 1, i) for i in range(26)] + ["C1:not-hex at all"], 2**63 - 1))
    np.testing.assert_array_equal(rows["sparse"][0], expected[:26])
    assert rows["sparse"][1, 0] == expected[26]
    assert (rows["sparse"][1, 1:] == criteo.MISSING_KEY).all()
    assert (rows["sparse"][2] == criteo.MISSING_KEY).all()
    assert (rows["sparse"][0] >= 0).all()
    # The same value in two fields: two keys.
    same = tmp_path / "same.tsv"
    same.write_text("\t".join(["0"] + [""] * 13 + ["abc"] * 26) + "\n")
    assert len(set(sample.to_arrays(*sample.read_lines(str(same)))["sparse"][0])) == 26


@pytest.mark.parametrize("line, message", [
    ("2\t1", ":2: the label must be 0 or 1, got '2'"),
    ("1\t1\tx7", ":2: I2 is not a number: 'x7'"),
    ("\t".join(["0"] * 41), ":2: 41 tab-separated fields, expected at most 40"),
])
def test_malformed_lines_are_named_by_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.tsv"
    path.write_text("1\t5\n" + line + "\n")
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        sample.to_arrays(*sample.read_lines(str(path)))
    assert criteo.input_error(err.value).startswith(str(path) + message)
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        _batches(lambda: stream.parsed_batches([str(path)], 8, drop_remainder=False))
    assert criteo.input_error(err.value).startswith(str(path) + message)


def test_stream_and_converter_give_the_in_memory_rows(generated, tmp_path):
    tsv = str(generated / "eval.tsv")
    expected = sample.to_arrays(*sample.read_lines(tsv))
    streamed = _batches(lambda: stream.parsed_batches([tsv], 512, drop_remainder=False))
    record = str(tmp_path / "eval.tfrecord")
    assert convert.convert([tsv], record, batch_size=300) == 2000
    converted = _batches(lambda: stream.parsed_batches([record], 512, drop_remainder=False))
    for key in ("label", "dense", "sparse"):
        np.testing.assert_array_equal(streamed[key], expected[key])
        np.testing.assert_array_equal(converted[key], expected[key])


def test_converter_stops_at_a_bad_line_and_leaves_no_output(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("1\t5\n0\tfive\n")
    done = subprocess.run([sys.executable, os.path.join(DLRM, "convert.py"), "--input", str(src),
                           "--output", str(tmp_path / "out.tfrecord")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "in.tsv:2: I1 is not a number: 'five'" in done.stderr
    assert not (tmp_path / "out.tfrecord").exists()


@pytest.mark.parametrize("mode, data", [("HBM", "train.tsv"), ("DDR", "train.tsv"),
                                        ("SSD", "train.tfrecord")])
def test_a_few_streamed_steps_in_each_mode_print_finite_metrics(generated, tmp_path, mode, data):
    if data.endswith(".tfrecord"):
        convert.convert([str(generated / "train.tsv")], str(tmp_path / data))
        data = str(tmp_path / data)
    else:
        data = str(generated / data)
    (tmp_path / "ssd").mkdir()
    done = subprocess.run(
        [sys.executable, os.path.join(DLRM, "train.py"), "--stream", "1", "--data", data,
         "--eval-data", str(generated / "eval.tsv"), "--planted",
         str(generated / "planted.json"), "--steps", "8", "--batch-size", "128",
         "--eval-batch-size", "500", "--log-every", "4", "--cache-mode", mode,
         "--device-vocab-size", "512", "--host-vocab-size", "1024",
         "--ssd-data-path", str(tmp_path / "ssd")],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    losses = [float(x) for x in re.findall(r"^step +\d+  loss (\S+)", out, re.M)]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert "trained 8 steps" in out
    logloss = float(re.search(r"^eval rows 2000  logloss (\S+)", out, re.M).group(1))
    auc = float(re.search(r"^eval AUC: (\S+)", out, re.M).group(1))
    assert math.isfinite(logloss) and 0.0 <= auc <= 1.0
    assert re.search(r"^planted model's AUC on the eval rows: 0\.\d+ .* trained - planted: ",
                     out, re.M)
    if mode != "HBM":
        assert re.search(r"^tiers: .* \d+ evictions", out, re.M)
