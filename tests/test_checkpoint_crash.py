"""Crash safety of sparse checkpoints.

A process SIGKILLed at any point of a save (while a table directory is being
written into "<entry>.tmp-<pid>", between its rename and TF's index, between
TF's index and the `checkpoint` state file, while old versions are pruned)
leaves a checkpoint directory whose latest version restores exactly the
state of the last complete save: every key trained by steps 1..k with its
row, no other key, the TF checkpoint and its table directory of the same
step. Leftovers of the killed save never break a restore or the next save.
A damaged or missing table directory is a clear error that leaves the table
empty, never partially loaded.

The model (tests/checkpoint_crash_child.py on tests/table_scenarios.Model):
SGD on loss = sum(rows) from INIT, so after steps 1..k every row is exactly
INIT - LR * (times its key was looked up in batches 1..k).
"""

import glob
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf

import checkpoint_crash_child as child
import table_scenarios as ts

HERE = os.path.dirname(os.path.abspath(__file__))
# 8 per mode; MX_REC_CRASH_TRIALS / MX_REC_CRASH_SEED run more or others.
TRIALS = int(os.environ.get("MX_REC_CRASH_TRIALS", "24"))
SEED = int(os.environ.get("MX_REC_CRASH_SEED", "20240611"))
WATCHDOG_SECS = 120


def expected_counts(k):
    """Lookups of each key of the universe in batches 1..k."""
    if k == 0:
        return np.zeros(child.UNIVERSE, np.int64)
    return np.bincount(np.concatenate([child.batch(i) for i in range(1, k + 1)]),
                       minlength=child.UNIVERSE)


def table_dir(prefix, name="t"):
    """The table directory the TF checkpoint at `prefix` names."""
    entry = tf.train.load_checkpoint(prefix).get_tensor(f"mx_rec/{name}/checkpoint").decode()
    return os.path.join(prefix + ".mx_rec", entry)


def check_version(sess, model, step, k):
    """The session holds exactly the state after steps 1..k."""
    assert sess.run(step) == k
    counts = expected_counts(k)
    present = np.flatnonzero(counts)
    keys, slots = model.table.export_slots(sess)
    assert len(keys) == len(np.unique(keys)) == len(slots)
    np.testing.assert_array_equal(np.sort(keys), present)
    assert model.table.size(sess) == len(present)
    rows = model.table.read_rows(present, sess)
    want = (ts.INIT - ts.LR * counts[present].astype(np.float32))[:, None]
    np.testing.assert_array_equal(rows, np.broadcast_to(want, rows.shape).astype(np.float32))
    tiers = model.table.locate(np.arange(child.UNIVERSE), sess)
    assert (tiers[counts == 0] == -1).all()
    assert (tiers[counts > 0] >= 0).all()


def check_consistent(prefix, k):
    """The TF checkpoint at `prefix` (of step k) and its table directory
    agree; returns the table checkpoint's kind."""
    directory = table_dir(prefix)
    entry = os.path.basename(directory)
    assert re.fullmatch(r"t@[0-9a-f]{16}", entry), entry
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    assert manifest["global_step"] == k and manifest["kind"] in ("full", "delta")
    assert manifest["table"] == "t"
    if manifest["kind"] == "full":
        assert manifest["rows"] == int(np.count_nonzero(expected_counts(k)))
    else:  # the keys of the steps since the save it builds on
        assert 0 < manifest["rows"] <= int(np.count_nonzero(expected_counts(k)))
    for item in manifest["files"]:
        assert os.path.getsize(os.path.join(directory, item["name"])) == item["bytes"]
    assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == k
    return manifest["kind"]


# ---- crash trials -------------------------------------------------------------------------


class Trial:
    """One child process, killed by plan; what it printed before dying."""

    def __init__(self, index, mode, incremental, workdir, plan):
        self.index, self.mode, self.workdir, self.plan = index, mode, workdir, plan
        self.incremental = incremental  # deltas between full saves
        self.lines = []
        self.save_secs = []
        self.run_secs = None

    def run(self):
        os.makedirs(self.workdir)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0",
                   PYTHONUNBUFFERED="1")
        start = time.monotonic()
        with open(os.path.join(self.workdir, "stderr.txt"), "w") as err:
            proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "checkpoint_crash_child.py"), self.mode,
                 self.workdir, "1" if self.incremental else "0"], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            # A child that hangs is killed too (and then fails the trial).
            watchdog = threading.Timer(WATCHDOG_SECS, proc.kill)
            watchdog.start()
            try:
                self._kill_by_plan(proc)
            finally:
                watchdog.cancel()
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                rest = proc.stdout.read()  # what it printed before the kill
                proc.wait()
        self.lines += rest.split()
        self.returncode = proc.returncode
        self.run_secs = time.monotonic() - start
        return self

    def _readline(self, proc):
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"trial {self.index}: the child ended before its kill: " +
                                 open(os.path.join(self.workdir, "stderr.txt")).read()[-3000:])
        self.lines += line.split()
        return line.split()

    def _kill_by_plan(self, proc):
        kind, value = self.plan
        saving_since = None
        while True:
            word, *rest = self._readline(proc)
            if word == "saving":
                saving_since = time.monotonic()
                step = int(rest[0])
                if kind == "in_save" and step == value[0] and self.save_secs:
                    # Inside save `step`: up to 1.3 times the last save's duration.
                    time.sleep(value[1] * 1.3 * self.save_secs[-1])
                    break
            elif word == "saved":
                self.save_secs.append(time.monotonic() - saving_since)
                if kind == "anytime":
                    time.sleep(value)  # from the end of the first save
                    break
        proc.send_signal(signal.SIGKILL)

    def printed(self, word):
        """Steps of the `word` ("saving", "saved") lines, in order."""
        return [int(self.lines[i + 1]) for i, w in enumerate(self.lines) if w == word]


def plans(count, rng):
    """(kind, value) per trial: most aim at a save, some at any moment."""
    out = []
    for i in range(count):
        if i % 3 == 2:
            out.append(("anytime", rng.uniform(0.0, 1.5)))
        else:
            out.append(("in_save", (rng.randint(2, 8), rng.random())))
    return out


def where_killed(trial, prefix_of, k):
    """Which part of the program the kill interrupted, from the child's output
    and what it left on disk."""
    saved, saving = trial.printed("saved"), trial.printed("saving")
    if saving[-1] == saved[-1]:
        return "between saves"
    s = saving[-1]
    if k == s:
        return "after the commit"  # save s committed; "saved s" not printed
    sparse = prefix_of(s) + ".mx_rec"
    if glob.glob(os.path.join(sparse, "*.tmp-*")):
        return "writing the table"
    if os.path.exists(prefix_of(s) + ".index"):
        return "before the commit"
    if os.path.isdir(sparse) and os.listdir(sparse):
        return "writing TF's files"
    return "before the table write"


def restore_and_check(trial, tmp_path, stats):
    assert trial.returncode == -signal.SIGKILL, (trial.index, trial.returncode)
    ckpt_dir = os.path.join(trial.workdir, "ckpt")
    saved, saving = trial.printed("saved"), trial.printed("saving")
    assert saved, f"trial {trial.index}: killed before its first save completed"
    last = saved[-1]

    def prefix_of(step):
        return os.path.join(ckpt_dir, f"model.ckpt-{step}")

    latest = tf.train.latest_checkpoint(ckpt_dir)
    assert latest is not None
    k = int(latest.rsplit("-", 1)[1])
    # The last complete save, or the one under way if it had committed.
    assert latest == prefix_of(k)
    assert k == last or (k == last + 1 and saving[-1] == k), (trial.index, k, saved, saving)
    place = where_killed(trial, prefix_of, k)
    stats.setdefault(place, []).append(trial.index)
    leftovers = glob.glob(os.path.join(ckpt_dir, "*.mx_rec", "*.tmp-*"))
    stats.setdefault("tmp dirs left", []).extend([trial.index] * len(leftovers))
    kept = tf.train.get_checkpoint_state(ckpt_dir).all_model_checkpoint_paths
    assert kept[-1] == latest and len(kept) <= 3

    restore_dir = tmp_path / f"restore-{trial.index}"
    restore_dir.mkdir()
    with tf.Graph().as_default():
        model, step, train = child.build(trial.mode, restore_dir)
        saver = tf.compat.v1.train.Saver(max_to_keep=3)
        # Every kept version restores exactly (pruning never touches them).
        for prefix in kept:
            v = int(prefix.rsplit("-", 1)[1])
            stats.setdefault(f"{check_consistent(prefix, v)} versions restored", []).append(v)
            with tf.compat.v1.Session() as sess:
                saver.restore(sess, prefix)
                check_version(sess, model, step, v)
        # Training resumes from the latest version, and its next save (over
        # whatever the killed save left under that step) restores exactly.
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, latest)
            sess.run(train, {model.ids: child.batch(k + 1)})
            resumed = saver.save(sess, os.path.join(ckpt_dir, "model.ckpt"), global_step=k + 1)
        assert resumed == prefix_of(k + 1) == tf.train.latest_checkpoint(ckpt_dir)
        check_consistent(resumed, k + 1)
        # Committing it swept what the killed save left under its prefix.
        assert os.listdir(resumed + ".mx_rec") == [os.path.basename(table_dir(resumed))]
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, resumed)
            check_version(sess, model, step, k + 1)
    return k


@pytest.mark.slow
def test_sigkill_during_saves_always_restores_the_last_complete_version(mx, tmp_path):
    """TRIALS children (HBM, DDR, SSD in turn, full or incremental saves)
    SIGKILLed at random points, most inside a save: the latest checkpoint is the last complete save, every kept version
    restores every row exactly, and training resumes and saves over the
    leftovers."""
    rng = random.Random(SEED)
    # Modes in turn; every other round of three saves incrementally (deltas,
    # with a full save every second).
    trials = [Trial(i, ts.MODES[i % 3], (i // 3) % 2 == 1, str(tmp_path / f"trial-{i}"), plan)
              for i, plan in enumerate(plans(TRIALS, rng))]
    stats = {}
    start = time.monotonic()
    # Two children at a time; the parent restores finished trials meanwhile.
    with futures.ThreadPoolExecutor(max_workers=2) as pool:
        running = [pool.submit(trial.run) for trial in trials]
        for done in futures.as_completed(running):
            restore_and_check(done.result(), tmp_path, stats)
    elapsed = time.monotonic() - start
    leftovers = len(stats.pop("tmp dirs left", []))
    kinds = {kind: len(stats.pop(f"{kind} versions restored", [])) for kind in ("full", "delta")}
    assert kinds["delta"] > 0 and kinds["full"] > 0, kinds
    summary = {place: len(indices) for place, indices in stats.items()}
    print(f"\n{TRIALS} trials in {elapsed:.1f}s; kills landed: {summary}; {leftovers} "
          f"\"*.tmp-*\" directories left (restored over); versions restored {kinds}; "
          f"save durations "
          f"{min(min(t.save_secs) for t in trials) * 1e3:.0f}.."
          f"{max(max(t.save_secs) for t in trials) * 1e3:.0f} ms")
    in_save = TRIALS - len(stats.get("between saves", []))
    assert in_save >= TRIALS // 3, summary


# ---- damaged, missing and left-over table directories (in process) ---------------------

STEPS = 6  # > 65536 keys: a restore imports them in two batches


def _train_and_save(mode, tmp_path):
    """The crash model trained STEPS steps, saved after each (3 kept)."""
    model, step, train = child.build(mode, tmp_path)
    saver = tf.compat.v1.train.Saver(max_to_keep=3)
    prefix = str(tmp_path / "ckpt" / "model.ckpt")
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for i in range(1, STEPS + 1):
            sess.run(train, {model.ids: child.batch(i)})
            saver.save(sess, prefix, global_step=i)
    assert int(np.count_nonzero(expected_counts(STEPS))) > 65536
    return model, step, train, saver, f"{prefix}-{STEPS}"


def version(prefix, step):
    """The prefix of version `step` in the directory of `prefix`."""
    return f"{prefix.rsplit('-', 1)[0]}-{step}"


def _assert_empty(sess, model):
    assert model.table.size(sess) == 0
    assert len(model.table.export_slots(sess)[0]) == 0
    assert (model.table.locate(np.arange(child.UNIVERSE), sess) == -1).all()


def _flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x10]))


@pytest.mark.parametrize("mode", ts.MODES)
@pytest.mark.parametrize("damage, file, message", [
    ("flip a byte near the end", "block-0.bin", r"fails its CRC-32 check"),
    ("repeat a key of the second import batch", "keys.bin", r"fails its CRC-32 check"),
    ("truncate", "freq.bin", r"has \d+ bytes, its manifest says \d+"),
    ("truncate", "manifest.json", r"does not match its CRC-32 in manifest.crc32"),
])
def test_a_damaged_latest_table_directory_fails_the_restore_and_leaves_the_table_empty(
        mx, tmp_path, mode, damage, file, message):
    model, step, _, saver, latest = _train_and_save(mode, tmp_path)
    path = os.path.join(table_dir(latest), file)
    size = os.path.getsize(path)
    if damage.startswith("flip"):
        _flip(path, size - 7)
    elif damage.startswith("repeat"):
        first = open(path, "rb").read(8)
        with open(path, "r+b") as f:
            f.seek(8 * (65536 + 11))
            f.write(first)
    else:
        os.truncate(path, size // 2)
    with tf.compat.v1.Session() as sess:
        # The table holds an older version when the restore fails.
        saver.restore(sess, version(latest, STEPS - 1))
        check_version(sess, model, step, STEPS - 1)
        with pytest.raises(tf.errors.DataLossError) as failure:
            saver.restore(sess, latest)
        text = str(failure.value)
        assert "restoring table 't'" in text
        assert re.search(re.escape(f"'{path}'") + ".*" + message, text), text
        _assert_empty(sess, model)
        # The kept versions before it still restore.
        saver.restore(sess, version(latest, STEPS - 2))
        check_version(sess, model, step, STEPS - 2)


def test_a_deleted_table_directory_is_a_not_found_error_naming_it(mx, tmp_path):
    """Even with a complete copy of it left as "<entry>.tmp-<pid>" beside."""
    model, step, _, saver, latest = _train_and_save("DDR", tmp_path)
    directory = table_dir(latest)
    shutil.copytree(directory, directory + ".tmp-999999")
    shutil.rmtree(directory)
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, version(latest, STEPS - 1))
        with pytest.raises(tf.errors.NotFoundError,
                           match=re.escape(f"table checkpoint directory '{directory}' does not "
                                           "exist")):
            saver.restore(sess, latest)
        _assert_empty(sess, model)


def _dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("mode", ts.MODES)
def test_left_over_tmp_directories_never_break_a_restore_or_the_next_save(mx, tmp_path, mode):
    model, step, train, saver, latest = _train_and_save(mode, tmp_path)
    directory = table_dir(latest)
    pid = _dead_pid()
    # What killed saves leave: a half-written copy of the latest entry, a
    # complete-looking older table under the latest prefix, and a table
    # directory under the next prefix (killed before TF wrote its files).
    half = f"{directory}.tmp-{pid}"
    shutil.copytree(directory, half)
    os.remove(os.path.join(half, "manifest.json"))
    os.truncate(os.path.join(half, "block-0.bin"), 100)
    older = table_dir(version(latest, STEPS - 1))
    shutil.copytree(older, os.path.join(latest + ".mx_rec", f"t@{'0' * 16}.tmp-{pid}"))
    nxt = version(latest, STEPS + 1)
    shutil.copytree(older, os.path.join(nxt + ".mx_rec", f"t@{'1' * 16}.tmp-{pid}"))
    shutil.copytree(older, os.path.join(nxt + ".mx_rec", f"t@{'2' * 16}"))
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, latest)
        check_version(sess, model, step, STEPS)
        sess.run(train, {model.ids: child.batch(STEPS + 1)})
        saved = saver.save(sess, latest.rsplit("-", 1)[0], global_step=STEPS + 1)
    assert saved == nxt
    check_consistent(nxt, STEPS + 1)
    assert os.listdir(nxt + ".mx_rec") == [os.path.basename(table_dir(nxt))]
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, nxt)
        check_version(sess, model, step, STEPS + 1)
