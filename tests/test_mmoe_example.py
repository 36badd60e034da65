"""examples/mmoe: census.py on the bundled sample, then a few training steps
under every run.sh switch value (the accuracy runs are in its README)."""

import gzip
import json
import math
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MMOE = os.path.join(ROOT, "examples", "mmoe")
SAMPLE = os.path.join(ROOT, "data", "census", "census-income.test.head1200.gz")
sys.path.insert(0, MMOE)

import census  # noqa: E402
import schema  # noqa: E402


def sample_lines():
    with gzip.open(SAMPLE, "rt") as f:
        return f.read().splitlines(keepends=True)


def test_census_gives_each_column_its_own_id_range_and_unknowns_a_reserved_id():
    train_rows, test_rows = census.split_rows(census.read_rows(SAMPLE))
    assert (len(train_rows), len(test_rows)) == (800, 400)
    numeric = census.build_numeric_transforms(train_rows)
    ranges = census.build_id_ranges(census.categories(train_rows, numeric))
    assert [r["name"] for r in ranges] == list(schema.CATEGORICAL)
    offset = 0
    for r in ranges:  # contiguous and disjoint
        assert r["offset"] == r["unknown_id"] == offset
        offset += r["size"]
    train, unknown_in_train = census.encode(train_rows, ranges, numeric)
    test, unknown_in_test = census.encode(test_rows, ranges, numeric)
    assert not unknown_in_train and unknown_in_test
    for r in ranges:
        assert set(train[r["name"]]) == set(range(r["offset"] + 1, r["offset"] + r["size"]))
        assert all(r["offset"] <= i < r["offset"] + r["size"] for i in test[r["name"]])
    column = next(iter(unknown_in_test))
    reserved = next(r["unknown_id"] for r in ranges if r["name"] == column)
    assert (test[column] == reserved).sum() == unknown_in_test[column]
    for name in schema.NUMERIC:  # standardised on the training rows
        assert abs(train[name].mean()) < 1e-4 and abs(train[name].std() - 1) < 1e-3
    assert train["income"].sum() + test["income"].sum() == 75
    assert train["marital"].sum() + test["marital"].sum() == 526


def test_census_names_every_malformed_line(tmp_path):
    lines = sample_lines()[:6]
    lines[1] = "38, Private, 6\n"
    lines[3] = lines[3].replace("- 50000.", "maybe")
    lines[4] = "old" + lines[4][lines[4].index(","):]
    bad = tmp_path / "bad.txt"
    bad.write_text("".join(lines))
    with pytest.raises(census.MalformedDataError) as err:
        census.read_rows(str(bad))
    message = str(err.value)
    assert message.startswith("3 malformed line(s)")
    assert "bad.txt:2: expected 42 comma-separated fields, got 3" in message
    assert "bad.txt:4: income is 'maybe'" in message
    assert "bad.txt:5: age is 'old', not a number" in message


def test_census_reads_separate_train_and_test_files(tmp_path):
    lines = sample_lines()
    (tmp_path / "train.txt").write_text("".join(lines[:1000]))
    (tmp_path / "test.txt").write_text("".join(lines[1000:]))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, os.path.join(MMOE, "census.py"),
                           "--train_data_path", str(tmp_path / "train.txt"),
                           "--test_data_path", str(tmp_path / "test.txt"),
                           "--output_path", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    meta = census.load_meta(str(out))
    assert meta["rows"] == {"train": 1000, "test": 200} and meta["source"]["split"] is None
    assert (out / census.TRAIN_FILE).stat().st_size > 0 and (out / census.TEST_FILE).stat().st_size > 0


def run_example(tmp_path, env, *train_args, data_dir=None):
    env = dict(os.environ, OUTPUT_DIR=str(tmp_path), DATA_DIR=str(data_dir or tmp_path / "data"),
               STEPS="40", EVALS="2", **env)
    return subprocess.run(["bash", os.path.join(MMOE, "run.sh"), "", "", "", SAMPLE, ""]
                          + list(train_args), env=env, capture_output=True, text=True,
                          timeout=180)


def final_metrics(done):
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = {task: (float(auc), float(loss)) for task, auc, loss in re.findall(
        r"^eval (\w+)\s+AUC ([\d.naif]+)\s+logloss ([\d.naif]+)", done.stdout, re.M)}
    assert set(printed) == {"income", "marital"}, done.stdout
    assert all(math.isfinite(v) for pair in printed.values() for v in pair), printed
    return printed


# Every switch value at least once. The first two train the same model
# (tiers, key feeding, static shapes and a second lookup change no number).
MATRIX = {
    "hbm": {"CACHE_MODE": "HBM"},
    "ssd_static_graph_modify_multi": {"CACHE_MODE": "SSD", "USE_DYNAMIC": "0",
                                      "USE_MODIFY_GRAPH": "1", "USE_MULTI_LOOKUP": "1"},
    "ddr_faae_expansion": {"CACHE_MODE": "DDR", "USE_FAAE": "1", "USE_DYNAMIC_EXPANSION": "1"},
    "reference": {"REFERENCE": "1"},
}


@pytest.mark.slow
def test_run_sh_under_every_switch_value(tmp_path):
    results = {}
    for name, env in MATRIX.items():
        extra = ["--evict_step_interval", "10", "--eviction_threshold", "10"] \
            if env.get("USE_FAAE") == "1" else []
        done = run_example(tmp_path / name, env, *extra, data_dir=tmp_path / "data")
        results[name] = final_metrics(done)
        assert ("census: %s was made from the same files: kept" % (tmp_path / "data")
                in done.stdout) == (name != "hbm"), done.stdout
        assert done.stdout.startswith("so_path:"), done.stdout[:300]  # configuration first
        assert "switches:  USE_DYNAMIC=%s CACHE_MODE=%s" % (
            env.get("USE_DYNAMIC", "1"), env.get("CACHE_MODE", "HBM")) in done.stdout
        assert re.search(r"^step +40/40  loss [\d.]+  samples/s +[\d.]+  ETA 0:00:00$",
                         done.stdout, re.M), done.stdout
        with open(tmp_path / name / "metrics.json") as f:
            written = json.load(f)
        for task, (auc, loss) in results[name].items():
            assert abs(written["metrics"]["auc_" + task] - auc) < 1e-4
            assert abs(written["metrics"]["logloss_" + task] - loss) < 1e-4
        assert len(written["curves"]["eval_auc"]["income"]) == 2
        with open(tmp_path / name / "curves.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        if env.get("CACHE_MODE", "HBM") != "HBM":
            moved = re.search(r"^tiers: .* (\d+) evictions", done.stdout, re.M)
            assert moved and int(moved.group(1)) > 0, done.stdout
        if env.get("USE_FAAE") == "1":
            evicted = re.search(r"^faae: \d+ keys admitted.* (\d+) stale keys evicted$",
                                done.stdout, re.M)
            assert evicted and int(evicted.group(1)) > 0, done.stdout
    for task in ("income", "marital"):
        assert results["ssd_static_graph_modify_multi"][task] == \
            pytest.approx(results["hbm"][task], abs=2e-4)


@pytest.mark.parametrize("env, message", [
    ({"CACHE_MODE": "HDD"}, "CACHE_MODE must be HBM, DDR or SSD, got 'HDD'"),
    ({"USE_MULTI_LOOKUP": "yes"}, "USE_MULTI_LOOKUP must be 0 or 1, got 'yes'"),
    ({"REFERENCE": "2"}, "REFERENCE must be 0 or 1, got '2'"),
])
def test_run_sh_refuses_other_switch_values(tmp_path, env, message):
    done = run_example(tmp_path, env)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not os.listdir(tmp_path)  # before anything ran


def test_run_sh_checks_its_arguments(tmp_path):
    bad_json = tmp_path / "rank.json"
    bad_json.write_text("{\"server_list\": [")
    for args, message in (
            (["", "", str(bad_json), SAMPLE], "is not valid JSON"),
            (["", "", "", SAMPLE, "10.0.0.300"], "ip '10.0.0.300' is not an IPv4 or IPv6"),
            (["", "", "", str(tmp_path / "none.txt")], "data file '%s' not found"
             % (tmp_path / "none.txt")),
            (["", str(tmp_path)], "is neither the mx_rec package nor a directory holding it")):
        done = subprocess.run(["bash", os.path.join(MMOE, "run.sh")] + args,
                              env=dict(os.environ, OUTPUT_DIR=str(tmp_path / "out")),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
