"""Train the MMoE on Census-Income (income and marital status) with mx_rec.

Reads census.py's output directory (TFRecords + census_meta.json), trains
in tf.compat.v1 graph mode with a plain Session, evaluates on the test
TFRecord several times (the AUC curve) and at the end, then prints the AUC
and log loss per task and writes ``metrics.json`` and ``curves.png`` to
--output_dir.

    python train.py --data_dir OUT --output_dir OUT [--epochs 8 --batch_size 256]
    python train.py --data_dir OUT --reference 1    # the plain-TF model

``--reference 1`` trains the same model with the categorical rows in an
ordinary variable (tf.nn.embedding_lookup) and TF's Adam: no mx_rec at all.
mx_rec must be importable otherwise (see run.sh, which sets it up).
"""
import argparse
import os
import sys
import time

PROCESS_START = time.time()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

# This example's modules come from the script's directory (sys.path[0]),
# the ones shared by the examples from ../common.
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))

import census  # noqa: E402
import dataset  # noqa: E402
import embeddings  # noqa: E402
import schema  # noqa: E402
from metrics import log_loss, roc_auc  # noqa: E402
from model import EMBEDDING_DIM, TASKS, MMoE, loss_fn  # noqa: E402
from progress import Progress  # noqa: E402
from rank_table import rank_count  # noqa: E402
from report import plot_curves, write_metrics  # noqa: E402

CACHE_MODES = ("HBM", "DDR", "SSD")
KEY_MODES = ("feature_spec", "modify_graph", "in_step")
# The accuracy bar of the full run (README), drawn on the AUC plots.
TARGET_AUC = {"income": 0.945, "marital": 0.994}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data_dir", required=True, help="census.py's --output_path")
    p.add_argument("--output_dir", required=True, help="for metrics.json and curves.png")
    p.add_argument("--epochs", type=float, default=3.0, help="passes over the training rows")
    p.add_argument("--steps", type=int, default=0, help="training steps (instead of --epochs)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--eval_batch_size", type=int, default=0,
                   help="rows per eval step (default: --batch_size, so an eval batch fits "
                        "in the device rows as a training batch does)")
    p.add_argument("--evals", type=int, default=8,
                   help="evaluations on the test rows, evenly spaced (the last at the end)")
    p.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate (both optimizers)")
    p.add_argument("--emb_init_stddev", type=float, default=0.0,
                   help="initial table rows ~ N(0, this), truncated; 0 (default): zeros, so "
                        "every way of storing the rows starts from the same model")
    p.add_argument("--reference", type=int, choices=(0, 1), default=0,
                   help="1: the plain-TF model (ordinary variable, no mx_rec)")
    p.add_argument("--cache_mode", default="HBM", choices=CACHE_MODES,
                   help="HBM (device rows only), DDR (device rows cache a host tier) or SSD "
                        "(and the host tier spills to RocksDB)")
    p.add_argument("--device_vocab_size", type=int, default=1024, help="device rows of the table")
    p.add_argument("--host_vocab_size", type=int, default=1024, help="host rows (DDR, SSD)")
    p.add_argument("--ssd_vocab_size", type=int, default=1 << 16, help="SSD rows (SSD)")
    p.add_argument("--ssd_data_path", default=None,
                   help="SSD tier directory (default: a temporary one, removed at the end)")
    p.add_argument("--use_dynamic", type=int, choices=(0, 1), default=1,
                   help="1: dynamic shape lookups, 0: static (send_count)")
    p.add_argument("--use_dynamic_expansion", type=int, choices=(0, 1), default=0,
                   help="1: the table starts at --device_vocab_size rows and grows")
    p.add_argument("--multi_lookup", type=int, choices=(0, 1), default=0,
                   help="1: two lookups of the one table per step")
    p.add_argument("--key_mode", default="feature_spec", choices=KEY_MODES)
    p.add_argument("--faae", type=int, choices=(0, 1), default=0, help="feature admission and eviction")
    p.add_argument("--access_threshold", type=int, default=2,
                   help="FAAE: occurrences before a category gets a row")
    p.add_argument("--eviction_threshold", type=int, default=1000,
                   help="FAAE: global steps a category may go unseen")
    p.add_argument("--evict_step_interval", type=int, default=1000,
                   help="FAAE: global steps between evictions")
    p.add_argument("--rank_table", default="", help="rank table; read only for its rank count")
    p.add_argument("--log_every", type=int, default=500, help="steps between progress lines")
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2, help="TF intra/inter op threads")
    return p.parse_args(argv)


def check_args(args):
    try:
        ranks = rank_count(args.rank_table)
    except ValueError as e:
        sys.exit("error: %s" % e)
    if ranks != 1:
        sys.exit("error: the rank table describes %d ranks; this example runs one process "
                 "(rank 0) only" % ranks)
    args.eval_batch_size = args.eval_batch_size or args.batch_size
    for name in ("batch_size", "eval_batch_size", "evals", "log_every", "device_vocab_size"):
        if getattr(args, name) <= 0:
            sys.exit("error: --%s must be positive" % name)
    if args.steps < 0 or args.epochs <= 0:
        sys.exit("error: --steps must be >= 0 and --epochs > 0")


def total_steps(args, meta):
    if args.steps:
        return args.steps
    return max(1, int(round(args.epochs * meta["rows"]["train"] / args.batch_size)))


def make_embeddings(args, meta, groups):
    emb_init = embeddings.initializer(args.emb_init_stddev, args.seed + 1000)
    if args.reference:
        return embeddings.DenseEmbeddings(meta["vocabulary_size"], EMBEDDING_DIM, emb_init,
                                          groups)
    ddr = args.cache_mode in ("DDR", "SSD")
    # Static shapes: a batch holds at most every id there is and, with a host
    # tier, at most the device rows.
    send_cap = min(meta["vocabulary_size"], args.device_vocab_size) if ddr \
        else meta["vocabulary_size"]
    return embeddings.MxRecEmbeddings(
        groups, EMBEDDING_DIM, emb_init, args.lr, args.device_vocab_size,
        host_vocabulary_size=args.host_vocab_size if ddr else 0,
        ssd_vocabulary_size=args.ssd_vocab_size if args.cache_mode == "SSD" else 0,
        ssd_data_path=args.ssd_data_path, key_mode=args.key_mode,
        send_cap=None if args.use_dynamic else send_cap,
        access_threshold=args.access_threshold if args.faae else None,
        eviction_threshold=args.eviction_threshold if args.faae else None)


def build_graph(args, meta):
    """Training and eval ops on the default graph; returns them in a dict."""
    groups = embeddings.id_groups(args.multi_lookup)
    tf.compat.v1.set_random_seed(args.seed)
    emb = make_embeddings(args, meta, groups)
    model = MMoE(len(schema.NUMERIC), args.seed)
    global_step = tf.compat.v1.train.get_or_create_global_step()  # the FAAE clock

    train_ds = dataset.make_dataset(os.path.join(args.data_dir, census.TRAIN_FILE),
                                    args.batch_size, groups, shuffle=True, repeat=True,
                                    seed=args.seed, insert_func=emb.insert_func(True))
    batch = tf.compat.v1.data.make_one_shot_iterator(train_ds).get_next()
    logits = model.logits(batch["dense"], emb.sparse_sum(batch, True, args.batch_size))
    loss = loss_fn(logits, batch)
    train_op = emb.minimize(loss, tf.compat.v1.train.AdamOptimizer(args.lr), global_step)

    eval_ds = dataset.make_dataset(os.path.join(args.data_dir, census.TEST_FILE),
                                   args.eval_batch_size, groups,
                                   insert_func=emb.insert_func(False))
    eval_iter = tf.compat.v1.data.make_initializable_iterator(eval_ds)
    e_batch = eval_iter.get_next()
    e_logits = model.logits(e_batch["dense"],
                            emb.sparse_sum(e_batch, False, args.eval_batch_size))
    # Fetched through ops of the graph, not as the iterator's raw outputs:
    # automatic graph modification reroutes ops, not raw outputs.
    eval_fetches = {task: (tf.sigmoid(e_logits[task]), tf.identity(e_batch[task]))
                    for task in TASKS}
    evict = None
    if args.faae and not args.reference:
        from mx_rec.core.feature_process import evict_op
        evict = evict_op()
    emb.finish_graph()
    return {"train_op": train_op, "loss": loss, "eval_iter": eval_iter,
            "eval_fetches": eval_fetches, "evict": evict, "embeddings": emb}


def evaluate(sess, graph):
    """{task: {"auc": ..., "logloss": ...}} over every test row."""
    sess.run(graph["eval_iter"].initializer)
    probs = {task: [] for task in TASKS}
    labels = {task: [] for task in TASKS}
    while True:
        try:
            out = sess.run(graph["eval_fetches"])
        except tf.errors.OutOfRangeError:
            break
        for task, (p, l) in out.items():
            probs[task].append(p)
            labels[task].append(l)
    result = {}
    for task in TASKS:
        p, l = np.concatenate(probs[task]), np.concatenate(labels[task])
        result[task] = {"auc": roc_auc(l, p), "logloss": log_loss(l, p)}
    return result


def eval_steps(steps, evals):
    """Steps after which to evaluate: evenly spaced, the last one at the end."""
    return sorted({max(1, int(round(steps * k / float(evals)))) for k in range(1, evals + 1)})


def report_tables(args, graph, sess, evicted):
    """Tier and admission counters of the mx_rec table: rows did move."""
    if args.reference:
        return {}
    stats = graph["embeddings"].table.stats(sess)
    if args.cache_mode != "HBM":
        looked_up = max(1, stats["hits"] + stats["misses"])
        print("tiers: %d keys on device, %d on host; %d evictions (device->host), %d loads "
              "(host->device), device hit rate %.3f" % (
                  stats["device_keys"], stats["host_keys"], stats["evictions"], stats["loads"],
                  stats["hits"] / float(looked_up)))
    if args.cache_mode == "SSD":
        print("ssd:   %d keys on SSD; %d demotions (host->SSD), %d loads from SSD" % (
            stats["ssd_keys"], stats["demotions"], stats["ssd_loads"]))
    if args.faae:
        print("faae: %d keys admitted, %d counted; %d lookups of keys not admitted yet; "
              "%d stale keys evicted" % (
                  stats["device_keys"] + stats["host_keys"] + stats["ssd_keys"],
                  stats["admission_keys"], stats["rejected"], evicted))
    return {k: int(v) for k, v in stats.items() if np.isscalar(v)}


def describe(args, meta, steps):
    storage = ("plain TF (tf.nn.embedding_lookup on a [%d, %d] variable, TF Adam); mx_rec "
               "switches do not apply" % (meta["vocabulary_size"], EMBEDDING_DIM)) \
        if args.reference else (
            "mx_rec table %r (dim %d, lazy Adam): cache %s, device rows %d%s%s, dynamic shape "
            "%d, dynamic expansion %d, multi-lookup %d, keys %s, FAAE %d" % (
                embeddings.TABLE_NAME, EMBEDDING_DIM, args.cache_mode, args.device_vocab_size,
                ", host rows %d" % args.host_vocab_size if args.cache_mode != "HBM" else "",
                ", SSD rows %d" % args.ssd_vocab_size if args.cache_mode == "SSD" else "",
                args.use_dynamic, args.use_dynamic_expansion, args.multi_lookup,
                args.key_mode, args.faae))
    return ("config: %d steps = %.2f epochs of %d rows, batch %d, Adam lr %g, emb init "
            "stddev %g, seed %d; %s" % (
                steps, steps * args.batch_size / float(meta["rows"]["train"]),
                meta["rows"]["train"], args.batch_size, args.lr, args.emb_init_stddev,
                args.seed, storage))


def train(args, meta):
    steps = total_steps(args, meta)
    print(describe(args, meta, steps))
    sys.stdout.flush()
    graph = build_graph(args, meta)
    config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=args.threads,
                                      inter_op_parallelism_threads=args.threads)
    auc_curves = {task: [] for task in TASKS}
    evicted = 0
    with tf.compat.v1.Session(config=config) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(tf.compat.v1.local_variables_initializer())
        progress = Progress(steps, args.batch_size, args.log_every)
        checkpoints = eval_steps(steps, args.evals)
        for step in range(1, steps + 1):
            _, loss = sess.run([graph["train_op"], graph["loss"]])
            if not np.isfinite(loss):
                sys.exit("error: loss is %r at step %d" % (loss, step))
            progress.step(step, loss)
            if graph["evict"] is not None and step % args.evict_step_interval == 0:
                evicted += int(sess.run(graph["evict"]))
            if step in checkpoints:
                with progress.paused():
                    result = evaluate(sess, graph)
                for task in TASKS:
                    auc_curves[task].append((step, result[task]["auc"]))
                print("eval at step %d: %s" % (step, "  ".join(
                    "%s AUC %.4f" % (task, result[task]["auc"]) for task in TASKS)))
        tables = report_tables(args, graph, sess, evicted)
    return {"steps": steps, "eval": result, "auc_curves": auc_curves,
            "loss_curve": progress.history, "train_seconds": progress.train_seconds,
            "table_stats": tables}


def main(argv=None):
    args = parse_args(argv)
    check_args(args)
    try:
        meta = census.load_meta(args.data_dir)
    except FileNotFoundError as e:
        sys.exit("error: %s" % e)
    if args.reference:
        run = train(args, meta)
    else:
        from mx_rec.util.initialize import init, terminate_config_initializer
        init(use_dynamic=bool(args.use_dynamic),
             use_dynamic_expansion=bool(args.use_dynamic_expansion))
        try:
            run = train(args, meta)
        finally:
            terminate_config_initializer()

    final = run["eval"]
    for task in TASKS:
        print("eval %-7s AUC %.4f  logloss %.4f  (%d test rows)" % (
            task, final[task]["auc"], final[task]["logloss"], meta["rows"]["test"]))
    mean_logloss = sum(final[task]["logloss"] for task in TASKS) / len(TASKS)
    print("eval logloss (mean of the tasks) %.4f" % mean_logloss)
    times = {"wall_seconds": time.time() - PROCESS_START, "cpu_seconds": time.process_time(),
             "train_seconds": run["train_seconds"]}
    print("time: %.1f s wall, %.1f s CPU (this process, from its start; training steps "
          "%.1f s)" % (times["wall_seconds"], times["cpu_seconds"], times["train_seconds"]))

    metrics = {"auc_%s" % task: final[task]["auc"] for task in TASKS}
    metrics.update(("logloss_%s" % task, final[task]["logloss"]) for task in TASKS)
    metrics["logloss"] = mean_logloss
    write_metrics(os.path.join(args.output_dir, "metrics.json"), {
        "metrics": metrics, "config": vars(args), "steps": run["steps"],
        "rows": meta["rows"], "data": meta["source"],
        "time": times,
        "curves": {"train_loss": run["loss_curve"], "eval_auc": run["auc_curves"]},
        "table_stats": run["table_stats"]})
    title = "MMoE on Census-Income, %s: income AUC %.4f, marital AUC %.4f" % (
        "plain TF" if args.reference else "mx_rec %s" % args.cache_mode,
        final["income"]["auc"], final["marital"]["auc"])
    plot_curves(os.path.join(args.output_dir, "curves.png"), title, run["loss_curve"],
                run["auc_curves"], TARGET_AUC)
    print("wrote %s and %s" % (os.path.join(args.output_dir, "metrics.json"),
                               os.path.join(args.output_dir, "curves.png")))


if __name__ == "__main__":
    main()
