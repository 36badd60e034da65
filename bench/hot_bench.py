#!/usr/bin/env python3
"""Hot embedding in DDR mode: swaps, hit rates and throughput with hot-key pinning off vs on.

One process trains the same small model on the same Zipf id stream once per
configuration: hot embedding off, then on with each --hot-fractions value
(hot_vocabulary_size = fraction x device rows). Tables are DDR mode (device
tier --device-frac of the ids, host tier all of them), trained with an Adagrad
hash optimizer, so every swapped row carries its optimizer state.

Per configuration, over the timed steps (after --warmup steps): swaps per step
= (loads + evictions) / steps summed over the tables (loads: host -> device,
evictions: device -> host; a new key is initialised, not moved, but the row it
evicts counts), device hit rate =
hits / (hits + misses), hot hit rate = hot_hits / (hits + misses), hot keys at
the end, samples/s and its ratio to hot off. The configurations run in turn
--repeats times (off, on, on, ..., off, on, ...): the counters are identical
across repeats (checked), the throughput is the median of the repeats, so a
burst of load on the shared machine hits every configuration alike.

Usage:  python bench/hot_bench.py          # 4 tables x 1M ids, 200+600 steps, 2 repeats, ~1.5 min
        python bench/hot_bench.py --quick  # 2 tables x 200K ids, 50 + 150 steps
        python bench/hot_bench.py --hot-fractions 0.75 --refresh-steps 100,300,1000
"""

import argparse
import datetime
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from lookup_bench import _id_map, _zipf_sampler  # noqa: E402  pylint: disable=wrong-import-position

DIM = 16
LR = 0.05


def generate(args):
    """[steps, batch, tables] int64 ids: Zipf ranks scattered over int64, per table."""
    rng = np.random.default_rng(args.seed)
    n_steps = args.warmup + args.steps
    ids = np.empty((n_steps, args.batch_size, args.tables), np.int64)
    with np.errstate(over="ignore"):
        scatter = _id_map(args.vocab * args.tables).reshape(args.tables, args.vocab)
    draw = _zipf_sampler(args.vocab, args.zipf)
    for t in range(args.tables):
        ranks = draw(rng, n_steps * args.batch_size).reshape(n_steps, args.batch_size)
        ids[:, :, t] = scatter[t][ranks]
    labels = (rng.random((n_steps, args.batch_size, 1)) < 0.3).astype(np.float32)
    return ids, labels


def run_config(tf, args, ids, labels, hot_fraction, refresh_steps):
    """Trains one configuration; returns its measurements."""
    # pylint: disable=import-outside-toplevel
    from mx_rec.core.embedding import create_table, sparse_lookup
    from mx_rec.optimizers import adagrad, minimize
    from mx_rec.util.initialize import init, terminate_config_initializer
    device = max(int(args.device_frac * args.vocab), args.batch_size)
    hot = {} if hot_fraction == 0 else dict(
        hot_embedding=True, hot_vocabulary_size=max(1, int(hot_fraction * device)),
        hot_refresh_steps=refresh_steps)
    with tf.Graph().as_default():
        init(use_dynamic=True, use_dynamic_expansion=False)
        hash_opt = adagrad.create_hash_optimizer(LR, initial_accumulator_value=0.1)
        ph_ids = tf.compat.v1.placeholder(tf.int64, [args.batch_size, args.tables])
        ph_labels = tf.compat.v1.placeholder(tf.float32, [args.batch_size, 1])
        tables, embs = [], []
        for t in range(args.tables):
            table = create_table(tf.int64, DIM, "hot%d" % t,
                                 tf.compat.v1.random_uniform_initializer(-0.05, 0.05, seed=t),
                                 device, host_vocabulary_size=args.vocab,
                                 cache_policy=args.policy, **hot)
            tables.append(table)
            embs.append(sparse_lookup(table, ph_ids[:, t], name="lookup%d" % t))
        logits = tf.compat.v1.layers.dense(tf.concat(embs, axis=1), 1, name="head")
        loss = tf.reduce_mean(
            tf.nn.sigmoid_cross_entropy_with_logits(labels=ph_labels, logits=logits))
        dense_opt = tf.compat.v1.train.AdagradOptimizer(LR, initial_accumulator_value=0.1)
        train_op = minimize(loss, dense_opt, hash_opt,
                            var_list=tf.compat.v1.trainable_variables())
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                          inter_op_parallelism_threads=1)
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())

            def step(s):
                return sess.run([train_op, loss], {ph_ids: ids[s], ph_labels: labels[s]})[1]

            for s in range(args.warmup):
                step(s)
            before = [t.stats(sess) for t in tables]  # state belongs to the session
            wall, cpu = time.perf_counter(), time.process_time()
            for s in range(args.warmup, args.warmup + args.steps):
                last_loss = step(s)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            after = [t.stats(sess) for t in tables]
        terminate_config_initializer()

    def delta(name):
        return sum(a[name] - b[name] for a, b in zip(after, before))
    lookups = max(delta("hits") + delta("misses"), 1)
    return {
        "hot_rows": hot.get("hot_vocabulary_size", 0),
        "swaps": (delta("loads") + delta("evictions")) / args.steps,
        "loads": delta("loads") / args.steps,
        "new": delta("new_keys") / args.steps,
        "unique": lookups / args.steps,
        "hit_rate": delta("hits") / lookups,
        "hot_hit_rate": delta("hot_hits") / lookups,
        "hot_keys": sum(a["hot_keys"] for a in after),
        "sps": args.steps * args.batch_size / wall,
        "sps_cpu": args.steps * args.batch_size / cpu,
        "loss": float(last_loss),
    }


def _label(fraction, refresh_steps):
    if fraction == 0:
        return "off"
    return "on, %.2f x device%s" % (
        fraction, "" if refresh_steps is None else ", refresh %d" % refresh_steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 tables x 200K ids, 50 + 150 steps")
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=1_000_000, help="ids per table")
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--zipf", type=float, default=1.05)
    ap.add_argument("--device-frac", type=float, default=0.10,
                    help="device rows per table as a fraction of its ids (at least one batch)")
    ap.add_argument("--hot-fractions", default="0.25,0.5,0.75",
                    help="hot_vocabulary_size / device rows of the hot-on runs")
    ap.add_argument("--refresh-steps", default=None,
                    help="hot_refresh_steps of the hot-on runs, comma-separated for a sweep "
                         "(default: create_table's)")
    ap.add_argument("--policy", default="LRU", choices=["LRU", "LFU"], help="cache_policy")
    ap.add_argument("--warmup", type=int, default=200, help="untimed steps (tables fill)")
    ap.add_argument("--steps", type=int, default=600, help="timed steps")
    ap.add_argument("--repeats", type=int, default=2, help="runs of every configuration")
    ap.add_argument("--seed", type=int, default=20261123)
    args = ap.parse_args()
    if args.quick:
        args.tables, args.vocab, args.warmup, args.steps, args.repeats = 2, 200_000, 50, 150, 1
    fractions = [float(f) for f in args.hot_fractions.split(",") if f]
    if any(not 0 < f < 1 for f in fractions):
        ap.error("--hot-fractions must be in (0, 1)")
    refreshes = [int(r) for r in args.refresh_steps.split(",")] if args.refresh_steps else [None]

    t0 = time.time()
    ids, labels = generate(args)
    device = max(int(args.device_frac * args.vocab), args.batch_size)
    print("# hot_bench %s: %d DDR tables x %s ids (device %s rows, host all), Zipf(%.2f), "
          "batch %d, cache_policy %s, %d warm-up + %d timed steps, %d repeats; data %.1fs"
          % (datetime.date.today(), args.tables, "{:,}".format(args.vocab),
             "{:,}".format(device), args.zipf, args.batch_size, args.policy, args.warmup,
             args.steps, args.repeats, time.time() - t0), flush=True)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.compat.v1.disable_eager_execution()
    configs = [(0.0, None)] + [(f, r) for f in fractions for r in refreshes]
    runs = {c: [] for c in configs}
    for repeat in range(args.repeats):
        for config in configs:
            r = run_config(tf, args, ids, labels, *config)
            runs[config].append(r)
            print("  run %d, %s: %.2f swaps/step, %.0f samples/s"
                  % (repeat + 1, _label(*config), r["swaps"], r["sps"]), flush=True)
    results = []
    for config in configs:
        first = runs[config][0]
        assert all(r["swaps"] == first["swaps"] and r["hot_hit_rate"] == first["hot_hit_rate"]
                   for r in runs[config]), "counters differ between repeats"
        r = dict(first)
        for key in ("sps", "sps_cpu"):
            r[key] = float(np.median([x[key] for x in runs[config]]))
        results.append((config, r))

    off = results[0][1]
    print("\n| hot embedding | hot rows / table | swaps / step | of which loads | new keys / step "
          "| unique keys / step | device hit rate | hot hit rate | hot keys (end) | samples/s "
          "| vs off | samples per CPU-s | final loss |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for config, r in results:
        print("| %s | %s | %.1f (%+.1f%%) | %.1f | %.1f | %.1f | %.4f | %.4f | %s | %.0f | %.2fx "
              "| %.0f | %.4f |"
              % (_label(*config),
                 "{:,}".format(r["hot_rows"]), r["swaps"],
                 100.0 * (r["swaps"] - off["swaps"]) / max(off["swaps"], 1e-9), r["loads"],
                 r["new"], r["unique"], r["hit_rate"], r["hot_hit_rate"],
                 "{:,}".format(r["hot_keys"]), r["sps"], r["sps"] / off["sps"], r["sps_cpu"],
                 r["loss"]))


if __name__ == "__main__":
    main()
