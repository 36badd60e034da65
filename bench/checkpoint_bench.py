#!/usr/bin/env python3
"""Sparse checkpoint throughput: Saver save / restore of one big table vs `dd` on the same disk.

One command produces every number. For each mode (HBM; DDR with the device
tier at --device-frac of the rows) a fresh subprocess builds one mx_rec table
of --rows keys, dim --dim, trained by lazy Adam (a row is embedding + m + v:
3 x dim float32 per key), and fills it: train steps of --batch new unique
int64 keys each (loss = reduce_sum of the looked-up rows), timed. Then, with
a plain tf.compat.v1.train.Saver (what MonitoredTrainingSession and Estimator
use), --repeats rounds of:

  dd       `dd if=/dev/zero of=F bs=1M count=<the checkpoint's MiB>
           conv=fsync` (sequential write, fsync at the end, as the save:
           the target's reference); the same with oflag=direct (past the
           page cache, for reference); `dd if=F of=/dev/null bs=1M
           iflag=direct` (sequential read past the page cache); then F
           evicted from the page cache and read by a buffered `dd` (through
           the page cache, like the restore). F is in the checkpoint's
           directory; deleted after.
  save     saver.save(sess, prefix): TF's own (tiny) checkpoint, and the
           table's AscTableSave writes keys.bin, freq.bin, block-<i>.bin,
           admission.bin, tombstones.bin + manifest.json (CRC-32 each, every
           file and the directory fsynced, renamed) into <prefix>.mx_rec/.
  evict    the checkpoint's files are dropped from the page cache with
           posix_fadvise(POSIX_FADV_DONTNEED) (clean after the fsync: this
           drops exactly those pages, nothing of anyone else's; no
           drop_caches); `fincore` reports what stayed resident.
  restore  a fresh process (as after a restart; the filled one stays
           alive) builds the same graph, waits, then times
           saver.restore(sess, prefix): the table variables' initializers,
           then AscTableRestore reads the files from disk; then checks: every
           key back, the same tier counts, the same rows for 2,000 sampled
           keys.
and once per mode: the variable initializers alone in a fresh process (the
part of a restore that is TF creating the table's variables), and (unless
--no-warm-restore) one more restoring process right after the first, the
files now in the page cache: the restore's cost without the disk. (Restoring
in a fresh session of the saving process instead would reuse memory TF's
allocator kept from earlier sessions and understate what a restart pays.)

Delta (unless --delta-frac 0): the filling worker runs with
init(is_incremental_checkpoint=True, save_checkpoint_due_time=10^9) (the
rounds' saves stay full: each goes to a new directory); after the rounds, in
the same session, a full Saver.save, train steps of exactly --delta-frac
(default 1%) of the table's keys (existing keys, spread over the table), then
a Saver.save into the same directory, which is a delta; its manifest must
say kind "delta" and rows = the touched keys. Both saves
settled; reported: their seconds, CPU-s, bytes, and delta / full time.

Settling (--settle, default 10 s; before every buffered dd write and read
and the save, and before the timed restore once its process built the
graph): this VM's balloon device does free page reporting, so memory the
guest frees goes back to the host within seconds, and the first touch of
such a page (a new page-cache page of a write, a new variable) costs a host
fault: a 2 GB dd write took ~0.9 s right after 2 GB were freed and ~5.4 s
once they had been reported (6 s of settling was not always enough after a
5 GB process exited). Settling puts every timed phase in the same, reported
state. One extra round without any settling (unless --no-backed-pass)
measures the other state: dd and the save each right after the previous
phase freed its memory (the restore still starts a process, which takes
longer than the settling).

CPU-seconds per phase: resource.getrusage (user + system) of the process
timing it (RUSAGE_SELF) and of dd (RUSAGE_CHILDREN). Everything written is
deleted (the whole work directory under --dir).

Targets: full save >= 50% of dd write bandwidth; a delta holding 1% of the
rows costs <= 5% of a full save. Saves are synchronous (the train step waits
for a save), so the asynchronous-save target does not apply.

Usage:  nice python bench/checkpoint_bench.py                  # 10M rows, ~7 min on 2 cores
        python bench/checkpoint_bench.py --rows 1000000        # ~4 min (mostly settling)
        python bench/checkpoint_bench.py --modes hbm --repeats 1 --dir /data/tmp
Profile one mode: perf record -g -- python bench/checkpoint_bench.py --worker hbm
        --ckpt-dir DIR --repeats 1 --no-backed-pass --no-warm-restore
"""

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import (Phase, distinct_keys, emit_result, files_under, fs_of, git_rev,  # noqa: E402  pylint: disable=wrong-import-position
                        lib_sums, loadavg, mem_available, rss_peak, run_worker, spawn_worker,
                        stderr_tail)
ALL_MODES = ["hbm", "ddr"]
LABELS = {"hbm": "HBM", "ddr": "DDR (device 10%)"}
MB = 1e6            # MB/s here are 10^6 bytes per second (dd's own unit)
MIB = 1 << 20
SYNC_NOTE = ("Saves are synchronous: `Saver.save` returns once every file is written and "
             "fsynced, and training waits for it (no step runs during a save); the "
             "asynchronous-save target does not apply.")


# --------------------------------------------------------------------------
# helpers (both sides)
# --------------------------------------------------------------------------
def evict(paths):
    """Drops the (clean) page-cache pages of these files."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def resident_bytes(paths):
    """Bytes of these files in the page cache (util-linux fincore), or None."""
    if not paths or shutil.which("fincore") is None:
        return None
    p = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES"] + paths,
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        return None
    return sum(int(x) for x in p.stdout.split())


# --------------------------------------------------------------------------
# worker side (one mode per process)
# --------------------------------------------------------------------------
def _dd(work, mib, settle):
    """dd write (conv=fsync), direct read, buffered read after eviction, of mib MiB; in `work`."""
    f = os.path.join(work, "dd.bin")
    out = {"bytes": mib * MIB}
    time.sleep(settle)
    with Phase(resource.RUSAGE_CHILDREN) as w:
        subprocess.run(["dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=%d" % mib,
                        "conv=fsync"], check=True, capture_output=True)
    out["write"] = w.as_dict()
    # For reference: the same write past the page cache (no page-cache pages to
    # allocate and fill), into a second file.
    g = os.path.join(work, "dd_direct.bin")
    with Phase(resource.RUSAGE_CHILDREN) as wd:
        wdirect = subprocess.run(["dd", "if=/dev/zero", "of=" + g, "bs=1M", "count=%d" % mib,
                                  "oflag=direct", "conv=fsync"], capture_output=True, check=False)
    out["write_direct"] = wd.as_dict() if wdirect.returncode == 0 else None
    if os.path.exists(g):
        os.unlink(g)
    with Phase(resource.RUSAGE_CHILDREN) as r:
        direct = subprocess.run(["dd", "if=" + f, "of=/dev/null", "bs=1M", "iflag=direct"],
                                capture_output=True, check=False)
    if direct.returncode == 0:
        out["read_direct"] = r.as_dict()
    else:
        out["read_direct"] = None
        out["direct_error"] = direct.stderr.decode(errors="replace").strip()[-200:]
    evict([f])
    out["resident_before_read"] = resident_bytes([f])
    time.sleep(settle)
    with Phase(resource.RUSAGE_CHILDREN) as b:
        subprocess.run(["dd", "if=" + f, "of=/dev/null", "bs=1M"], check=True,
                       capture_output=True)
    out["read_buffered"] = b.as_dict()
    os.unlink(f)
    return out


def _build(args, incremental=False):
    """The bench's graph: one table, a training step of lazy Adam, a Saver.
    incremental: init(is_incremental_checkpoint=True) with no full checkpoint
    due during the run (a save into the directory of this session's previous
    save is a delta)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    sys.path.insert(0, REPO)
    # pylint: disable=import-outside-toplevel
    import mx_rec
    from mx_rec.core.embedding import create_table, sparse_lookup
    from mx_rec.optimizers import lazy_adam
    from mx_rec.util.initialize import init

    g = argparse.Namespace(tf=tf)
    rows = args.rows
    if incremental:
        init(use_dynamic=True, use_dynamic_expansion=False, is_incremental_checkpoint=True,
             save_checkpoint_due_time=10**9)
    else:
        init(use_dynamic=True, use_dynamic_expansion=False)
    opt = lazy_adam.create_hash_optimizer(0.001)  # before the table: DDR rows carry m, v
    if args.worker == "hbm":
        g.tiers = {"device_vocabulary_size": rows}
    else:
        g.tiers = {"device_vocabulary_size": max(int(rows * args.device_frac), args.batch),
                   "host_vocabulary_size": rows}
    g.table = create_table(tf.int64, args.dim, "big", tf.compat.v1.random_uniform_initializer(
        -0.05, 0.05, seed=1), **g.tiers)
    g.ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
    loss = tf.reduce_sum(sparse_lookup(g.table, g.ids))
    g.train = opt.minimize(loss)
    g.saver = tf.compat.v1.train.Saver(max_to_keep=None)
    g.init_op = tf.compat.v1.global_variables_initializer()
    g.cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                     inter_op_parallelism_threads=args.threads)
    g.mx_rec_from = os.path.dirname(os.path.dirname(os.path.abspath(mx_rec.__file__)))
    return g


def run_restore(args):
    """A fresh process (as after a restart): build the graph, wait --settle
    seconds, then time saver.restore (or, with --init-only, the variable
    initializers alone) and check the result against --expect."""
    g = _build(args)
    sess = g.tf.compat.v1.Session(config=g.cfg)
    gc.collect()
    time.sleep(args.settle)
    with Phase() as p:
        if args.init_only:
            sess.run(g.init_op)
        else:
            g.saver.restore(sess, args.restore)
    out = p.as_dict()
    if not args.init_only:
        expect = np.load(args.expect)
        after = g.table.stats(sess)
        size = after["device_keys"] + after["host_keys"] + after["ssd_keys"]
        out["ok"] = bool(size == args.rows and after["device_keys"] == int(expect["device_keys"])
                         and after["host_keys"] == int(expect["host_keys"])
                         and np.array_equal(g.table.read_rows(expect["keys"], sess),
                                            expect["rows"]))
    sess.close()
    out["rss_peak"] = rss_peak()
    return out


def _child(args, settle, restore=None, init_only=False):
    """run_restore in a new process."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", args.worker, "--rows",
           str(args.rows), "--dim", str(args.dim), "--batch", str(args.batch), "--device-frac",
           str(args.device_frac), "--threads", str(args.threads), "--settle", str(settle),
           "--expect", args.expect]
    cmd += ["--init-only"] if init_only else ["--restore", restore]
    res, p = run_worker(cmd)
    if res is None:
        raise RuntimeError("restore process failed (exit %d): %s"
                           % (p.returncode, stderr_tail(p, 15)))
    if "error" in res:
        raise RuntimeError("restore process: " + res["error"])
    return res


def _saved_files(prefix):
    """Files of the Saver checkpoint `prefix`: TF's (prefix.index, .data-*, .meta)
    and the table directory under prefix.mx_rec; and the table's manifest."""
    parent = os.path.dirname(prefix)
    base = os.path.basename(prefix) + "."
    files = [os.path.join(parent, f) for f in os.listdir(parent)
             if f.startswith(base) and os.path.isfile(os.path.join(parent, f))]
    table_files = files_under(prefix + ".mx_rec")
    manifests = [f for f in table_files if os.path.basename(f) == "manifest.json"]
    assert len(manifests) == 1, manifests
    with open(manifests[0]) as f:
        manifest = json.load(f)
    return files + table_files, manifest


def run_delta(args, g, sess):
    """A full save, train steps that touch exactly --delta-frac of the table's
    (existing) keys, then a save into the same directory: a delta (the graph
    was built with init(is_incremental_checkpoint=True)). Both saves settled
    (--settle) and synchronous, like every Saver save."""
    rows = args.rows
    n = max(1, int(round(rows * args.delta_frac)))
    out = {"touched": n}
    ddir = os.path.join(args.ckpt_dir, "delta")
    prefix = os.path.join(ddir, "model.ckpt")

    def save(name, step):
        gc.collect()
        time.sleep(args.settle)
        with Phase() as p:
            path = g.saver.save(sess, prefix, global_step=step)
        out[name] = p.as_dict()
        files, manifest = _saved_files(path)
        out[name + "_bytes"] = sum(os.path.getsize(f) for f in files)
        out[name + "_kind"], out[name + "_rows"] = manifest["kind"], manifest["rows"]
        out[name + "_tombstones"] = manifest["tombstones"]

    save("full", 1)
    # n distinct existing keys, spread over the table (and both DDR tiers).
    keys = distinct_keys(0, rows)[np.sort(np.random.default_rng(1).choice(rows, n, replace=False))]
    steps = 0
    with Phase() as p_train:
        for start in range(0, n, args.batch):
            sess.run(g.train, {g.ids: keys[start:start + args.batch]})
            steps += 1
    out["train"], out["train_steps"] = p_train.as_dict(), steps
    save("delta", 2)
    out["ok"] = bool(out["full_kind"] == "full" and out["full_rows"] == rows
                     and out["delta_kind"] == "delta" and out["delta_rows"] == n)
    shutil.rmtree(ddir)
    return out


def run_mode(args):
    g = _build(args, incremental=args.delta_frac > 0)
    tf, table, ids, saver = g.tf, g.table, g.ids, g.saver
    rows, dim = args.rows, args.dim
    os.makedirs(args.ckpt_dir, exist_ok=True)
    res = {"mode": args.worker, "tiers": g.tiers, "mx_rec_from": g.mx_rec_from}

    sess = tf.compat.v1.Session(config=g.cfg)
    sess.run(g.init_op)
    # Fill: batches of new unique keys.
    sess.run(g.train, {ids: distinct_keys(rows, 16)[:0]})  # Session first-run setup, no keys
    gc.collect()
    step_s = []
    with Phase() as p_fill:
        for start in range(0, rows, args.batch):
            k = distinct_keys(start, min(args.batch, rows - start))
            t = time.perf_counter()
            sess.run(g.train, {ids: k})
            step_s.append(time.perf_counter() - t)
    res["fill"] = p_fill.as_dict()
    res["fill_steps"] = len(step_s)
    res["fill_step_s_first_last"] = [step_s[0], step_s[-1]]
    before = table.stats(sess)
    res["size"] = before["device_keys"] + before["host_keys"] + before["ssd_keys"]
    res["device_keys"], res["host_keys"] = before["device_keys"], before["host_keys"]
    assert res["size"] == rows, (res["size"], rows)
    # What the restore processes check.
    sample = distinct_keys(0, rows)[np.random.default_rng(0).choice(rows, 2000, replace=False)]
    args.expect = os.path.join(args.ckpt_dir, "expect.npz")
    np.savez(args.expect, keys=sample, rows=table.read_rows(sample, sess),
             device_keys=before["device_keys"], host_keys=before["host_keys"])
    width = 3 * dim
    mib = -(-rows * (8 + 4 + 4 * width) // MIB)

    passes = [("settled", args.settle)] * args.repeats
    if args.backed_pass:
        passes.append(("backed", 0.0))
    res["reps"] = []
    for i, (kind, settle) in enumerate(passes):
        rep = {"kind": kind}
        rep["dd"] = _dd(args.ckpt_dir, mib, settle)
        ckpt = os.path.join(args.ckpt_dir, "rep%d" % i)
        gc.collect()
        time.sleep(settle)
        with Phase() as p_save:
            path = saver.save(sess, os.path.join(ckpt, "model.ckpt"))
        rep["save"] = p_save.as_dict()
        files = files_under(ckpt)
        table_files = files_under(path + ".mx_rec")
        rep["bytes"] = sum(os.path.getsize(f) for f in files)
        rep["table_bytes"] = sum(os.path.getsize(f) for f in table_files)
        rep["files"] = {os.path.basename(f): os.path.getsize(f) for f in table_files}
        rep["resident_after_save"] = resident_bytes(files)
        evict(files)
        rep["resident_after_evict"] = resident_bytes(files)
        if i == 0:
            # The initializers alone in a fresh process: what a restore pays
            # before reading anything.
            res["init"] = _child(args, args.settle, init_only=True)
        rep["restore"] = _child(args, settle, restore=path)
        rep["resident_after_restore"] = resident_bytes(files)
        if i == 0 and args.warm_restore:
            res["restore_warm"] = _child(args, 0.0, restore=path)
        shutil.rmtree(ckpt)
        res["reps"].append(rep)
    if args.delta_frac > 0:
        res["delta"] = run_delta(args, g, sess)
    sess.close()
    res["rss_peak"] = rss_peak()
    return res


def worker_main(args):
    try:
        res = run_restore(args) if (args.restore or args.init_only) else run_mode(args)
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
        res = {"mode": args.worker, "error": "%s: %s" % (type(e).__name__, e)}
    emit_result(res)


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def _spawn(args, mode, ckpt_dir):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", mode, "--rows", str(args.rows),
           "--dim", str(args.dim), "--batch", str(args.batch), "--device-frac",
           str(args.device_frac), "--threads", str(args.threads), "--ckpt-dir", ckpt_dir,
           "--repeats", str(args.repeats), "--settle", str(args.settle),
           "--delta-frac", str(args.delta_frac)]
    if not args.warm_restore:
        cmd.append("--no-warm-restore")
    if not args.backed_pass:
        cmd.append("--no-backed-pass")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return spawn_worker(cmd, mode, env=env, tail=20)


def _mbps(nbytes, seconds):
    return nbytes / MB / seconds if seconds > 0 else float("nan")


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return float("nan")
    n = len(xs)
    return xs[n // 2] if n % 2 else 0.5 * (xs[n // 2 - 1] + xs[n // 2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="keys in the table")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--batch", type=int, default=None,
                    help="new unique keys per fill step (default 500,000, at most the DDR "
                    "device tier: --device-frac x --rows)")
    ap.add_argument("--modes", default=",".join(ALL_MODES), help="comma list from hbm,ddr")
    ap.add_argument("--device-frac", type=float, default=0.10,
                    help="DDR device tier as a fraction of the rows (at least --batch rows)")
    ap.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads")
    ap.add_argument("--repeats", type=int, default=2,
                    help="settled dd + save + restore rounds per mode (medians reported)")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds to wait before each timed write/read (freed memory reported "
                    "to the host first; see the docstring)")
    ap.add_argument("--no-backed-pass", dest="backed_pass", action="store_false",
                    help="skip the extra round without settling")
    ap.add_argument("--dir", default=None,
                    help="parent of the work directory (checkpoints + dd's file); default TMPDIR")
    ap.add_argument("--no-warm-restore", dest="warm_restore", action="store_false",
                    help="skip the restore with the files in the page cache")
    ap.add_argument("--delta-frac", type=float, default=0.01,
                    help="after the rounds: a full save, train steps touching this fraction "
                    "of the keys, a delta save (incremental checkpoints); 0: skip (and no "
                    "incremental checkpoints)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt-dir", help=argparse.SUPPRESS)
    ap.add_argument("--restore", help=argparse.SUPPRESS)
    ap.add_argument("--init-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--expect", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.batch is None:
        args.batch = max(1, min(500_000, int(args.rows * args.device_frac)))
    if args.worker:
        worker_main(args)
        return
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in ALL_MODES:
            ap.error("unknown mode %r" % m)

    width = 3 * args.dim   # embedding + lazy Adam m, v
    est_bytes = args.rows * (8 + 4 + 4 * width)
    # Worker memory: the rows in the filled session (HBM variables / DDR host
    # rows) and again in the restoring one, the export order (24 B/key) and
    # batches, TF's own (~1 GB).
    need = int(2.3 * args.rows * 4 * width) + (1 << 30)
    avail = mem_available()
    work = tempfile.mkdtemp(prefix="checkpoint_bench_", dir=args.dir)
    src, fstype, disk_free = fs_of(work)
    load0 = loadavg()
    date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
    print("# mx_rec tree %s, git %s; %s; %s" % (REPO, git_rev(REPO), lib_sums(REPO), date))
    print("# checkpoint_bench: 1 table, %s rows x dim %d + lazy Adam m, v (%d floats per row), "
          "fill batch %s new keys; ~%.0f MB of checkpoint per save; %d settled round(s)%s per "
          "mode, settle %.0fs; work dir %s on %s (%s, %.0f GB free); MemAvailable %.1f GB "
          "(need ~%.1f GB); load average %s"
          % ("{:,}".format(args.rows), args.dim, width, "{:,}".format(args.batch),
             est_bytes / MB, args.repeats, " + 1 backed" if args.backed_pass else "",
             args.settle, work, src, fstype, disk_free / 1e9, avail / 2**30, need / 2**30,
             load0))
    if avail < need:
        print("not enough free memory (MemAvailable %.1f GB, need ~%.1f GB): use a smaller --rows"
              % (avail / 2**30, need / 2**30))
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(1)
    if disk_free < 2 * est_bytes + (1 << 30):
        print("not enough free disk in %s" % work)
        shutil.rmtree(work, ignore_errors=True)
        sys.exit(1)

    t_all = time.time()
    results = {}
    try:
        for m in modes:
            ckpt_dir = os.path.join(work, m)
            res, wall = _spawn(args, m, ckpt_dir)
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            if res is not None:
                res["wall"] = wall
                results[m] = res
                _print_mode(args, res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(SYNC_NOTE)
    print("total wall time %.0fs; load average before %s, after %s; %s deleted"
          % (time.time() - t_all, load0, loadavg(), work))
    print()
    _markdown(args, results, date)


def _rep_figures(rep):
    """MB/s, rows-independent ratios of one round."""
    d, b = rep["dd"], rep["bytes"]
    f = {
        "save_mbps": _mbps(b, rep["save"]["s"]),
        "restore_mbps": _mbps(b, rep["restore"]["s"]),
        "ddw_mbps": _mbps(d["bytes"], d["write"]["s"]),
        "ddwd_mbps": _mbps(d["bytes"], d["write_direct"]["s"]) if d["write_direct"] else None,
        "ddr_mbps": _mbps(d["bytes"], d["read_direct"]["s"]) if d["read_direct"] else None,
        "ddb_mbps": _mbps(d["bytes"], d["read_buffered"]["s"]),
    }
    f["save_ratio"] = f["save_mbps"] / f["ddw_mbps"]
    f["save_ratio_direct"] = f["save_mbps"] / f["ddwd_mbps"] if f["ddwd_mbps"] else None
    f["restore_ratio"] = f["restore_mbps"] / f["ddr_mbps"] if f["ddr_mbps"] else None
    f["restore_ratio_b"] = f["restore_mbps"] / f["ddb_mbps"]
    return f


def _print_mode(args, r):
    n = args.rows
    fill = r["fill"]
    print("  %-4s [mx_rec from %s] tiers %s" % (r["mode"], r["mx_rec_from"], r["tiers"]))
    print("       fill: %d steps, %.1fs, %.0f rows/s (%.0f per CPU-s), step %.2fs first / %.2fs "
          "last; %d device + %d host keys"
          % (r["fill_steps"], fill["s"], n / fill["s"], n / fill["cpu"],
             r["fill_step_s_first_last"][0], r["fill_step_s_first_last"][1], r["device_keys"],
             r["host_keys"]))
    rep0 = r["reps"][0]
    print("       checkpoint: %s bytes (table files %s: %s)"
          % ("{:,}".format(rep0["bytes"]), "{:,}".format(rep0["table_bytes"]),
             ", ".join("%s %.0f MB" % (k, v / MB) for k, v in sorted(rep0["files"].items())
                       if v >= MB)))
    for i, rep in enumerate(r["reps"]):
        f, d, s, rs = _rep_figures(rep), rep["dd"], rep["save"], rep["restore"]
        rd = d["read_direct"]
        print("       round %d (%s): dd write %.2fs %.0f MB/s (%.2f CPU-s, sys %.2f), oflag=direct "
              "%s | save %.2fs "
              "%.0f MB/s (%.2f CPU-s: user %.2f, sys %.2f) = %.2fx dd || dd read direct %s, "
              "buffered %.2fs %.0f MB/s (%.2f CPU-s) | restore %.2fs %.0f MB/s (%.2f CPU-s: user "
              "%.2f, sys %.2f) = %s direct, %.2fx buffered, %s"
              % (i, rep["kind"], d["write"]["s"], f["ddw_mbps"], d["write"]["cpu"],
                 d["write"]["sys"], "%.2fs %.0f MB/s" % (d["write_direct"]["s"], f["ddwd_mbps"])
                 if d["write_direct"] else "n/a", s["s"], f["save_mbps"], s["cpu"], s["user"],
                 s["sys"],
                 f["save_ratio"],
                 "%.2fs %.0f MB/s (%.2f CPU-s)" % (rd["s"], f["ddr_mbps"], rd["cpu"]) if rd
                 else "n/a (%s)" % d.get("direct_error"),
                 d["read_buffered"]["s"], f["ddb_mbps"], d["read_buffered"]["cpu"], rs["s"],
                 f["restore_mbps"], rs["cpu"], rs["user"], rs["sys"],
                 "%.2fx" % f["restore_ratio"] if f["restore_ratio"] else "n/a",
                 f["restore_ratio_b"], "checked" if rs["ok"] else "MISMATCH"))
        print("                page cache (bytes of the checkpoint resident): %s after the save, "
              "%s after eviction, %s after the restore; dd's file %s before its buffered read"
              % (rep["resident_after_save"], rep["resident_after_evict"],
                 rep["resident_after_restore"], d["resident_before_read"]))
    i = r["init"]
    print("       variable initializers alone (fresh process, settled): %.2fs (%.2f CPU-s)"
          % (i["s"], i["cpu"]))
    if "restore_warm" in r:
        w = r["restore_warm"]
        print("       restore with the files in the page cache (fresh process, right after): "
              "%.2fs (%.2f CPU-s: user %.2f, sys %.2f), %.0f MB/s, %.0f rows/s, %s"
              % (w["s"], w["cpu"], w["user"], w["sys"], _mbps(rep0["bytes"], w["s"]), n / w["s"],
                 "checked" if w["ok"] else "MISMATCH"))
    if "delta" in r:
        dl = r["delta"]
        print("       delta (incremental checkpoints): full save %.2fs (%.2f CPU-s), %s bytes, "
              "%s rows; %d train step(s) touching %s existing keys (%.2f%%) %.2fs; delta save "
              "%.2fs (%.2f CPU-s), %s bytes, kind %s, %s rows, %d tombstones = %.3fx the full "
              "save's time, %.4fx its bytes; %s"
              % (dl["full"]["s"], dl["full"]["cpu"], "{:,}".format(dl["full_bytes"]),
                 "{:,}".format(dl["full_rows"]), dl["train_steps"], "{:,}".format(dl["touched"]),
                 100.0 * dl["touched"] / n, dl["train"]["s"], dl["delta"]["s"],
                 dl["delta"]["cpu"], "{:,}".format(dl["delta_bytes"]), dl["delta_kind"],
                 "{:,}".format(dl["delta_rows"]), dl["delta_tombstones"],
                 dl["delta"]["s"] / dl["full"]["s"], dl["delta_bytes"] / dl["full_bytes"],
                 "checked (full, then a delta of exactly the touched rows)" if dl["ok"]
                 else "**MISMATCH** (expected a full save of every row, then a delta of "
                 "the touched rows)"))
    print("       peak RSS: filling + saving process %.2f GB, restoring process %.2f GB; worker "
          "wall %.0fs" % (r["rss_peak"] / 2**30, rep0["restore"]["rss_peak"] / 2**30, r["wall"]))


def _summary(r, kind):
    reps = [rep for rep in r["reps"] if rep["kind"] == kind]
    if not reps:
        return None
    figs = [_rep_figures(rep) for rep in reps]
    out = {k: _median([f[k] for f in figs]) for k in figs[0]}
    for phase in ("save", "restore"):
        out[phase + "_s"] = _median([rep[phase]["s"] for rep in reps])
        out[phase + "_cpu"] = _median([rep[phase]["cpu"] for rep in reps])
    out["ddw_cpu"] = _median([rep["dd"]["write"]["cpu"] for rep in reps])
    out["ddr_cpu"] = _median([rep["dd"]["read_direct"]["cpu"] for rep in reps
                              if rep["dd"]["read_direct"]])
    out["ddb_cpu"] = _median([rep["dd"]["read_buffered"]["cpu"] for rep in reps])
    out["bytes"] = reps[0]["bytes"]
    out["n"] = len(reps)
    return out


def _markdown(args, results, date):
    cmd = " ".join(["python bench/checkpoint_bench.py"] + sys.argv[1:])
    n = args.rows
    print("Sparse checkpoint save/restore (one table, %s rows x dim %d + lazy Adam m, v = %d "
          "float32 per row; `Saver.save`, then `Saver.restore` in a fresh process from disk "
          "after posix_fadvise eviction) vs dd on the same filesystem, one run of `%s`, %s. "
          "MB = 10^6 bytes. Settled rounds (freed memory returned to the host before each timed "
          "phase), median of %d; ratios are the medians of each round's own ratio."
          % ("{:,}".format(n), args.dim, 3 * args.dim, cmd, date, args.repeats))
    print()
    print("| mode | rows | bytes on disk | save s | save MB/s | save rows/s | save CPU-s | "
          "restore s | restore MB/s | restore rows/s | restore CPU-s | dd write MB/s (CPU-s) | "
          "dd read direct MB/s (CPU-s) | dd read buffered MB/s (CPU-s) | **save / dd write** | "
          "restore / dd read direct | restore / dd read buffered | dd write oflag=direct MB/s | "
          "save / dd write oflag=direct |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
          "---:|---:|")

    def fmt(v, spec):
        return spec % v if v is not None and v == v else "n/a"

    def row(label, m):
        print("| %s | %s | %s | %.2f | %.0f | %.2fM | %.2f | %.2f | %.0f | %.2fM | %.2f | "
              "%.0f (%.2f) | %s (%.2f) | %.0f (%.2f) | **%.2fx** | %s | %.2fx | %s | %s |"
              % (label, "{:,}".format(n), "{:,}".format(m["bytes"]), m["save_s"],
                 m["save_mbps"], n / m["save_s"] / 1e6, m["save_cpu"], m["restore_s"],
                 m["restore_mbps"], n / m["restore_s"] / 1e6, m["restore_cpu"], m["ddw_mbps"],
                 m["ddw_cpu"], fmt(m["ddr_mbps"], "%.0f"), m["ddr_cpu"], m["ddb_mbps"],
                 m["ddb_cpu"], m["save_ratio"], fmt(m["restore_ratio"], "%.2fx"),
                 m["restore_ratio_b"], fmt(m["ddwd_mbps"], "%.0f"),
                 fmt(m["save_ratio_direct"], "%.2fx")))
    for m in ALL_MODES:
        if m in results and _summary(results[m], "settled"):
            row(LABELS[m], _summary(results[m], "settled"))
    for m in ALL_MODES:
        if m in results and _summary(results[m], "backed"):
            row(LABELS[m] + ", backed pages (no settling, 1 round)",
                _summary(results[m], "backed"))
    print()
    print("| mode | fill s | fill rows/s | fill CPU-s | variable init alone s (CPU-s) | "
          "restore, files in page cache: s | MB/s | CPU-s | save rows per CPU-s | "
          "restore rows per CPU-s | peak RSS saving / restoring process |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in ALL_MODES:
        r = results.get(m)
        if r is None:
            continue
        s = _summary(r, "settled")
        w = r.get("restore_warm")
        print("| %s | %.1f | %.2fM | %.1f | %.2f (%.2f) | %s | %s | %s | %.2fM | %.2fM | "
              "%.2f / %.2f GB |"
              % (LABELS[m], r["fill"]["s"], n / r["fill"]["s"] / 1e6, r["fill"]["cpu"],
                 r["init"]["s"], r["init"]["cpu"], "%.2f" % w["s"] if w else "",
                 "%.0f" % _mbps(s["bytes"], w["s"]) if w else "",
                 "%.2f" % w["cpu"] if w else "", n / s["save_cpu"] / 1e6,
                 n / s["restore_cpu"] / 1e6, r["rss_peak"] / 2**30,
                 r["reps"][0]["restore"]["rss_peak"] / 2**30))
    deltas = [(m, results[m]["delta"]) for m in ALL_MODES
              if m in results and "delta" in results[m]]
    if deltas:
        print()
        print("Delta checkpoints (`init(is_incremental_checkpoint=True)`, no full one due): in "
              "the filled session, a full `Saver.save`, train steps touching %.2f%% of the keys "
              "(existing ones), then a `Saver.save` into the same directory; both settled."
              % (100.0 * args.delta_frac))
        print()
        print("| mode | full save s (CPU-s) | full bytes | touched keys | delta save s (CPU-s) | "
              "delta bytes | delta manifest: kind, rows, tombstones | **delta / full save "
              "time** | delta / full bytes |")
        print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
        for m, dl in deltas:
            print("| %s | %.2f (%.2f) | %s | %s | %.3f (%.3f) | %s | %s, %s, %d%s | **%.3fx** | "
                  "%.4fx |"
                  % (LABELS[m], dl["full"]["s"], dl["full"]["cpu"],
                     "{:,}".format(dl["full_bytes"]), "{:,}".format(dl["touched"]),
                     dl["delta"]["s"], dl["delta"]["cpu"], "{:,}".format(dl["delta_bytes"]),
                     dl["delta_kind"], "{:,}".format(dl["delta_rows"]), dl["delta_tombstones"],
                     "" if dl["ok"] else " **MISMATCH**", dl["delta"]["s"] / dl["full"]["s"],
                     dl["delta_bytes"] / dl["full_bytes"]))
    print()
    print(SYNC_NOTE)
    print()
    print("| target | want | got | |")
    print("|---|---:|---:|---|")
    for kind in ("settled", "backed"):
        for m in ALL_MODES:
            r = results.get(m)
            s = _summary(r, kind) if r else None
            if s is None:
                continue
            print("| %s full save vs dd write (conv=fsync), %s | >= 0.50x | %.2fx | %s |"
                  % (LABELS[m], kind, s["save_ratio"],
                     "met" if s["save_ratio"] >= 0.5 else "**MISSED**"))
    for m, dl in deltas:
        ratio = dl["delta"]["s"] / dl["full"]["s"]
        print("| %s delta of %.2f%% of the rows vs a full save (time) | <= 0.05x | %.3fx | %s |"
              % (LABELS[m], 100.0 * args.delta_frac, ratio,
                 "met" if ratio <= 0.05 and dl["ok"] else "**MISSED**"))
    print("| asynchronous saves | | not implemented: every save is synchronous | n/a |")


if __name__ == "__main__":
    main()
