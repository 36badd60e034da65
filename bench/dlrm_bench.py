#!/usr/bin/env python3
"""End-to-end DLRM training throughput: mx_rec (HBM, DDR, SSD) vs TFRA vs dense TF.

One command produces every number. The parent process draws one synthetic
Criteo-like stream (26 categorical features with Zipf-distributed ids, 13
dense features, a label) and writes it to a temporary directory; then every
system trains the same small DLRM on exactly the same batches, each in its own
fresh subprocess, fed through the same placeholders of a tf.compat.v1 Session.

Systems (what holds the 26 embedding tables):
  dense     ceiling: tf.nn.embedding_lookup on [vocab, 16] resource variables,
            ids pre-hashed into [0, vocab) (no hashing at all), sparse Adagrad
            updates by tf.compat.v1.train.AdagradOptimizer
  hbm       mx_rec create_table(device_vocabulary_size=vocab) + sparse_lookup on
            the raw int64 ids, mx_rec.optimizers.adagrad hash optimizer, one
            backward pass for both optimizers (mx_rec.optimizers.minimize)
  hbm2      the same, but dense_opt.minimize + hash_opt.minimize: two
            backward passes through the dense network (for reference)
  ddr       mx_rec DDR mode: device tier of 10% of the table's ids (at least
            one batch), host tier of all of them; the same hash optimizer
  ssd       mx_rec SSD mode (device 10%, host --ssd-host-frac, SSD all ids) if
            create_table(..., ssd_vocabulary_size=...) is available
  hbm_data  hbm fed by tf.data (one dict of 26 feature columns per batch,
            prefetch 2) instead of placeholders; key work in-step
  hbm_pipe  the same dataset mapped with get_asc_insert_func (FeatureSpec
            mode): dedup, counts and restore indices run in tf.data ahead of
            the step. hbm_pipe / hbm_data is what the key pipeline buys.
            With --ids-per-feature K > 1 both read multi-hot features: each
            element joins K consecutive batches of the stream (repeated as
            needed), a feature's ids are [B, K] and their rows mean-pooled.
  tfra      TFRA 0.7.2 de.get_variable + de.embedding_lookup on the raw ids,
            de.DynamicEmbeddingOptimizer(tf.compat.v1.train.AdagradOptimizer)
The dense part (bottom MLP 13-64-16, dot interaction, top MLP 256-64-1,
sigmoid cross-entropy) is trained by tf.compat.v1.train.AdagradOptimizer in
every system.

mx_rec tables are session-owned (since 45d4e14): their counters (device hit
rate) are read with table.stats(sess) in the worker's session. Each mx_rec
worker imports the mx_rec of the checkout this file lives in (put first on
sys.path) and names it in its note ("mx_rec from ..."), so the bench of
another checkout (PYTHONPATH=that checkout) measures that checkout.

The first --warmup steps ("cold": the tables are empty and insert many keys)
are timed separately from the following --steps ("warm"); the headline rate is
the warm one. After the timed steps a few steps are traced
(RunOptions FULL_TRACE) and the op types that take the most time are printed.

Usage:  python bench/dlrm_bench.py            # ~4 min on 2 cores (6 systems)
        python bench/dlrm_bench.py --quick    # ~1.5 min
"""

import argparse
import collections
import gc
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lookup_bench import _zipf_sampler  # noqa: E402  pylint: disable=wrong-import-position
from bench_util import emit_result, git_rev, loadavg, spawn_worker  # noqa: E402  pylint: disable=wrong-import-position

ALL_SYSTEMS = ["dense", "hbm", "hbm2", "ddr", "ssd", "tfra", "hbm_data", "hbm_pipe"]
# Systems fed by tf.data rather than placeholders.
DATASET_SYSTEMS = ("hbm_data", "hbm_pipe")
LABELS = {
    "dense": "dense TF ceiling (`tf.nn.embedding_lookup`, ids pre-hashed into range)",
    "hbm": "mx_rec HBM (`create_table` + `sparse_lookup`, adagrad hash optimizer, "
           "`mx_rec.optimizers.minimize`)",
    "hbm2": "mx_rec HBM, two `minimize()` calls (two backward passes)",
    "ddr": "mx_rec DDR (device tier 10% of ids, host tier all ids)",
    "ssd": "mx_rec SSD (device 10% of ids, host 25%, SSD all ids)",
    "tfra": "TFRA 0.7.2 `de.get_variable` + `de.embedding_lookup`, DynamicEmbeddingOptimizer(Adagrad)",
    "hbm_data": "mx_rec HBM fed by tf.data, key work in-step",
    "hbm_pipe": "mx_rec HBM fed by tf.data, key work in tf.data (FeatureSpec + "
                "`get_asc_insert_func`)",
}
NUM_TABLES = 26
NUM_DENSE = 13
DIM = 16
LR = 0.05
INIT_ACC = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")


def table_vocabs(args):
    """--big-tables tables of --big-vocab ids, the rest log-spaced 10K..100K."""
    small = NUM_TABLES - args.big_tables
    sizes = [int(round(x, -3)) for x in np.geomspace(args.small_min, args.small_max, small)]
    return [args.big_vocab] * args.big_tables + sizes


def device_rows(vocab, frac, batch_size):
    """Device tier of a tiered table: frac of its ids, at least one batch of keys."""
    return min(vocab, max(int(math.ceil(frac * vocab)), batch_size))


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def _scattered_ids(table, n):
    """Rank -> non-negative int64 id of table `table` (splitmix64 of table<<32 | rank)."""
    z = (np.arange(1, n + 1, dtype=np.uint64) + np.uint64(table << 32)) \
        * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(0x7FFFFFFFFFFFFFFF)).astype(np.int64)


def generate(args, out_dir):
    t0 = time.time()
    vocabs = table_vocabs(args)
    n_steps = args.warmup + args.steps + args.trace_steps
    bs = args.batch_size
    rng = np.random.default_rng(args.seed)
    raw = np.empty((n_steps, bs, NUM_TABLES), np.int64)
    hashed = np.empty((n_steps, bs, NUM_TABLES), np.int64)
    distinct, uniq_per_batch, new_warm = [], [], []
    with np.errstate(over="ignore"):
        for t, vocab in enumerate(vocabs):
            draw = _zipf_sampler(vocab, args.zipf)
            ranks = draw(rng, n_steps * bs).reshape(n_steps, bs)
            # raw ids: scattered over int64, distinct per table
            ids = _scattered_ids(t, vocab)
            raw[:, :, t] = ids[ranks]
            # ceiling: the same ids "pre-hashed" to [0, vocab) by a seeded
            # permutation (hot ids land anywhere in the variable, as with a hash)
            perm = np.random.default_rng(args.seed + 1000 + t).permutation(vocab)
            hashed[:, :, t] = perm[ranks]
            seen = np.zeros(vocab, bool)
            seen[ranks[:args.warmup].ravel()] = True
            before = int(seen.sum())
            seen[ranks[args.warmup:args.warmup + args.steps].ravel()] = True
            new_warm.append(int(seen.sum()) - before)
            distinct.append(int(seen.sum()))
            uniq_per_batch.append(float(np.mean(
                [len(np.unique(ranks[s])) for s in range(0, n_steps, max(1, n_steps // 20))])))
    dense = rng.standard_normal((n_steps, bs, NUM_DENSE)).astype(np.float32)
    # Labels with some signal (a fixed linear rule on the dense features and on
    # whether the first tables' ids are head ids), ~25% positives.
    w = np.random.default_rng(args.seed + 7).standard_normal(NUM_DENSE).astype(np.float32)
    head = (hashed[:, :, :4] % 7 == 0).sum(axis=2).astype(np.float32)
    logit = dense @ w * 0.5 + head - 1.6
    labels = (rng.random((n_steps, bs)) < 1 / (1 + np.exp(-logit)))
    labels = labels.astype(np.float32)[:, :, None]
    np.save(os.path.join(out_dir, "raw.npy"), raw)
    np.save(os.path.join(out_dir, "hashed.npy"), hashed)
    np.save(os.path.join(out_dir, "dense.npy"), dense)
    np.save(os.path.join(out_dir, "labels.npy"), labels)
    return {"seconds": time.time() - t0, "vocabs": vocabs, "distinct": distinct,
            "uniq_per_batch": uniq_per_batch, "new_warm": new_warm,
            "positives": float(labels.mean())}


# --------------------------------------------------------------------------
# worker side (one system per process)
# --------------------------------------------------------------------------
def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.get_logger().setLevel("ERROR")
    tf.compat.v1.disable_eager_execution()
    return tf


def _mlp(tf, name, x, units, relu_last):
    prev = int(x.shape[-1])
    with tf.compat.v1.variable_scope(name):
        for i, out in enumerate(units):
            w = tf.compat.v1.get_variable("w%d" % i, [prev, out], tf.float32,
                                          tf.compat.v1.glorot_uniform_initializer(seed=i + 1))
            b = tf.compat.v1.get_variable("b%d" % i, [out], tf.float32,
                                          tf.compat.v1.zeros_initializer())
            x = tf.matmul(x, w) + b
            if i + 1 < len(units) or relu_last:
                x = tf.nn.relu(x)
            prev = out
    return x


def _dlrm_loss(tf, dense_x, embs, labels):
    embs = [tf.reduce_mean(e, axis=1) if e.shape.rank == 3 else e for e in embs]  # multi-hot
    bottom = _mlp(tf, "bottom", dense_x, [64, DIM], relu_last=True)
    vecs = tf.stack([bottom] + embs, axis=1)                 # [B, 27, 16]
    n = 1 + len(embs)
    z = tf.reshape(tf.matmul(vecs, vecs, transpose_b=True), [-1, n * n])
    rows, cols = np.triu_indices(n, k=1)
    pairs = tf.gather(z, (rows * n + cols).astype(np.int32), axis=1)
    logits = _mlp(tf, "top", tf.concat([bottom, pairs], axis=1), [256, 64, 1],
                  relu_last=False)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                                  logits=logits))


def _emb_init(tf, t):
    return tf.compat.v1.truncated_normal_initializer(stddev=0.05, seed=100 + t)


def _build(tf, system, args, vocabs, cols, dense_x, labels, tmp, batch=None, specs=None):
    """Returns (train_op, loss, stats_fn, note).

    cols: the 26 id columns; with specs (FeatureSpec mode) the lookups read
    their keys from `batch` instead.
    """
    dense_opt = tf.compat.v1.train.AdagradOptimizer(LR, initial_accumulator_value=INIT_ACC)
    if system == "dense":
        embs = []
        for t, vocab in enumerate(vocabs):
            var = tf.compat.v1.get_variable("emb%d" % t, [vocab, DIM], tf.float32,
                                            _emb_init(tf, t), use_resource=True)
            embs.append(tf.nn.embedding_lookup(var, cols[t]))
        loss = _dlrm_loss(tf, dense_x, embs, labels)
        return dense_opt.minimize(loss), loss, None, "one Adagrad over all variables"

    if system == "tfra":
        import tensorflow_recommenders_addons.dynamic_embedding as de  # pylint: disable=import-outside-toplevel
        embs = []
        for t in range(NUM_TABLES):
            var = de.get_variable("emb%d" % t, key_dtype=tf.int64, value_dtype=tf.float32,
                                  dim=DIM, initializer=_emb_init(tf, t))
            embs.append(de.embedding_lookup(var, cols[t], name="lookup%d" % t))
        loss = _dlrm_loss(tf, dense_x, embs, labels)
        opt = de.DynamicEmbeddingOptimizer(
            tf.compat.v1.train.AdagradOptimizer(LR, initial_accumulator_value=INIT_ACC))
        return opt.minimize(loss), loss, None, "one wrapped Adagrad over all variables"

    sys.path.insert(0, REPO)
    # pylint: disable=import-outside-toplevel
    from mx_rec.core.embedding import create_table, sparse_lookup
    from mx_rec.optimizers import adagrad
    from mx_rec.util.initialize import init
    init(use_dynamic=True, use_dynamic_expansion=False)
    # Created before the tables: DDR/SSD tables carry its state with their rows.
    hash_opt = adagrad.create_hash_optimizer(LR, initial_accumulator_value=INIT_ACC)
    tables, embs = [], []
    for t, vocab in enumerate(vocabs):
        kw = {"device_vocabulary_size": vocab}
        if system == "ddr":
            kw = {"device_vocabulary_size": device_rows(vocab, args.device_frac, args.batch_size),
                  "host_vocabulary_size": vocab}
        elif system == "ssd":
            path = os.path.join(tmp, "ssd%d" % t)
            os.makedirs(path, exist_ok=True)
            dev = device_rows(vocab, args.device_frac, args.batch_size)
            kw = {"device_vocabulary_size": dev,
                  "host_vocabulary_size": max(dev, int(math.ceil(args.ssd_host_frac * vocab))),
                  "ssd_vocabulary_size": vocab, "ssd_data_path": path}
        try:
            table = create_table(tf.int64, DIM, "emb%d" % t, _emb_init(tf, t), **kw)
        except (NotImplementedError, ValueError, TypeError) as e:
            if system == "ssd":
                raise _Unavailable("%s: %s" % (type(e).__name__, e)) from e
            raise
        tables.append(table)
        if specs:
            embs.append(sparse_lookup(table, specs[t], batch=batch, name="lookup%d" % t))
        else:
            embs.append(sparse_lookup(table, cols[t], name="lookup%d" % t))
    loss = _dlrm_loss(tf, dense_x, embs, labels)
    dense_vars = tf.compat.v1.trainable_variables()
    if system == "hbm2":
        # Each optimizer's own minimize(): two backward passes over the loss.
        train_op = tf.group(dense_opt.minimize(loss, var_list=dense_vars),
                            hash_opt.minimize(loss))
        note = "dense Adagrad.minimize + hash Adagrad.minimize"
    else:
        # The documented way: one backward pass for both optimizers.
        from mx_rec.optimizers import minimize
        train_op = minimize(loss, dense_opt, hash_opt, var_list=dense_vars)
        note = "mx_rec.optimizers.minimize (one backward pass)"

    def stats_fn(sess):
        # A table's state belongs to the session running it.
        return [t.stats(sess) for t in tables]
    import mx_rec
    # Which checkout the worker runs (the repo's own, not another editable install).
    note += "; mx_rec from %s" % os.path.dirname(os.path.dirname(os.path.abspath(mx_rec.__file__)))
    return train_op, loss, stats_fn, note


def _dataset_inputs(tf, system, ids_np, dense_np, labels_np, ids_per_feature):
    """tf.data over the pre-drawn batches (one element per step, prefetch 2;
    with ids_per_feature K > 1, K consecutive batches per element, the ids of
    each feature side by side: [B, K]).

    Returns (cols, dense_x, labels, batch, specs, init_feed, iterator);
    specs is None unless the key work runs in tf.data (hbm_pipe).
    """
    sys.path.insert(0, REPO)
    # pylint: disable=import-outside-toplevel
    from mx_rec.core.asc.feature_spec import FeatureSpec
    from mx_rec.core.asc.helper import get_asc_insert_func
    arrays = [tf.compat.v1.placeholder(tf.as_dtype(a.dtype), a.shape)
              for a in (ids_np, dense_np, labels_np)]

    k = ids_per_feature

    def as_dict(ids, dense, labels):
        if k > 1:  # [K, B, 26] -> [B, 26, K]; the first batch's dense part and labels
            ids, dense, labels = tf.transpose(ids, [1, 2, 0]), dense[0], labels[0]
        out = {"dense": dense, "labels": labels}
        out.update({"f%d" % t: ids[:, t] for t in range(NUM_TABLES)})
        return out

    ds = tf.data.Dataset.from_tensor_slices(tuple(arrays))
    if k > 1:
        ds = ds.repeat().batch(k, drop_remainder=True)
    ds = ds.map(as_dict)
    specs = None
    if system == "hbm_pipe":
        specs = [FeatureSpec("f%d" % t, table_name="emb%d" % t) for t in range(NUM_TABLES)]
        ds = ds.map(get_asc_insert_func(specs))
    # tf.data's own thread, so the input work does not queue behind the step's
    # ops on the session's (single, --threads 1) inter-op thread.
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    iterator = tf.compat.v1.data.make_initializable_iterator(ds.prefetch(2).with_options(options))
    batch = iterator.get_next()
    cols = [batch["f%d" % t] for t in range(NUM_TABLES)]
    init_feed = dict(zip(arrays, (ids_np, dense_np, labels_np)))
    return cols, batch["dense"], batch["labels"], batch, specs, init_feed, iterator


class _Unavailable(Exception):
    pass


def _summarise_trace(run_metadata, top):
    """Total op time (sum of node durations, all threads) by op type."""
    by_type = collections.Counter()
    total = 0
    for dev in run_metadata.step_stats.dev_stats:
        for ns in dev.node_stats:
            us = ns.all_end_rel_micros
            name = ns.node_name.split(":")[0]
            op = ns.timeline_label.split("(")[0].split(" = ")[-1].strip() if ns.timeline_label else ""
            op = op or name
            by_type[op] += us
            total += us
    return total, by_type.most_common(top)


def run_system(system, args):
    tf = _import_tf()
    d = args.data
    vocabs = json.loads(args.vocabs)
    ids_np = np.load(os.path.join(d, "hashed.npy" if system == "dense" else "raw.npy"))
    dense_np = np.load(os.path.join(d, "dense.npy"))
    labels_np = np.load(os.path.join(d, "labels.npy"))
    n_steps = ids_np.shape[0]
    bs = args.batch_size

    tmp = tempfile.mkdtemp(prefix="dlrm_bench_ssd_", dir=args.ssd_dir)
    try:
        rss0 = _rss()
        t_build = time.time()
        if system in DATASET_SYSTEMS:
            inputs = _dataset_inputs(tf, system, ids_np, dense_np, labels_np,
                                     args.ids_per_feature)
            cols, dense_x, labels, batch, specs, init_feed, iterator = inputs
        else:
            ids = tf.compat.v1.placeholder(tf.int64, [bs, NUM_TABLES], name="ids")
            dense_x = tf.compat.v1.placeholder(tf.float32, [bs, NUM_DENSE], name="dense")
            labels = tf.compat.v1.placeholder(tf.float32, [bs, 1], name="labels")
            cols = [ids[:, t] for t in range(NUM_TABLES)]
            batch, specs = None, None
        train_op, loss, stats_fn, note = _build(tf, system, args, vocabs, cols, dense_x,
                                                labels, tmp, batch, specs)
        cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                       inter_op_parallelism_threads=args.threads)
        sess = tf.compat.v1.Session(config=cfg)
        sess.run(tf.compat.v1.global_variables_initializer())
        build_s = time.time() - t_build

        if system in DATASET_SYSTEMS:
            sess.run(iterator.initializer, feed_dict=init_feed)

            def feed(_):
                return None
        else:
            def feed(s):
                return {ids: ids_np[s], dense_x: dense_np[s], labels: labels_np[s]}

        fetches = [train_op, loss]
        losses = np.zeros(n_steps)
        wall = np.zeros(n_steps)
        cpu = np.zeros(n_steps)
        timed_end = args.warmup + args.steps
        stats_at = {}
        gc.collect()
        gc.freeze()
        gc.disable()
        for s in range(timed_end):
            if s == args.warmup and stats_fn:
                stats_at["warm0"] = stats_fn(sess)
            f = feed(s)
            c = time.process_time()
            t = time.perf_counter()
            _, losses[s] = sess.run(fetches, feed_dict=f)
            wall[s] = time.perf_counter() - t
            cpu[s] = time.process_time() - c
            if wall[:s + 1].sum() > args.max_seconds:
                break
        gc.enable()
        done = s + 1
        if stats_fn:
            stats_at["warm1"] = stats_fn(sess)
        # Traced steps (after timing): op-level cost by op type.
        trace = None
        if args.trace_steps and done == timed_end:
            from tensorflow.python.client import timeline  # pylint: disable=import-outside-toplevel
            opts = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
            agg = collections.Counter()
            total = 0
            for s in range(timed_end, timed_end + args.trace_steps):
                md = tf.compat.v1.RunMetadata()
                sess.run(fetches, feed_dict=feed(s), options=opts, run_metadata=md)
                tot, top = _summarise_trace(md, 40)
                total += tot
                agg.update(dict(top))
            if args.trace_dir:
                os.makedirs(args.trace_dir, exist_ok=True)
                with open(os.path.join(args.trace_dir, "%s.json" % system), "w") as f:
                    f.write(timeline.Timeline(md.step_stats).generate_chrome_trace_format())
            trace = {"op_ms_per_step": total / 1e3 / args.trace_steps,
                     "top": [(k, v / 1e3 / args.trace_steps) for k, v in agg.most_common(14)]}
        rss1 = _rss()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    c0 = 1                      # step 0 pays the Session's first-run setup
    cold = slice(c0, min(args.warmup, done))
    warm = slice(args.warmup, done)
    res = {
        "system": system, "note": note, "build_s": build_s,
        "steps_done": done, "truncated": done < timed_end,
        "first_step_s": float(wall[0]),
        "cold_sps": bs * (cold.stop - cold.start) / max(wall[cold].sum(), 1e-9),
        "warm_sps": bs * (done - args.warmup) / max(wall[warm].sum(), 1e-9),
        "warm_cpu_sps": bs * (done - args.warmup) / max(cpu[warm].sum(), 1e-9),
        "warm_cpu_util": float(cpu[warm].sum() / max(wall[warm].sum(), 1e-9)),
        "warm_step_ms_p50": float(np.median(wall[warm]) * 1e3),
        "warm_step_ms_p90": float(np.percentile(wall[warm], 90) * 1e3),
        "loss_first": float(losses[1:11].mean()),
        "loss_last": float(losses[done - 20:done].mean()),
        "rss_growth": rss1 - rss0,
        "trace": trace,
    }
    if stats_fn and "warm0" in stats_at:
        s0, s1 = stats_at["warm0"], stats_at["warm1"]
        big = [i for i, v in enumerate(vocabs) if v == max(vocabs)]

        def rate(idx):
            h = sum(s1[i]["hits"] - s0[i]["hits"] for i in idx)
            m = sum(s1[i]["misses"] - s0[i]["misses"] for i in idx)
            return h / max(h + m, 1), h, m
        allr = rate(range(NUM_TABLES))
        bigr = rate(big)
        res["tiers"] = {
            "hit_rate": allr[0], "hits": allr[1], "misses": allr[2],
            "hit_rate_big": bigr[0],
            "loads": sum(s1[i]["loads"] - s0[i]["loads"] for i in range(NUM_TABLES)),
            "evictions": sum(s1[i]["evictions"] - s0[i]["evictions"] for i in range(NUM_TABLES)),
            "new_keys": sum(s1[i]["new_keys"] - s0[i]["new_keys"] for i in range(NUM_TABLES)),
            "ssd_loads": sum(s1[i].get("ssd_loads", 0) - s0[i].get("ssd_loads", 0)
                             for i in range(NUM_TABLES)),
            "demotions": sum(s1[i].get("demotions", 0) - s0[i].get("demotions", 0)
                             for i in range(NUM_TABLES)),
            "ssd_keys": sum(s1[i].get("ssd_keys", 0) for i in range(NUM_TABLES)),
            "keys": sum(s1[i].get("device_keys", 0) + s1[i].get("host_keys", 0)
                        + s1[i].get("ssd_keys", 0) for i in range(NUM_TABLES)),
            "raw": s1[0],
        }
    return res


def worker_main(args):
    try:
        res = run_system(args.worker, args)
    except _Unavailable as e:
        res = {"system": args.worker, "unavailable": str(e)}
    except Exception as e:  # pylint: disable=broad-except
        import traceback  # pylint: disable=import-outside-toplevel
        traceback.print_exc()
        res = {"system": args.worker, "error": "%s: %s" % (type(e).__name__, e)}
    emit_result(res)


# --------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------
def _spawn(args, worker, data_dir, vocabs):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker,
           "--data", data_dir, "--vocabs", json.dumps(vocabs),
           "--batch-size", str(args.batch_size), "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--trace-steps", str(args.trace_steps),
           "--threads", str(args.threads), "--max-seconds", str(args.max_seconds),
           "--device-frac", str(args.device_frac), "--ssd-host-frac", str(args.ssd_host_frac),
           "--ids-per-feature", str(args.ids_per_feature)]
    if args.trace_dir:
        cmd += ["--trace-dir", args.trace_dir]
    if args.ssd_dir:
        cmd += ["--ssd-dir", args.ssd_dir]
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[v] = str(args.threads)
    return spawn_worker(cmd, worker, env=env, tail=15)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps (~1.5 min)")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed warm steps per system (default 250, quick 60)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="cold steps timed separately (default 50, quick 15)")
    ap.add_argument("--trace-steps", type=int, default=None,
                    help="FULL_TRACE steps after timing, for op costs (default 3, quick 2; 0 = off)")
    ap.add_argument("--trace-dir", help="also write each system's last traced step "
                    "as a chrome trace SYSTEM.json here")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--big-tables", type=int, default=4)
    ap.add_argument("--big-vocab", type=int, default=1_000_000)
    ap.add_argument("--small-min", type=int, default=10_000)
    ap.add_argument("--small-max", type=int, default=100_000)
    ap.add_argument("--zipf", type=float, default=1.05)
    ap.add_argument("--device-frac", type=float, default=0.10,
                    help="DDR/SSD device tier as a fraction of a table's ids (at least "
                    "--batch-size rows)")
    ap.add_argument("--ssd-host-frac", type=float, default=0.25,
                    help="SSD mode: host tier as a fraction of a table's ids")
    ap.add_argument("--ssd-dir", help="parent directory of the SSD tier's files (default: TMPDIR)")
    ap.add_argument("--ids-per-feature", type=int, default=1,
                    help="hbm_data/hbm_pipe only: ids per feature and sample (multi-hot)")
    ap.add_argument("--threads", type=int, default=1,
                    help="TF intra/inter-op threads per system (max 2 here)")
    ap.add_argument("--systems", default=",".join(ALL_SYSTEMS),
                    help="comma list from " + ",".join(ALL_SYSTEMS))
    ap.add_argument("--max-seconds", type=float, default=150.0,
                    help="cap on one system's timed loop (reported as TRUNCATED)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--keep-data", metavar="DIR",
                    help="write the stream to DIR and keep it (then profile one system: "
                    "--worker SYSTEM --data DIR --vocabs JSON)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--vocabs", help=argparse.SUPPRESS)
    args = ap.parse_args()
    q = args.quick
    args.steps = args.steps or (60 if q else 250)
    args.warmup = args.warmup or (15 if q else 50)
    args.trace_steps = (2 if q else 3) if args.trace_steps is None else args.trace_steps
    if args.worker:
        worker_main(args)
        return
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in ALL_SYSTEMS:
            ap.error("unknown system %r" % s)

    t_all = time.time()
    vocabs = table_vocabs(args)
    load0 = loadavg()
    print("# git %s" % git_rev(REPO))
    print("# dlrm_bench: 26 tables dim %d (%d x %s ids, %d x %s..%s), Zipf(%.2f), batch %d, "
          "%d cold + %d warm timed steps, %d TF thread(s)%s; load average %s"
          % (DIM, args.big_tables, "{:,}".format(args.big_vocab), NUM_TABLES - args.big_tables,
             "{:,}".format(args.small_min), "{:,}".format(args.small_max), args.zipf,
             args.batch_size, args.warmup, args.steps, args.threads,
             " [quick]" if q else "", load0))
    with tempfile.TemporaryDirectory(prefix="dlrm_bench_") as tmp_dir:
        data_dir = args.keep_data or tmp_dir
        os.makedirs(data_dir, exist_ok=True)
        gen = generate(args, data_dir)
        print("stream: %s ids in the tables' id spaces; %s distinct ids seen by the end of the "
              "warm steps (%s new during them); %.0f unique ids per batch summed over tables; "
              "%.1f%% positives; generated in %.1fs"
              % ("{:,}".format(sum(vocabs)), "{:,}".format(sum(gen["distinct"])),
                 "{:,}".format(sum(gen["new_warm"])), sum(gen["uniq_per_batch"]),
                 100 * gen["positives"], gen["seconds"]))
        if args.keep_data:
            print("data kept in %s; --vocabs '%s'" % (data_dir, json.dumps(vocabs)))
        results, unavailable = {}, {}
        for s in systems:
            res, wall = _spawn(args, s, data_dir, vocabs)
            if res is None:
                continue
            if "unavailable" in res:
                unavailable[s] = res["unavailable"]
                print("  SSD: not available yet (%s)" % res["unavailable"] if s == "ssd"
                      else "  %s: not available (%s)" % (s, res["unavailable"]))
                continue
            results[s] = res
            print("  %-6s [%s]" % (s, res["note"]))
            print("  %-6s warm %7.0f samples/s (per CPU-s %7.0f, CPU/wall %.2f, step p50 %.0f ms "
                  "p90 %.0f ms), cold %7.0f samples/s, first step %.1fs, build+init %.1fs, "
                  "loss %.4f -> %.4f, RSS +%.0f MB%s  [%.0fs]"
                  % (s, res["warm_sps"], res["warm_cpu_sps"], res["warm_cpu_util"],
                     res["warm_step_ms_p50"], res["warm_step_ms_p90"], res["cold_sps"],
                     res["first_step_s"], res["build_s"], res["loss_first"], res["loss_last"],
                     res["rss_growth"] / 2**20,
                     " TRUNCATED after %d steps" % res["steps_done"] if res["truncated"] else "",
                     wall))
            if res.get("tiers"):
                tr = res["tiers"]
                print("         device hit rate (warm steps) %.2f%% (1M-id tables %.2f%%): %d hits, "
                      "%d misses, %d loads, %d evictions, %d new keys; %d keys held"
                      % (100 * tr["hit_rate"], 100 * tr["hit_rate_big"], tr["hits"],
                         tr["misses"], tr["loads"], tr["evictions"], tr["new_keys"],
                         tr["keys"]))
                if s == "ssd":
                    print("         SSD tier (warm steps): %d loads from SSD, %d demotions host->SSD; "
                          "%d keys on SSD at the end" % (tr["ssd_loads"], tr["demotions"],
                                                         tr["ssd_keys"]))
            if res.get("trace"):
                tr = res["trace"]
                print("         trace: %.0f ms of op time per step; top op types (ms/step): %s"
                      % (tr["op_ms_per_step"],
                         ", ".join("%s %.1f" % (k, v) for k, v in tr["top"])))
        if "ssd" in systems and "ssd" not in results and "ssd" not in unavailable:
            print("  SSD: not available yet (the run failed, see above)")
            unavailable["ssd"] = "failed"

    print()
    print("total wall time %.0fs; load average before %s, after %s"
          % (time.time() - t_all, load0, loadavg()))
    print()
    _markdown(args, gen, vocabs, results, unavailable)


def _ratio(r, base, key="warm_sps"):
    return "%.2fx" % (r[key] / base[key]) if base else "n/a"


def _markdown(args, gen, vocabs, results, unavailable):
    cmd = " ".join(["python bench/dlrm_bench.py"] + sys.argv[1:])
    dense, tfra, hbm = results.get("dense"), results.get("tfra"), results.get("hbm")
    dev = sum(device_rows(v, args.device_frac, args.batch_size) for v in vocabs)
    print("DLRM training (26 tables x dim %d: %d x %s ids + %d of %s..%s ids, %s in all; "
          "Zipf(%.2f) ids; bottom MLP 13-64-16, dot interaction, top MLP 256-64-1; Adagrad), "
          "batch %d, %d cold steps then %d warm timed steps, %d TF thread(s); DDR device tiers "
          "%s rows = %.1f%% of all ids (10%% per table, at least one batch); one run of `%s`."
          % (DIM, args.big_tables, "{:,}".format(args.big_vocab), NUM_TABLES - args.big_tables,
             "{:,}".format(args.small_min), "{:,}".format(args.small_max),
             "{:,}".format(sum(vocabs)), args.zipf, args.batch_size, args.warmup, args.steps,
             args.threads, "{:,}".format(dev), 100.0 * dev / sum(vocabs), cmd))
    print()
    print("| system | warm samples/s | vs dense ceiling | vs TFRA | vs HBM | warm samples per "
          "CPU-s | vs dense (CPU) | vs TFRA (CPU) | CPU/wall | cold samples/s (steps 2-%d) | device hit "
          "rate | loss first 10 -> last 20 steps |" % args.warmup)
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in ALL_SYSTEMS:
        r = results.get(s)
        if r is None:
            if s in unavailable and s == "ssd":
                print("| %s | SSD: not available yet | | | | | | | | | | |" % LABELS[s])
            continue
        hit = "%.1f%%" % (100 * r["tiers"]["hit_rate"]) if s in ("ddr", "ssd") and r.get(
            "tiers") else ""
        flag = " (TRUNCATED: %d steps)" % r["steps_done"] if r["truncated"] else ""
        print("| %s%s | %.0f | %s | %s | %s | %.0f | %s | %s | %.2f | %.0f | %s | %.3f -> %.3f |"
              % (LABELS[s], flag, r["warm_sps"], _ratio(r, dense), _ratio(r, tfra),
                 _ratio(r, hbm), r["warm_cpu_sps"], _ratio(r, dense, "warm_cpu_sps"),
                 _ratio(r, tfra, "warm_cpu_sps"), r["warm_cpu_util"], r["cold_sps"], hit,
                 r["loss_first"],
                 r["loss_last"]))
    print()
    ddr, ssd = results.get("ddr"), results.get("ssd")

    def target(name, num, base, want):
        if num is None or base is None:
            return "| %s | >= %.2fx | n/a | not measured |" % (name, want)
        got = num["warm_sps"] / base["warm_sps"]
        return "| %s | >= %.2fx | %.2fx | %s |" % (name, want, got,
                                                   "met" if got >= want else "**MISSED**")
    print("| target | want | got (warm samples/s) | |")
    print("|---|---:|---:|---|")
    print(target("HBM vs dense ceiling", hbm, dense, 0.9))
    print(target("HBM vs TFRA", hbm, tfra, 1.5))
    if results.get("hbm2"):
        print(target("(HBM with two minimize() calls vs dense ceiling)", results["hbm2"], dense,
                     0.9))
    print(target("DDR vs HBM", ddr, hbm, 0.75))
    if ssd is None and "ssd" in unavailable:
        print("| SSD vs HBM | >= 0.50x | SSD: not available yet | |")
    else:
        print(target("SSD vs HBM", ssd, hbm, 0.5))
    if results.get("hbm_pipe") and results.get("hbm_data"):
        pipe, data = results["hbm_pipe"], results["hbm_data"]
        print()
        print("Key pipeline (FeatureSpec mode): hbm_pipe / hbm_data = %.2fx warm samples/s, "
              "%.2fx samples per CPU-s; step p50 %.1f -> %.1f ms; losses %s."
              % (pipe["warm_sps"] / data["warm_sps"],
                 pipe["warm_cpu_sps"] / data["warm_cpu_sps"], data["warm_step_ms_p50"],
                 pipe["warm_step_ms_p50"],
                 "identical" if pipe["loss_last"] == data["loss_last"] else "DIFFER"))


if __name__ == "__main__":
    main()
