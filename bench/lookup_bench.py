#!/usr/bin/env python3
"""Unique-key find-or-insert throughput and memory: mx_rec (libasc) vs peers.

One command produces every number. The parent process draws one Zipf-distributed
key stream, deduplicates each batch with numpy (first-occurrence order) and
writes it to a temporary directory; then every system runs in its own fresh
subprocess (so resident-memory growth is attributable to one table) and sees
exactly the same sequence of unique-key batches, fed through the same int64
placeholder of a tf.compat.v1 Session.

Systems (what one timed step does for a batch of unique keys):
  mx_rec          a training lookup through mx_rec's TF ops, one session.run:
                  AscLookup (key -> slot, inserting new keys) + AscFill of the
                  new keys' rows only (zeros) + AscCommitStep (without the
                  commit a step's new keys are taken back at step end); the
                  table is an mx_rec table (create_table, HBM mode, dynamic
                  expansion), state owned by the session, rows in its variable.
                  Until 45d4e14 this row measured the removed AscFindOrInsert
                  (key -> slot only, no rows written, no step).
  mx_rec+rows     the same, but AscFill gets every key's slot and returns every
                  key's row ([n, dim], reduced to one fetched scalar): the
                  whole training lookup. Until 45d4e14 this row was
                  `mx_rec+gather`: AscFindOrInsert + AscEnsureRows + tf.gather.
  tfra            TFRA 0.7.2 dynamic_embedding.CuckooHashTable (CPU):
                  lookup(keys, return_exists=True), then insert() of the missing
                  keys with their default rows
  dense           tf.lookup.experimental.DenseHashTable, value [dim] float32:
                  lookup(), then insert() of the missing keys
  mutable         tf.lookup.experimental.MutableHashTable, value [dim] float32:
                  lookup(), then insert() of the missing keys
Separately, deduplication of the raw batches: asc_ops.dedup vs
tf.unique_with_counts.

By default every system first inserts all --ids distinct ids (--prefill,
10M; the whole id space the Zipf draws from) in batch-size batches through the
same step, reported as "prefill keys/s", and then the Zipf batches are timed
against the full table (steady state: all hits, as in training once the
vocabulary is warm). --prefill 0 times the fill from an empty table instead.

Each step fetches only a scalar (the number of new keys, which is checked
against the generator's count), so output copying does not dominate.

Usage:  python bench/lookup_bench.py              # 10M prefill + 300 batches (~2 min on 2 idle cores)
        python bench/lookup_bench.py --quick      # 1M prefill + 150 batches, ~30 s
        python bench/lookup_bench.py --prefill 0  # fill from empty, 700 batches
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_SYSTEMS = ["mx_rec", "mx_rec+rows", "tfra", "dense", "mutable"]
LABELS = {
    "mx_rec": "mx_rec training lookup, new keys' rows written (slots out)",
    "mx_rec+rows": "mx_rec training lookup, every key's row out",
    "tfra": "TFRA 0.7.2 CuckooHashTable (CPU)",
    "dense": "tf DenseHashTable",
    "mutable": "tf MutableHashTable",
}
PAGE = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------
# key stream
# --------------------------------------------------------------------------
def _id_map(n):
    """Rank (0 = most frequent) -> scattered non-negative int64 id (splitmix64)."""
    z = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)


def _zipf_sampler(n, s, head=1 << 16):
    """Sampler of ranks 0..n-1 with P(rank k-1) proportional to k**-s.

    Exact inverse CDF over the `head` most frequent ranks (a small, cache
    resident table); beyond it, inverse of the continuous mass
    integral_{k-1/2}^{k+1/2} x**-s dx, which equals k**-s to O(k**(-s-2)).
    """
    head = min(head, n)
    w = np.arange(1, head + 1, dtype=np.float64) ** (-s)
    head_cdf = np.cumsum(w)
    head_mass = head_cdf[-1]
    a = 1.0 - s                                   # s != 1 assumed

    def integral(lo, hi):
        return (hi ** a - lo ** a) / a

    tail_mass = integral(head + 0.5, n + 0.5) if n > head else 0.0
    total = head_mass + tail_mass

    def draw(rng, size):
        u = rng.random(size) * total
        ranks = np.searchsorted(head_cdf, u, side="right")
        tail = u >= head_mass
        if tail.any():
            v = u[tail] - head_mass
            x = ((head + 0.5) ** a + a * v) ** (1.0 / a)
            ranks[tail] = np.clip(np.floor(x + 0.5).astype(np.int64) - 1,
                                  head, n - 1)
        return np.minimum(ranks, n - 1)

    return draw


def generate(args, out_dir):
    """Write the key stream to out_dir; return a summary dict."""
    t0 = time.time()
    n_ids = args.ids
    with np.errstate(over="ignore"):
        ids = _id_map(n_ids)
    draw = _zipf_sampler(n_ids, args.zipf)
    rng = np.random.default_rng(args.seed)
    seen = np.zeros(n_ids, dtype=bool)
    # Prefill: the `prefill` most frequent ranks (all of them by default, i.e.
    # the whole id space the Zipf draws from), in a seeded random order, so
    # that insertion order carries no frequency information (a slot-assigning
    # table like libasc's gets no head-rows-together locality from it).
    pre_ranks = np.random.default_rng(args.seed + 1).permutation(args.prefill)
    seen[pre_ranks] = True
    np.save(os.path.join(out_dir, "prefill.npy"), ids[pre_ranks])
    del pre_ranks
    uniq_parts, offsets, new_counts, raw = [], [0], [], []
    for b in range(args.batches):
        ranks = draw(rng, args.batch_size)
        _, first = np.unique(ranks, return_index=True)
        first.sort()
        u_ranks = ranks[first]                      # first-occurrence order
        new_counts.append(int(np.count_nonzero(~seen[u_ranks])))
        seen[u_ranks] = True
        uniq_parts.append(ids[u_ranks])
        offsets.append(offsets[-1] + len(u_ranks))
        if b < args.dedup_batches:
            raw.append(ids[ranks])
    np.save(os.path.join(out_dir, "uniq.npy"), np.concatenate(uniq_parts))
    np.save(os.path.join(out_dir, "offsets.npy"), np.asarray(offsets, np.int64))
    np.save(os.path.join(out_dir, "new.npy"), np.asarray(new_counts, np.int64))
    np.save(os.path.join(out_dir, "raw.npy"), np.stack(raw))
    return {
        "seconds": time.time() - t0,
        "prefill": args.prefill,
        "unique_total": offsets[-1],
        "distinct_total": int(seen.sum()),
        "stream_new_total": int(sum(new_counts)),
        "mean_unique_per_batch": offsets[-1] / args.batches,
    }


# --------------------------------------------------------------------------
# worker side (one system per process)
# --------------------------------------------------------------------------
def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    return tf


def _session(tf, threads):
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                   inter_op_parallelism_threads=threads)
    return tf.compat.v1.Session(config=cfg)


def _import_asc():
    sys.path.insert(0, REPO)
    from mx_rec.libasc import _libasc  # pylint: disable=import-outside-toplevel
    from mx_rec.ops import asc_ops  # pylint: disable=import-outside-toplevel
    return _libasc, asc_ops


def _build(tf, system, args, keys):
    """Return (fetch_new_count, extra_fetches, size_fn, init_ops, api_note)."""
    dim = args.dim
    if system in ("mx_rec", "mx_rec+rows"):
        return _build_mx_rec(tf, system, dim, keys)

    zeros = tf.zeros([dim], tf.float32)
    if system == "tfra":
        import tensorflow_recommenders_addons.dynamic_embedding as de  # pylint: disable=import-outside-toplevel
        table = de.CuckooHashTable(key_dtype=tf.int64, value_dtype=tf.float32,
                                   default_value=zeros, name="bench",
                                   checkpoint=False)
        _, exists = table.lookup(keys, return_exists=True)
        api = "`lookup(return_exists=True)` + `insert(missing)`"
    elif system == "dense":
        table = tf.lookup.experimental.DenseHashTable(
            key_dtype=tf.int64, value_dtype=tf.float32, default_value=zeros,
            empty_key=-1, deleted_key=-2, name="bench")
        exists = None
        api = "`lookup` + `insert(missing)`"
    elif system == "mutable":
        table = tf.lookup.experimental.MutableHashTable(
            key_dtype=tf.int64, value_dtype=tf.float32, default_value=zeros,
            name="bench")
        exists = None
        api = "`lookup` + `insert(missing)`"
    else:
        raise ValueError(system)
    if exists is None:
        # The tf.lookup tables have no exists output: probe with a NaN default
        # row (inserted rows are zeros, so NaN means "missing").
        vals = _lookup_with_default(tf, table, keys,
                                    tf.fill([dim], float("nan")))
        exists = tf.logical_not(tf.math.is_nan(vals[:, 0]))
    missing = tf.logical_not(exists)
    missing_keys = tf.boolean_mask(keys, missing)
    ins = table.insert(missing_keys,
                       tf.zeros(tf.stack([tf.size(missing_keys), dim])))
    with tf.control_dependencies([ins]):
        n_new = tf.size(missing_keys, out_type=tf.int64)
    size_t = table.size()
    return n_new, [], lambda sess: int(sess.run(size_t)), [], api


def _build_mx_rec(tf, system, dim, keys):
    """A training lookup of mx_rec through its TF ops, as one session.run.

    The table is an mx_rec table (create_table, HBM mode, dynamic expansion,
    1<<20 device rows to start, like the removed name-registry table of the
    old bench): a TF resource owned by this session plus its [capacity, dim]
    float32 row variable. One step is what a training sparse_lookup runs for
    one table, minus the dedup (the keys are unique already) and the
    initializer (new rows are zeros, as for the peers):
      AscLookup      key -> slot (inserting new keys), slots pinned for the
                     step; fill_index = positions of keys whose row is unwritten
      AscFill        writes the new keys' rows (zeros) into the variable
      AscCommitStep  keeps the step's new keys (a step that ends without it
                     takes them back)
    mx_rec:       AscFill gets only the new keys' slots, so a step returns
                  slots (no rows of existing keys are read): the nearest
                  equivalent of the removed AscFindOrInsert, plus writing the
                  new rows, which AscFindOrInsert left to other ops.
    mx_rec+rows:  AscFill gets every key's slot and returns every key's row
                  ([n, dim]): the whole training lookup (what the old
                  `mx_rec+gather` row built from AscFindOrInsert +
                  AscEnsureRows + tf.gather).
    """
    _import_asc()
    # pylint: disable=import-outside-toplevel
    from mx_rec.core.embedding import create_table
    from mx_rec.ops import asc_ops
    from mx_rec.util.initialize import init
    init(use_dynamic=True, use_dynamic_expansion=True)
    table = create_table(tf.int64, dim, "bench", tf.compat.v1.zeros_initializer(),
                         device_vocabulary_size=1 << 20)
    handle, var = table.handle, table.variable
    n = tf.size(keys)
    slots, fill_index = asc_ops.lookup(
        handle, var, keys, n, tf.zeros([0], tf.int32), tf.constant(-1, tf.int64),
        tf.constant(True), name="lookup")
    n_new = tf.size(fill_index, out_type=tf.int64)
    initial = tf.zeros(tf.stack([n_new, dim]))
    default = tf.zeros([dim], tf.float32)
    if system == "mx_rec":
        # Only the new keys' slots: their rows are written, nothing is read back.
        rows = asc_ops.fill(handle, var, tf.gather(slots, fill_index),
                            tf.range(n_new), initial, default, name="fill")
        extra = []
    else:
        rows = asc_ops.fill(handle, var, slots, fill_index, initial, default, name="fill")
        extra = [tf.reduce_sum(rows[:, 0])]
    with tf.control_dependencies([rows]):
        commit = asc_ops.commit_step([handle], name="commit")
    with tf.control_dependencies([commit]):
        n_new = tf.identity(n_new)
        extra = [tf.identity(e) for e in extra]
    created = set()

    def size_fn(sess):
        # The table's state (key map and row variable) is made by the
        # initializer, after the RSS baseline, so that its initial
        # allocation (1<<20 rows) is counted.
        if not created:
            sess.run(tf.compat.v1.global_variables_initializer())
            created.add(True)
        return int(table.size(sess))
    api = ("`AscLookup` + `AscFill`(new keys) + `AscCommitStep`" if system == "mx_rec"
           else "`AscLookup` + `AscFill`(all keys: rows) + `AscCommitStep`")
    return n_new, extra, size_fn, [], api


def _lookup_with_default(tf, table, keys, default_row):
    """LookupTableFindV2 with a per-call default row.

    DenseHashTable/MutableHashTable.lookup() always pass the table's own
    default_value; the underlying op takes the default as an input tensor.
    """
    from tensorflow.python.ops import gen_lookup_ops  # pylint: disable=import-outside-toplevel
    return gen_lookup_ops.lookup_table_find_v2(table.resource_handle, keys,
                                               default_row)


def _run_batches(sess, fetches, keys, batches, max_seconds=None):
    """Run every batch; return (new keys fetched, wall s, CPU s, batches done)."""
    got_new = 0
    times = np.zeros(len(batches))
    cpu = np.zeros(len(batches))
    t_start = time.perf_counter()
    done = 0
    gc.collect()
    gc.freeze()
    gc.disable()        # no collector pauses inside the timed loop
    for i, batch in enumerate(batches):
        c = time.process_time()
        t = time.perf_counter()
        out = sess.run(fetches, feed_dict={keys: batch})
        times[i] = time.perf_counter() - t
        cpu[i] = time.process_time() - c
        got_new += int(out[0])
        done = i + 1
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            break
    gc.enable()
    return got_new, times[:done], cpu[:done], done


def run_system(system, args):
    tf = _import_tf()
    d = args.data
    uniq = np.load(os.path.join(d, "uniq.npy"))
    offsets = np.load(os.path.join(d, "offsets.npy"))
    expected_new = np.load(os.path.join(d, "new.npy"))
    pre_path = os.path.join(d, "prefill.npy")
    prefill = (np.load(pre_path) if os.path.exists(pre_path)
               else np.zeros(0, np.int64))
    n_batches = len(offsets) - 1
    batches = [uniq[offsets[i]:offsets[i + 1]] for i in range(n_batches)]
    bs = args.batch_size
    pre_batches = [prefill[i:i + bs] for i in range(0, len(prefill), bs)]

    keys = tf.compat.v1.placeholder(tf.int64, [None], name="keys")
    n_new, extra, size_fn, init, api = _build(tf, system, args, keys)
    sess = _session(tf, args.threads)
    if init:
        sess.run(init)
    if system.startswith("mx_rec"):
        rss0 = _rss()
        size0 = size_fn(sess)                  # initialises the mx_rec table (key map + rows)
    else:
        size_fn(sess)                          # creates the table resource
        rss0 = _rss()
        size0 = size_fn(sess)
    fetches = [n_new] + extra

    # Prefill (untimed as far as the steady-state rate goes; its own rate is
    # reported): every prefill id once, through the same find-or-insert step.
    pre = {"prefill": len(prefill)}
    size_p = size0
    if pre_batches:
        # One run with zero keys first: the Session's first-run setup of this
        # feed/fetch signature is not charged to the first prefill batch.
        sess.run(fetches, feed_dict={keys: prefill[:0]})
        got, t_pre, c_pre, _ = _run_batches(sess, fetches, keys, pre_batches)
        size_p = size_fn(sess)
        rss_p = _rss()
        pre.update({
            "prefill_s": float(t_pre.sum()),
            "prefill_keys_per_s": len(prefill) / float(t_pre.sum()),
            "prefill_cpu_keys_per_s": len(prefill) / max(float(c_pre.sum()), 1e-9),
            "prefill_ok": got == len(prefill) == size_p - size0,
            "prefill_rss_growth": rss_p - rss0,
        })

    got_new, times, cpu, done = _run_batches(sess, fetches, keys, batches,
                                             args.max_seconds)
    if os.environ.get("LOOKUP_BENCH_TIMES"):
        np.save(os.environ["LOOKUP_BENCH_TIMES"], times)
    size1 = size_fn(sess)
    rss1 = _rss()
    w = min(args.warmup, done - 1)
    timed_keys = int(offsets[done] - offsets[w])
    timed_s = float(times[w:done].sum())
    q = w + (done - w) * 3 // 4                  # last quarter of the stream
    last_keys = int(offsets[done] - offsets[q])
    last_s = float(times[q:done].sum())
    res = {
        "system": system,
        "api": api,
        "batches": done,
        "truncated": done < n_batches,
        "timed_batches": done - w,
        "timed_keys": timed_keys,
        "timed_s": timed_s,
        "keys_per_s": timed_keys / timed_s,
        "cpu_keys_per_s": timed_keys / max(float(cpu[w:done].sum()), 1e-9),
        "keys_per_s_last_quarter": last_keys / last_s if last_s else 0.0,
        "table_size": size1,
        "new_ok": got_new == int(expected_new[:done].sum()) == size1 - size_p,
        "rss_growth": rss1 - rss0,
        "rss_per_M": (rss1 - rss0) / max(size1 - size0, 1) * 1e6,
        "peak_rss": _peak_rss(),
        "peak_rss_growth": _peak_rss() - rss0,
    }
    res.update(pre)
    return res


def run_dedup(args):
    tf = _import_tf()
    raw = np.load(os.path.join(args.data, "raw.npy"))
    keys = tf.compat.v1.placeholder(tf.int64, [None], name="keys")
    systems = []
    try:
        _, asc_ops = _import_asc()
        u, restore, counts, n_valid = asc_ops.dedup(keys)
        systems.append(("mx_rec asc_ops.dedup", [tf.size(u), tf.size(restore),
                                                 tf.size(counts), n_valid],
                        (u, restore)))
    except Exception as e:  # pylint: disable=broad-except
        print("mx_rec dedup unavailable: %r" % (e,), file=sys.stderr)
    y, idx, cnt = tf.unique_with_counts(keys)
    systems.append(("tf.unique_with_counts", [tf.size(y), tf.size(idx),
                                              tf.size(cnt)], (y, idx)))
    sess = _session(tf, args.threads)
    results = []
    w = min(args.warmup, len(raw) - 1)
    for name, fetch, (u, restore) in systems:
        # correctness on one batch: first-occurrence order, exact restore
        uu, rr = sess.run([u, restore], feed_dict={keys: raw[0]})
        _, first = np.unique(raw[0], return_index=True)
        ok = (np.array_equal(uu, raw[0][np.sort(first)])
              and np.array_equal(uu[rr], raw[0]))
        times, cpu = [], []
        gc.collect()
        gc.disable()
        for b in raw:
            c = time.process_time()
            t = time.perf_counter()
            sess.run(fetch, feed_dict={keys: b})
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        gc.enable()
        n = raw[w:].size
        results.append({"op": name, "keys_per_s": n / sum(times[w:]),
                        "cpu_keys_per_s": n / max(sum(cpu[w:]), 1e-9),
                        "ok": bool(ok), "batches": len(raw) - w})
    return results


def worker_main(args):
    try:
        if args.worker == "dedup":
            res = run_dedup(args)
        else:
            res = run_system(args.worker, args)
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
        res = {"system": args.worker, "error": "%s: %s" % (type(e).__name__, e)}
    sys.stdout.flush()
    print("RESULT " + json.dumps(res))


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def _spawn(args, worker, data_dir):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker,
           "--data", data_dir, "--dim", str(args.dim),
           "--batch-size", str(args.batch_size),
           "--warmup", str(args.warmup), "--threads", str(args.threads),
           "--max-seconds", str(args.max_seconds)]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # at most args.threads threads for any math library a peer may pull in
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[v] = str(args.threads)
    t = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, check=False)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            res = json.loads(line[len("RESULT "):])
    if res is None or (isinstance(res, dict) and "error" in res):
        tail = "\n".join(p.stderr.strip().splitlines()[-15:])
        err = res["error"] if res else "exit code %d" % p.returncode
        print("  [%s] FAILED: %s\n%s" % (worker, err, tail))
        return None, time.time() - t
    return res, time.time() - t


def _fmt_rate(x):
    return "%.2fM" % (x / 1e6)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smaller run: 1M ids, 150 batches")
    ap.add_argument("--prefill", type=int, default=None, metavar="N",
                    help="first insert the N most frequent ids (default: all "
                    "--ids, i.e. 10M, quick 1M) in batch-size batches, then "
                    "time the Zipf batches against the full table (steady "
                    "state); 0 = time the fill from an empty table")
    ap.add_argument("--batches", type=int, default=None,
                    help="Zipf batches in the timed stream (default 300 with "
                    "a prefill, 700 with --prefill 0; quick 150)")
    ap.add_argument("--batch-size", type=int, default=65536)
    ap.add_argument("--ids", type=int, default=None,
                    help="distinct ids in the Zipf support (default 10M, quick 1M)")
    ap.add_argument("--zipf", type=float, default=1.05)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed leading batches (default 10, quick 5)")
    ap.add_argument("--dedup-batches", type=int, default=None,
                    help="raw batches for the dedup comparison (default 60, quick 20)")
    ap.add_argument("--threads", type=int, default=1,
                    help="TF intra/inter-op threads per system (max 2 here)")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                    help="comma list from " + ",".join(ALL_SYSTEMS))
    ap.add_argument("--no-dedup", action="store_true")
    ap.add_argument("--max-seconds", type=float, default=120.0,
                    help="cap on one system's fill loop (reported if hit)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--keep-data", metavar="DIR",
                    help="write the key stream to DIR and keep it (for "
                    "profiling one system: --worker SYSTEM --data DIR)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        args.warmup = 10 if args.warmup is None else args.warmup
        worker_main(args)
        return

    q = args.quick
    args.ids = args.ids or (1_000_000 if q else 10_000_000)
    args.prefill = args.ids if args.prefill is None else args.prefill
    if not 0 <= args.prefill <= args.ids:
        ap.error("--prefill must be between 0 and --ids (%d)" % args.ids)
    args.batches = args.batches or (150 if q else 300 if args.prefill else 700)
    args.warmup = args.warmup if args.warmup is not None else (5 if q else 10)
    args.dedup_batches = args.dedup_batches or (20 if q else 60)
    args.dedup_batches = min(args.dedup_batches, args.batches)
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in ALL_SYSTEMS:
            ap.error("unknown system %r" % s)

    t_all = time.time()
    print("# lookup_bench: prefill %d ids, then Zipf(%.2f) over %d ids, %d "
          "batches x %d keys, dim %d, %d warm-up batches, %d TF thread(s)%s"
          % (args.prefill, args.zipf, args.ids, args.batches, args.batch_size,
             args.dim, args.warmup, args.threads, " [quick]" if q else ""))
    with tempfile.TemporaryDirectory(prefix="lookup_bench_") as tmp_dir:
        data_dir = args.keep_data or tmp_dir
        os.makedirs(data_dir, exist_ok=True)
        gen = generate(args, data_dir)
        print("stream: prefill %d keys, then %d unique keys in %d batches "
              "(%.0f per batch, %d of them new), %d distinct -> final table "
              "size; generated in %.1fs"
              % (gen["prefill"], gen["unique_total"], args.batches,
                 gen["mean_unique_per_batch"], gen["stream_new_total"],
                 gen["distinct_total"], gen["seconds"]))
        results = {}
        for s in systems:
            res, wall = _spawn(args, s, data_dir)
            if res is None:
                continue
            results[s] = res
            if res["prefill"]:
                print("  %-14s prefill %d keys: %8s keys/s (per CPU-s %s) in "
                      "%.1fs, RSS +%.0f MB, new-key check %s"
                      % (s, res["prefill"], _fmt_rate(res["prefill_keys_per_s"]),
                         _fmt_rate(res["prefill_cpu_keys_per_s"]),
                         res["prefill_s"], res["prefill_rss_growth"] / 2**20,
                         "ok" if res["prefill_ok"] else "FAILED"))
            print("  %-14s %8s keys/s (per CPU-s %s, last quarter %s), table %d "
                  "keys, RSS +%.0f MB (%.1f MB per M keys, peak +%.0f MB), "
                  "new-key check %s%s  [%.0fs]"
                  % (s, _fmt_rate(res["keys_per_s"]),
                     _fmt_rate(res["cpu_keys_per_s"]),
                     _fmt_rate(res["keys_per_s_last_quarter"]),
                     res["table_size"], res["rss_growth"] / 2**20,
                     res["rss_per_M"] / 2**20, res["peak_rss_growth"] / 2**20,
                     "ok" if res["new_ok"] else "FAILED",
                     " TRUNCATED after %d batches" % res["batches"]
                     if res["truncated"] else "", wall))
        dedup = None
        if not args.no_dedup:
            dedup, wall = _spawn(args, "dedup", data_dir)
            for r in dedup or []:
                print("  dedup %-24s %8s raw keys/s (per CPU-s %s) over %d "
                      "batches, check %s  [%.0fs]"
                      % (r["op"], _fmt_rate(r["keys_per_s"]),
                         _fmt_rate(r["cpu_keys_per_s"]), r["batches"],
                         "ok" if r["ok"] else "FAILED", wall))

    print()
    print("total wall time %.0fs" % (time.time() - t_all))
    print()
    _markdown(args, gen, results, dedup)


def _ratio(r, base, key):
    return "%.2fx" % (r[key] / base[key]) if base else "n/a"


def _markdown(args, gen, results, dedup):
    base = results.get("tfra")
    cmd = " ".join(["python bench/lookup_bench.py"] + sys.argv[1:])
    if args.prefill:
        _markdown_prefill(args, gen, results, base, cmd)
    else:
        _markdown_fill(args, gen, results, base, cmd)
    _markdown_dedup(args, dedup)


def _markdown_prefill(args, gen, results, base, cmd):
    print("Find-or-insert against a prefilled table: %s distinct ids inserted "
          "first (%dK-key batches, seeded random order), then %d Zipf(%.2f) "
          "batches of %dK keys over those %s ids (%.0fK unique/batch, %d new "
          "keys in the whole stream), first %d untimed; table at %.2fM keys, "
          "dim %d, %d TF thread(s), one run of `%s`."
          % ("{:,}".format(args.prefill), args.batch_size // 1024,
             args.batches, args.zipf, args.batch_size // 1024,
             "{:,}".format(args.ids), gen["mean_unique_per_batch"] / 1e3,
             gen["stream_new_total"], args.warmup,
             gen["distinct_total"] / 1e6, args.dim, args.threads, cmd))
    print()
    print("| system | op(s) per batch | prefill keys/s | vs TFRA "
          "| steady-state unique keys/s | vs TFRA | steady keys per CPU-s "
          "| vs TFRA (CPU) | RSS per M keys at %.2fM keys | peak RSS growth |"
          % (gen["distinct_total"] / 1e6))
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in ALL_SYSTEMS:
        r = results.get(s)
        if r is None:
            continue
        flags = ""
        if not (r["new_ok"] and r["prefill_ok"]):
            flags += " (new-key check FAILED)"
        if r["truncated"]:
            flags += " (TRUNCATED: %d batches)" % r["batches"]
        print("| %s%s | %s | %s | %s | %s | %s | %s | %s | %.0f MB | %.0f MB |"
              % (LABELS[s], flags, r["api"],
                 _fmt_rate(r["prefill_keys_per_s"]),
                 _ratio(r, base, "prefill_keys_per_s"),
                 _fmt_rate(r["keys_per_s"]), _ratio(r, base, "keys_per_s"),
                 _fmt_rate(r["cpu_keys_per_s"]),
                 _ratio(r, base, "cpu_keys_per_s"),
                 r["rss_per_M"] / 2**20, r["peak_rss_growth"] / 2**20))


def _markdown_fill(args, gen, results, base, cmd):
    print("Unique-key find-or-insert, Zipf(%.2f) over %s ids, %d batches of %dK "
          "keys (%.0fK unique/batch), table filled to %.2fM keys, dim %d, "
          "%d TF thread(s), one run of `%s`."
          % (args.zipf, "{:,}".format(args.ids), args.batches,
             args.batch_size // 1024, gen["mean_unique_per_batch"] / 1e3,
             gen["distinct_total"] / 1e6, args.dim, args.threads, cmd))
    print()
    print("| system | op(s) per batch | unique keys/s | vs TFRA | keys per CPU-s "
          "| vs TFRA (CPU) | keys/s, last quarter of fill | RSS per M keys |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for s in ALL_SYSTEMS:
        r = results.get(s)
        if r is None:
            continue
        print("| %s | %s | %s | %s | %s | %s | %s | %.0f MB |"
              % (LABELS[s], r["api"], _fmt_rate(r["keys_per_s"]),
                 _ratio(r, base, "keys_per_s"),
                 _fmt_rate(r["cpu_keys_per_s"]),
                 _ratio(r, base, "cpu_keys_per_s"),
                 _fmt_rate(r["keys_per_s_last_quarter"]),
                 r["rss_per_M"] / 2**20))


def _markdown_dedup(args, dedup):
    if dedup:
        print()
        print("| dedup op (raw %dK-key batches) | raw keys/s | keys per CPU-s |"
              % (args.batch_size // 1024))
        print("|---|---:|---:|")
        for r in dedup:
            print("| `%s` | %s | %s |" % (r["op"], _fmt_rate(r["keys_per_s"]),
                                         _fmt_rate(r["cpu_keys_per_s"])))


if __name__ == "__main__":
    main()
