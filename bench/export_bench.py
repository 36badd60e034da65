#!/usr/bin/env python3
"""Export for serving: size, time and memory of an mx_rec export of one big table, and its serving.

One command produces every number; each step runs in its own subprocess (its
own peak RSS, a fresh TensorFlow):

  train   an mx_rec table (HBM) of --rows int64 keys, dim --dim, under a small
          dense head (row -> 32 relu -> 1 sigmoid: "prob"), filled by train
          steps of --batch new distinct keys (hash SGD for the rows, SGD for
          the head) and saved with tf.compat.v1.train.Saver. It records the
          training graph's eval rows and predictions for a probe of hit and
          miss keys.
  export  mx_rec.export.export_saved_model of that checkpoint, float32, then
          fp16 (a process each).
  dense   peer: a dense [rows, dim] resource variable (random rows) in a plain
          SavedModel (simple_save; signature: tf.gather).
  tfra    peer (unless --no-tfra): a TFRA dynamic_embedding variable holding
          --rows keys (upserted --batch at a time), simple_save'd.
  dd      `dd if=/dev/zero conv=fsync` of each SavedModel's byte count, in the
          parent, right after it was written: the disk-bound floor.
  serve   each SavedModel loaded in a fresh process in which mx_rec cannot be
          imported (TFRA's: first without TFRA imported, then with it):
          tf.saved_model.load and one prediction of the probe (time to first
          prediction), peak RSS during the load, then lookup throughput through
          the signature's "emb" output alone (the loaded function pruned to
          it): --lookup-batches batches of --lookup-batch ids, all hits, then
          all misses (keys the table does not hold).

Writers report wall and CPU seconds (getrusage) of the write and its peak RSS
(VmHWM reset just before it, so it is the write's own). Checks: the float32
export serves exactly the training graph's eval rows and predictions (misses
read the default row); the fp16 export's differences from it are reported.

Each timed phase waits --settle seconds first: this VM hands memory freed by
the guest back to the host within seconds, and first touching such a page
costs a host fault (BENCHMARKS.md section 7), so each phase starts from the
same state. GB = 2^30 bytes.

Usage:  nice python bench/export_bench.py                    # 10M rows x dim 16, ~3-4 min
        python bench/export_bench.py --rows 200000 --settle 0   # smoke run, ~25 s
"""

import argparse
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
                        keys_at, lib_sums, loadavg, mem_available, reset_rss_peak, rss, rss_peak,
                        spawn_worker)

GIB = float(1 << 30)
TABLE = "big"
WRITERS = {"mx_rec": "mx_rec export, float32", "mx_rec_fp16": "mx_rec export, fp16",
           "dense": "dense TF variable, simple_save", "tfra": "TFRA 0.7.2, simple_save"}


# --------------------------------------------------------------------------
# workers (one job per process)
# --------------------------------------------------------------------------
def _import_tf(graph_mode=True):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.get_logger().setLevel("ERROR")
    if graph_mode:
        tf.compat.v1.disable_eager_execution()
    return tf


def _session(tf, args):
    return tf.compat.v1.Session(config=tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.threads, inter_op_parallelism_threads=args.threads))


def _new_table(tf, args):
    from mx_rec.core.embedding import create_table  # pylint: disable=import-outside-toplevel
    return create_table(tf.int64, args.dim, TABLE,
                        tf.compat.v1.random_uniform_initializer(-0.05, 0.05, seed=1),
                        device_vocabulary_size=args.rows)


def _mx_rec_model(tf, table, ids, is_train):
    """The served model: ids [batch] -> {"emb": [batch, dim], "prob": [batch, 1]}."""
    from mx_rec.core.embedding import sparse_lookup  # pylint: disable=import-outside-toplevel
    emb = sparse_lookup(table, ids, is_train=is_train)
    with tf.compat.v1.variable_scope("head", reuse=tf.compat.v1.AUTO_REUSE):
        hidden = tf.compat.v1.layers.dense(emb, 32, tf.nn.relu, name="hidden")
        return {"emb": emb, "prob": tf.sigmoid(tf.compat.v1.layers.dense(hidden, 1, name="out"))}


def _timed_write(args, write):
    """Settles, then runs write() with its wall/CPU time and its own peak RSS."""
    time.sleep(args.settle)
    before = rss()
    reset_rss_peak()
    with Phase() as p:
        path = write()
    return {"write": p.as_dict(), "rss_before": before, "rss_peak": rss_peak(), "path": path}


def _simple_save(tf, sess, args, ids, emb):
    """A peer's timed write: simple_save of `sess` with the signature ids -> emb."""
    def save():
        tf.compat.v1.saved_model.simple_save(sess, args.out, {"ids": ids}, {"emb": emb})
        return args.out
    return _timed_write(args, save)


def run_train(args):
    """Fills the mx_rec table, saves a checkpoint, records the probe's eval outputs."""
    tf = _import_tf()
    sys.path.insert(0, REPO)
    # pylint: disable=import-outside-toplevel
    from mx_rec.optimizers import gradient_descent, minimize
    from mx_rec.util.initialize import init
    init(use_dynamic=True)
    table = _new_table(tf, args)
    ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
    prob = _mx_rec_model(tf, table, ids, True)["prob"]
    label = tf.cast(tf.reshape(ids % 2, [-1, 1]), tf.float32)  # any fixed rule will do
    train = minimize(tf.compat.v1.losses.log_loss(label, prob),
                     tf.compat.v1.train.GradientDescentOptimizer(0.1),
                     gradient_descent.create_hash_optimizer(0.1))
    served = _mx_rec_model(tf, table, ids, False)
    saver = tf.compat.v1.train.Saver()
    with _session(tf, args) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        with Phase() as fill:
            for start in range(0, args.rows, args.batch):
                sess.run(train, {ids: distinct_keys(start, min(args.batch, args.rows - start))})
        assert table.stats(sess)["device_keys"] == args.rows
        np.savez(os.path.join(args.work, "expected.npz"),
                 **sess.run(served, {ids: np.load(args.ids)["probe"]}))
        with Phase() as save:
            prefix = saver.save(sess, os.path.join(args.work, "ckpt", "model.ckpt"))
    return {"fill": fill.as_dict(), "save": save.as_dict(), "prefix": prefix,
            "bytes": sum(os.path.getsize(f) for f in files_under(os.path.dirname(prefix))),
            "rss_peak": rss_peak()}


def run_export(args, fp16):
    """mx_rec.export.export_saved_model of the train step's checkpoint."""
    tf = _import_tf()
    sys.path.insert(0, REPO)
    import mx_rec.export  # pylint: disable=import-outside-toplevel
    from mx_rec.util.initialize import init  # pylint: disable=import-outside-toplevel
    init(use_dynamic=True)
    features = {"ids": tf.TensorSpec([], tf.int64)}
    res = _timed_write(args, lambda: mx_rec.export.export_saved_model(
        args.out, lambda f: _mx_rec_model(tf, _new_table(tf, args), f["ids"], False), features,
        checkpoint_path=args.ckpt, fp16=fp16))
    res["mx_rec_from"] = os.path.dirname(os.path.dirname(os.path.abspath(mx_rec.__file__)))
    return res


def run_dense(args):
    """Peer: a [rows, dim] variable in a plain SavedModel."""
    tf = _import_tf()
    rows = tf.compat.v1.get_variable(
        "rows", [args.rows, args.dim], use_resource=True,
        initializer=tf.compat.v1.random_uniform_initializer(-0.05, 0.05))
    ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
    emb = tf.gather(rows, ids)
    with _session(tf, args) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return _simple_save(tf, sess, args, ids, emb)


def run_tfra(args):
    """Peer: a TFRA dynamic_embedding variable of --rows keys in a plain SavedModel."""
    tf = _import_tf()
    # pylint: disable=import-outside-toplevel
    from tensorflow_recommenders_addons import dynamic_embedding as de
    var = de.get_variable("tfra", key_dtype=tf.int64, value_dtype=tf.float32, dim=args.dim,
                          initializer=0.0)
    keys = tf.compat.v1.placeholder(tf.int64, [None], name="keys")
    upsert = var.upsert(keys, tf.random.uniform([tf.size(keys), args.dim], -0.05, 0.05))
    ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
    emb = de.embedding_lookup(var, ids)
    with _session(tf, args) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for start in range(0, args.rows, args.batch):
            sess.run(upsert, {keys: distinct_keys(start, min(args.batch, args.rows - start))})
        assert sess.run(var.size()) == args.rows
        return _simple_save(tf, sess, args, ids, emb)


def run_serve(args):
    """Loads a SavedModel with mx_rec unimportable; load, first prediction, lookups."""
    sys.modules["mx_rec"] = None  # the export must serve without mx_rec
    with Phase() as imported:
        tf = _import_tf(graph_mode=False)
        if args.import_tfra:
            # pylint: disable=import-outside-toplevel,unused-import
            import tensorflow_recommenders_addons  # noqa: F401
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    ids = np.load(args.ids)
    batches = {kind: [tf.constant(b) for b in np.split(ids[kind], args.lookup_batches)]
               for kind in ("hits", "misses") if kind in ids}
    probe = tf.constant(ids["probe"])
    time.sleep(args.settle)
    res = {"import": imported.as_dict(), "rss_before": rss()}
    reset_rss_peak()
    try:
        with Phase() as load:
            model = tf.saved_model.load(args.path)
    except Exception as e:  # pylint: disable=broad-except
        return dict(res, loads=False,
                    load_error="%s: %s" % (type(e).__name__, str(e).splitlines()[0]))
    res.update(loads=True, load=load.as_dict(), load_rss_peak=rss_peak(), rss_after_load=rss())
    signature = model.signatures["serving_default"]
    with Phase() as first:
        served = {k: v.numpy() for k, v in signature(ids=probe).items()}
    np.savez(args.out, **served)
    res["first"] = first.as_dict()
    lookup = model.prune(signature.inputs[0].name, signature.structured_outputs["emb"].name)
    for kind, tensors in batches.items():
        for b in tensors[:3]:
            lookup(b)  # warm-up
        with Phase() as p:
            for b in tensors:
                lookup(b)
        res[kind] = p.as_dict()
    return res


def worker_main(args):
    jobs = {"train": run_train, "export": lambda a: run_export(a, False),
            "export_fp16": lambda a: run_export(a, True), "dense": run_dense, "tfra": run_tfra,
            "serve": run_serve}
    try:
        res = jobs[args.worker](args)
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
        res = {"error": "%s: %s" % (type(e).__name__, e)}
    emit_result(res)


# --------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------
def _spawn(args, worker, **flags):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker, "--rows",
           str(args.rows), "--dim", str(args.dim), "--batch", str(args.batch), "--threads",
           str(args.threads), "--settle", str(args.settle), "--lookup-batches",
           str(args.lookup_batches), "--lookup-batch", str(args.lookup_batch), "--work", args.work]
    for name, value in flags.items():
        cmd += ["--" + name.replace("_", "-")] + ([] if value is True else [str(value)])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    res, wall = spawn_worker(cmd, worker, env=env, tail=20)
    if res is None:
        raise SystemExit("the %s worker failed" % worker)
    res["wall"] = wall
    return res


def write_ids(args):
    """The ids every serving process looks up: batches of hits and misses, and the
    probe (hits + misses) whose outputs are compared; keys for the tables, row
    indices for the dense peer."""
    rng = np.random.default_rng(0)
    n = args.lookup_batches * args.lookup_batch
    hits = rng.integers(0, args.rows, n)
    misses = distinct_keys(args.rows, n)  # ranks past the table's: keys it does not hold
    probe = hits[:args.lookup_batch]
    keys = os.path.join(args.work, "keys.npz")
    np.savez(keys, hits=keys_at(hits), misses=misses,
             probe=np.concatenate([keys_at(probe), misses[:args.lookup_batch // 4]]))
    index = os.path.join(args.work, "index.npz")
    np.savez(index, hits=hits, probe=probe)
    return keys, index


def sizes(path):
    """Bytes of a SavedModel: total, assets/ (and the table's keys and rows files), variables/."""
    def under(sub):
        return sum(os.path.getsize(f) for f in files_under(os.path.join(path, sub)))
    out = {"total": under(""), "assets": under("assets"), "variables": under("variables")}
    for part in ("keys", "rows"):
        f = os.path.join(path, "assets", "%s.%s" % (TABLE, part))
        out[part] = os.path.getsize(f) if os.path.exists(f) else 0
    return out


def dd_write(args, nbytes):
    """Settled `dd if=/dev/zero bs=1M conv=fsync` of nbytes into the work directory."""
    f = os.path.join(args.work, "dd.bin")
    time.sleep(args.settle)
    with Phase(resource.RUSAGE_CHILDREN) as p:
        subprocess.run(["dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=%d" % nbytes,
                        "iflag=count_bytes", "conv=fsync"], check=True, capture_output=True)
    os.unlink(f)
    return p.as_dict()


def write_all(args, ckpt):
    """Every writer, its SavedModel's sizes and a dd of the same bytes."""
    out = {}
    for system in WRITERS:
        if system == "tfra" and not args.tfra:
            continue
        flags = {"out": os.path.join(args.work, system)}
        if system.startswith("mx_rec"):
            flags["ckpt"] = ckpt
        res = _spawn(args, system.replace("mx_rec", "export"), **flags)
        res["sizes"] = sizes(res["path"])
        res["dd"] = dd_write(args, res["sizes"]["total"])
        out[system] = res
        print_write(args, system, res)
    return out


def serve_all(args, written, keys, index):
    """Every SavedModel served; TFRA's without, then with TFRA imported."""
    out = {}
    for system, w in written.items():
        for with_tfra in ([False, True] if system == "tfra" else [False]):
            label = system + ("+import" if with_tfra else "")
            flags = {"path": w["path"], "ids": index if system == "dense" else keys,
                     "out": os.path.join(args.work, "served_%s.npz" % label)}
            if with_tfra:
                flags["import_tfra"] = True
            res = _spawn(args, "serve", **flags)
            out[label] = res
            print_serve(args, label, res)
    return out


def diffs(a, b):
    """Max and mean abs difference of the served "emb" and "prob" of two npz files."""
    a, b = np.load(a), np.load(b)
    out = {}
    for k in ("emb", "prob"):
        d = np.abs(a[k].astype(np.float64) - b[k])
        out[k] = (float(d.max()), float(d.mean()))
    return out


def _growth(r, peak="rss_peak"):
    return r[peak] - r["rss_before"]


def _keys_per(args, phase, clock):
    return args.lookup_batches * args.lookup_batch / phase[clock]


def print_write(args, system, r):
    s, w = r["sizes"], r["write"]
    print("  %-12s %s bytes (assets %s: keys %s, rows %s; variables %s) = %.1f B/row | write "
          "%.2fs (%.2f CPU-s: user %.2f, sys %.2f), peak RSS %.2f GB (%.2f before) | dd %.2fs "
          "(%.2f CPU-s) | worker %.0fs%s"
          % (system, f"{s['total']:,}", f"{s['assets']:,}", f"{s['keys']:,}", f"{s['rows']:,}",
             f"{s['variables']:,}", s["total"] / args.rows, w["s"], w["cpu"], w["user"],
             w["sys"], r["rss_peak"] / GIB, r["rss_before"] / GIB, r["dd"]["s"],
             r["dd"]["cpu"], r["wall"],
             " | mx_rec from " + r["mx_rec_from"] if "mx_rec_from" in r else ""))


def print_serve(args, label, r):
    if not r["loads"]:
        print("  serve %-12s does not load: %s" % (label, r["load_error"][:200]))
        return
    print("  serve %-12s import %.2fs | load %.2fs (%.2f CPU-s) + first prediction %.3fs | RSS "
          "%.2f GB before, %.2f GB load peak, %.2f GB after load | lookups: %s | worker %.0fs"
          % (label, r["import"]["s"], r["load"]["s"], r["load"]["cpu"], r["first"]["s"],
             r["rss_before"] / GIB, r["load_rss_peak"] / GIB, r["rss_after_load"] / GIB,
             ", ".join("%s %.2fM keys/s (%.2fM per CPU-s)"
                       % (k, _keys_per(args, r[k], "s") / 1e6, _keys_per(args, r[k], "cpu") / 1e6)
                       for k in ("hits", "misses") if k in r), r["wall"]))


def write_table(args, written):
    ours = written["mx_rec"]["sizes"]["total"]
    print("| system | SavedModel bytes | assets: keys + rows | variables/ | bytes per row | "
          "vs mx_rec float32 | write s | write CPU-s (sys) | peak RSS during the write (growth) |"
          " dd conv=fsync of the same bytes: s (CPU-s) | write / dd |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for system, r in written.items():
        s, w = r["sizes"], r["write"]
        print("| %s | %s | %s + %s | %s | %.1f | %.2fx | %.2f | %.2f (%.2f) | %.2f GB (+%.2f) | "
              "%.2f (%.2f) | %.1fx |"
              % (WRITERS[system], f"{s['total']:,}", f"{s['keys']:,}", f"{s['rows']:,}",
                 f"{s['variables']:,}", s["total"] / args.rows, s["total"] / ours, w["s"],
                 w["cpu"], w["sys"], r["rss_peak"] / GIB, _growth(r) / GIB, r["dd"]["s"],
                 r["dd"]["cpu"], w["s"] / r["dd"]["s"]))


def serve_table(args, written, served):
    print("| SavedModel served (mx_rec not importable) | loads | load s | first prediction s | "
          "**time to first prediction s** | load peak RSS growth (x SavedModel bytes) | RSS "
          "growth after load | hit keys/s | hit keys per CPU-s | miss keys/s | miss keys per "
          "CPU-s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, r in served.items():
        system, imported = label.split("+")[0], "+" in label
        name = WRITERS[system] + (", TFRA imported" if imported else "")
        if not r["loads"]:
            print("| %s | **no**: `%s` | | | | | | | | | |" % (name, r["load_error"][:90]))
            continue
        rates = ["%.2fM" % (_keys_per(args, r[k], clock) / 1e6) if k in r else ""
                 for k in ("hits", "misses") for clock in ("s", "cpu")]
        print("| %s | yes | %.2f | %.3f | **%.2f** | %.2f GB (%.2fx) | %.2f GB | %s |"
              % (name, r["load"]["s"], r["first"]["s"], r["load"]["s"] + r["first"]["s"],
                 _growth(r, "load_rss_peak") / GIB,
                 _growth(r, "load_rss_peak") / written[system]["sizes"]["total"],
                 (r["rss_after_load"] - r["rss_before"]) / GIB, " | ".join(rates)))


def _figures(args, write=None, serve=None):
    """The figures the ratio table compares, of one system."""
    out = {}
    if write:
        out.update({"SavedModel bytes": write["sizes"]["total"], "write s": write["write"]["s"],
                    "write CPU-s": write["write"]["cpu"],
                    "peak RSS during the write": write["rss_peak"]})
    if serve and serve["loads"]:
        out.update({"time to first prediction": serve["load"]["s"] + serve["first"]["s"],
                    "load peak RSS growth": _growth(serve, "load_rss_peak")})
        for kind, name in (("hits", "hit keys per CPU-s"), ("misses", "miss keys per CPU-s")):
            if kind in serve:
                out[name] = _keys_per(args, serve[kind], "cpu")
    return out


def ratio_table(args, written, served):
    """mx_rec float32 / each peer, figure by figure; and fp16 / float32."""
    ours = _figures(args, written["mx_rec"], served["mx_rec"])
    dd = written["mx_rec"]["dd"]
    peers = [("dense variable", _figures(args, written["dense"], served["dense"]))]
    if "tfra" in written:
        peers.append(("TFRA (imported to load)",
                      _figures(args, written["tfra"], served["tfra+import"])))
    peers.append(("dd conv=fsync, same bytes", {"write s": dd["s"], "write CPU-s": dd["cpu"]}))
    fp16 = _figures(args, written["mx_rec_fp16"], served["mx_rec_fp16"])
    print("| mx_rec float32 export / peer | %s | mx_rec fp16 / float32 |"
          % " | ".join(name for name, _ in peers))
    print("|---|" + "---:|" * (len(peers) + 1))
    for k, v in ours.items():
        cells = ["%.2fx" % (v / f[k]) if f.get(k) else "" for _, f in peers]
        cells.append("%.2fx" % (fp16[k] / v) if v else "")
        print("| %s | %s |" % (k, " | ".join(cells)))


def markdown(args, train, written, served, fp16, cmd, date):
    """The tables for BENCHMARKS.md."""
    print("One run of `%s`, %s: %s rows x dim %d (checkpoint %s bytes, filled in %.1fs, saved "
          "in %.2fs); GB = 2^30 B."
          % (cmd, date, f"{args.rows:,}", args.dim, f"{train['bytes']:,}", train["fill"]["s"],
             train["save"]["s"]))
    print()
    write_table(args, written)
    print()
    serve_table(args, written, served)
    print()
    ratio_table(args, written, served)
    print()
    exact, half = fp16
    print("float32 export vs the training graph's eval outputs (%d hits + %d misses): rows max "
          "abs diff %.3g, prob %.3g. fp16 export vs float32: rows max %.3g, mean %.3g; prob "
          "max %.3g, mean %.3g (rows are U(-0.05, 0.05))."
          % (args.lookup_batch, args.lookup_batch // 4, exact["emb"][0], exact["prob"][0],
             half["emb"][0], half["emb"][1], half["prob"][0], half["prob"][1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="keys in the table")
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--batch", type=int, default=None,
                    help="new keys per fill step (default min(500,000, --rows))")
    ap.add_argument("--threads", type=int, default=1, help="TF intra/inter-op threads")
    ap.add_argument("--lookup-batch", type=int, default=4096, help="ids per served lookup")
    ap.add_argument("--lookup-batches", type=int, default=300,
                    help="timed lookups per kind (hits, misses)")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="seconds to wait before each timed phase (see the docstring)")
    ap.add_argument("--dir", default=None, help="parent of the work directory (default TMPDIR)")
    ap.add_argument("--no-tfra", dest="tfra", action="store_false", help="skip the TFRA peer")
    for hidden in ("--worker", "--work", "--out", "--ckpt", "--path", "--ids"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    ap.add_argument("--import-tfra", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.batch = args.batch or min(500_000, args.rows)
    if args.worker:
        worker_main(args)
        return
    row_bytes = args.rows * (8 + 4 * args.dim)
    need = 8 * row_bytes + (2 << 30)  # the biggest worker (serving) with room to spare
    args.work = tempfile.mkdtemp(prefix="export_bench_", dir=args.dir)
    src, fstype, free = fs_of(args.work)
    date = subprocess.run(["date"], capture_output=True, text=True, check=False).stdout.strip()
    print("# mx_rec tree %s, git %s; %s; %s" % (REPO, git_rev(REPO), lib_sums(REPO), date))
    print("# export_bench: %s rows x dim %d; work dir %s on %s (%s, %.0f GB free); MemAvailable "
          "%.1f GB (need ~%.1f GB); settle %.0fs; load average %s"
          % (f"{args.rows:,}", args.dim, args.work, src, fstype, free / 1e9,
             mem_available() / GIB, need / GIB, args.settle, loadavg()))
    if mem_available() < need or free < 8 * row_bytes:
        os.rmdir(args.work)
        raise SystemExit("not enough free memory or disk: use a smaller --rows")
    t0 = time.time()
    try:
        keys, index = write_ids(args)
        train = _spawn(args, "train", ids=keys)
        print("  train: filled in %.1fs (%.2f CPU-s), checkpoint %s bytes saved in %.2fs, peak "
              "RSS %.2f GB" % (train["fill"]["s"], train["fill"]["cpu"], f"{train['bytes']:,}",
                               train["save"]["s"], train["rss_peak"] / GIB))
        written = write_all(args, train["prefix"])
        served = serve_all(args, written, keys, index)
        expected = os.path.join(args.work, "expected.npz")
        fp16 = (diffs(os.path.join(args.work, "served_mx_rec.npz"), expected),
                diffs(os.path.join(args.work, "served_mx_rec_fp16.npz"),
                      os.path.join(args.work, "served_mx_rec.npz")))
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print("total %.0fs; load average %s; %s deleted" % (time.time() - t0, loadavg(), args.work))
    print()
    markdown(args, train, written, served, fp16,
             " ".join(["python bench/export_bench.py"] + sys.argv[1:]), date)


if __name__ == "__main__":
    main()
