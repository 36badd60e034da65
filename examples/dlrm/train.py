"""Train DLRM on Criteo-format data with mx_rec embedding tables.

Graph mode (tf.compat.v1) with a plain Session. Two ways to read the data:

* small files (default, sample.py): repeated rows of --data are dropped, the
  last --eval-rows distinct rows are held out (or --eval-data is used) and
  scored at the end ("eval AUC: ..."); the rest train the model, in memory.
* big files, --stream 1 (stream.py): --data (Kaggle TSV or convert.py's
  TFRecord) is streamed --epochs times through a --shuffle-buffer, then all
  of --eval-data is scored. Nothing is held in memory.

    python train.py --data ../../data/criteo/criteo_kaggle_train_head10800.txt
    python train.py --stream 1 --data train.tsv --eval-data eval.tsv \\
        --batch-size 1024 --planted planted.json      # synthetic.py's output

mx_rec must be importable (see ../../run.sh, which sets it up).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "common"))  # modules shared by the examples

import criteo  # noqa: E402
from inputs import make_inputs  # noqa: E402
from metrics import log_loss, roc_auc  # noqa: E402
from model import DLRM, loss_fn  # noqa: E402
from rank_table import rank_count  # noqa: E402

KNOWN_CACHE_MODES = ("HBM", "DDR", "SSD")
SPARSE_OPTIMIZERS = ("lazy_adam", "adagrad", "gradient_descent", "ftrl")
KEY_MODES = ("feature_spec", "modify_graph", "in_step")
DEFAULT_DATA = os.path.join(HERE, "..", "..", "data", "criteo",
                            "criteo_kaggle_train_head10800.txt")


def str2bool(v):
    if isinstance(v, bool):
        return v
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off", ""):
        return False
    raise argparse.ArgumentTypeError("expected 0/1, got %r" % v)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=DEFAULT_DATA,
                   help="raw Criteo files (label, I1..I13, C1..C26), "
                        "comma-separated; with --stream 1 also TFRecord "
                        "(*.tfrecord, convert.py)")
    p.add_argument("--stream", type=str2bool, default=False,
                   help="1: stream --data and --eval-data from disk (big "
                        "files); 0: read them into memory (small samples)")
    p.add_argument("--epochs", type=int, default=1,
                   help="--stream 1: passes over --data (0: without end)")
    p.add_argument("--shuffle-buffer", type=int, default=100000,
                   help="--stream 1: rows shuffled at once (0: file order)")
    p.add_argument("--steps", type=int, default=None,
                   help="training steps (default 300; with --stream 1: "
                        "until --epochs passes end, or at most this many)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--eval-batch-size", type=int, default=100)
    p.add_argument("--dim", type=int, default=16, help="embedding dim")
    p.add_argument("--lr", type=float, default=0.001,
                   help="learning rate of the dense optimizer (and of the "
                        "sparse one without --sparse-lr)")
    p.add_argument("--sparse-lr", type=float, default=None,
                   help="learning rate of the tables' hash optimizer")
    p.add_argument("--sparse-optimizer", default="lazy_adam",
                   choices=SPARSE_OPTIMIZERS)
    p.add_argument("--eval-data", default=None,
                   help="raw Criteo files to evaluate on; without it the "
                        "last --eval-rows distinct rows of --data are held "
                        "out (required with --stream 1)")
    p.add_argument("--planted", default="",
                   help="synthetic.py's planted.json: also print the planted "
                        "model's own AUC on the eval rows and the gap")
    p.add_argument("--eval-rows", type=int, default=100,
                   help="distinct rows held out for eval (with --eval-data: "
                        "rows of it to use, 0 = all)")
    p.add_argument("--cache-mode", default="HBM",
                   help="HBM (device rows only), DDR (device rows cache a "
                        "host tier) or SSD (and the host tier spills to SSD)")
    p.add_argument("--host-vocab-size", type=int, default=4096,
                   help="host (DDR) rows per feature table in DDR/SSD mode")
    p.add_argument("--ssd-vocab-size", type=int, default=1 << 20,
                   help="SSD rows per feature table in SSD mode")
    p.add_argument("--ssd-data-path", default=None,
                   help="directory for the SSD tier (default: a fresh "
                        "temporary directory, removed at the end)")
    p.add_argument("--device-vocab-size", type=int, default=1024,
                   help="device rows per feature table")
    p.add_argument("--use-dynamic", type=str2bool, default=True,
                   help="1: dynamic shape lookups, 0: static (send_count)")
    p.add_argument("--use-dynamic-expansion", type=str2bool, default=False)
    p.add_argument("--multi-lookup", type=str2bool, default=False,
                   help="C1 and C2 share one table (two lookups on it)")
    p.add_argument("--key-mode", default="feature_spec", choices=KEY_MODES,
                   help="feature_spec: key work in tf.data via FeatureSpecs "
                        "and get_asc_insert_func; modify_graph: plain "
                        "lookups, moved into tf.data by "
                        "modify_graph_and_start_emb_cache(); in_step: key "
                        "work inside the training step")
    p.add_argument("--faae", type=str2bool, default=False,
                   help="feature admission and eviction")
    p.add_argument("--access-threshold", type=int, default=2,
                   help="FAAE: occurrences before a key gets a row")
    p.add_argument("--eviction-threshold", type=int, default=100,
                   help="FAAE: global steps a key may go unseen")
    p.add_argument("--evict-step-interval", type=int, default=100,
                   help="FAAE: global steps between evictions")
    p.add_argument("--rank-table", default="",
                   help="HCCL rank table json; only read for the rank count")
    p.add_argument("--model-dir", default="",
                   help="save a checkpoint (dense variables and every table) "
                        "here after training")
    p.add_argument("--restore", type=str2bool, default=False,
                   help="1: start from the newest checkpoint in --model-dir "
                        "(then --steps may be 0: only evaluate)")
    p.add_argument("--export-dir", default="",
                   help="export the trained model for serving under this "
                        "directory (a stock-TF SavedModel in a new "
                        "<timestamp> subdirectory; needs --model-dir); "
                        "serve.py loads it without mx_rec")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--threads", type=int, default=2,
                   help="TF intra/inter op threads (0 = TF default)")
    return p.parse_args(argv)


def check_args(args):
    mode = args.cache_mode.upper()
    if mode not in KNOWN_CACHE_MODES:
        sys.exit("error: unknown cache mode %r (HBM, DDR or SSD)"
                 % args.cache_mode)
    args.cache_mode = mode
    ranks = rank_count(args.rank_table)
    if ranks != 1:
        print("error: the rank table describes %d ranks; this example runs "
              "one process (rank 0) only" % ranks, file=sys.stderr)
        sys.exit(2)
    if args.steps is None:
        args.steps = 0 if args.stream else 300
    if args.steps < (0 if args.restore or args.stream else 1) or args.batch_size <= 0 or \
            args.eval_batch_size <= 0:
        sys.exit("error: --steps (>= 0 with --restore or --stream 1) and batch sizes must "
                 "be positive")
    if args.stream:
        if not args.eval_data:
            sys.exit("error: --stream 1 needs --eval-data (no rows are held out of a stream)")
        if args.epochs < 0 or args.shuffle_buffer < 0:
            sys.exit("error: --epochs and --shuffle-buffer must be >= 0")
    if args.sparse_lr is None:
        args.sparse_lr = args.lr
    if args.export_dir and not args.model_dir:
        sys.exit("error: --export-dir exports a checkpoint: give --model-dir")
    if args.restore:
        if not args.model_dir:
            sys.exit("error: --restore needs --model-dir")
        if tf.train.latest_checkpoint(args.model_dir) is None:
            sys.exit("error: --model-dir %r holds no checkpoint to restore"
                     % args.model_dir)


def make_sparse_optimizer(name, lr):
    if name == "lazy_adam":
        from mx_rec.optimizers.lazy_adam import create_hash_optimizer
    elif name == "adagrad":
        from mx_rec.optimizers.adagrad import create_hash_optimizer
    elif name == "gradient_descent":
        from mx_rec.optimizers.gradient_descent import create_hash_optimizer
    else:
        from mx_rec.optimizers.ftrl import create_hash_optimizer
    return create_hash_optimizer(learning_rate=lr)


def main(argv=None):
    args = parse_args(argv)
    check_args(args)

    from mx_rec.util.initialize import init, terminate_config_initializer

    try:
        data = make_inputs(args)
    except ValueError as e:
        sys.exit("error: %s" % e)
    except tf.errors.InvalidArgumentError as e:
        sys.exit("error: %s" % criteo.input_error(e))
    print("\n".join(data.lines))
    print("config: steps %s, batch %d (%s), dim %d, lr %g, sparse lr %g, "
          "sparse optimizer %s, cache %s, dynamic shape %d, "
          "dynamic expansion %d, multi-lookup %d, device vocab %d/table, "
          "keys %s, FAAE %d" % (
              args.steps or "all", args.batch_size, data.passes, args.dim,
              args.lr, args.sparse_lr, args.sparse_optimizer, args.cache_mode,
              args.use_dynamic, args.use_dynamic_expansion,
              args.multi_lookup, args.device_vocab_size, args.key_mode,
              args.faae))
    sys.stdout.flush()

    tf.compat.v1.set_random_seed(args.seed)
    init(use_dynamic=args.use_dynamic,
         use_dynamic_expansion=args.use_dynamic_expansion)
    try:
        _train_and_eval(args, data)
    except tf.errors.InvalidArgumentError as e:
        sys.exit("error: %s" % criteo.input_error(e))
    finally:
        terminate_config_initializer()


def _train_and_eval(args, data):
    from mx_rec.core.asc.helper import get_asc_insert_func
    from mx_rec.core.asc.manager import start_asc_pipeline
    from mx_rec.core.feature_process import evict_op
    from mx_rec.optimizers import minimize
    from embeddings import create_tables, feature_specs, lookup_all
    sparse_opt = make_sparse_optimizer(args.sparse_optimizer, args.sparse_lr)
    host_rows = args.host_vocab_size if args.cache_mode in ("DDR", "SSD") else 0
    ssd_rows = args.ssd_vocab_size if args.cache_mode == "SSD" else 0
    tables = create_tables(args.dim, args.device_vocab_size,
                           multi_lookup=args.multi_lookup,
                           host_vocabulary_size=host_rows,
                           ssd_vocabulary_size=ssd_rows,
                           ssd_data_path=args.ssd_data_path)
    specs = feature_specs(
        tables, args.access_threshold if args.faae else None,
        args.eviction_threshold if args.faae else None)
    model = DLRM(criteo.NUM_DENSE, criteo.NUM_SPARSE, args.dim)

    def inserter(is_training):
        if args.key_mode != "feature_spec":
            return None
        return get_asc_insert_func(list(specs.values()), is_training=is_training)

    # Training graph. The global step is the FAAE clock.
    global_step = tf.compat.v1.train.get_or_create_global_step()
    batch = tf.compat.v1.data.make_one_shot_iterator(data.train(inserter(True))).get_next()
    embs = lookup_all(tables, batch, True, args.use_dynamic, args.batch_size,
                      args.key_mode, specs)
    loss = loss_fn(model.logits(batch["dense"], embs), batch["label"])
    dense_opt = tf.compat.v1.train.AdamOptimizer(args.lr)
    # One backward pass for the dense layers and the table rows.
    train_op = minimize(loss, dense_opt, sparse_opt, global_step=global_step)
    evict = evict_op() if args.faae else None

    # Eval graph: same variables, lookups that insert nothing.
    eval_iter = tf.compat.v1.data.make_initializable_iterator(data.eval(inserter(False)))
    e_batch = eval_iter.get_next()
    e_embs = lookup_all(tables, e_batch, False, args.use_dynamic,
                        args.eval_batch_size, args.key_mode, specs)
    e_prob = tf.sigmoid(model.logits(e_batch["dense"], e_embs))
    # Fetched through an op of the graph rather than as the iterator's raw
    # output: automatic graph modification reroutes ops, not raw outputs.
    e_label = tf.identity(e_batch["label"])
    if args.key_mode == "modify_graph":
        from mx_rec.graph.modifier import modify_graph_and_start_emb_cache
        modify_graph_and_start_emb_cache()
    elif args.key_mode == "feature_spec":
        start_asc_pipeline()

    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.threads,
        inter_op_parallelism_threads=args.threads)
    saver = tf.compat.v1.train.Saver(max_to_keep=3)
    with tf.compat.v1.Session(config=config) as sess:
        if args.restore:
            path = tf.train.latest_checkpoint(args.model_dir)
            saver.restore(sess, path)
            print("restored %s (global step %d)" % (
                path, sess.run(global_step)))
        else:
            sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(tf.compat.v1.local_variables_initializer())

        steps, evicted = _train(args, sess, train_op, loss, evict)
        if args.model_dir and steps:
            path = saver.save(sess, os.path.join(args.model_dir, "model.ckpt"),
                              global_step=global_step)
            print("saved %s" % path)
        _evaluate(args, sess, eval_iter, e_prob, e_label, data.eval_count)
        # The tables' state belongs to this session: report before closing it.
        if args.faae:
            report_admission(tables, evicted, sess)
        if args.cache_mode in ("DDR", "SSD"):
            report_tiers(tables, sess)
    if args.export_dir:
        export(args, tables, specs)


def _train(args, sess, train_op, loss, evict):
    """Runs --steps training steps (--stream 1: until the data ends, at
    most --steps if given), printing a line every --log-every steps.
    Returns (steps run, keys evicted by FAAE)."""
    t_start = time.time()
    t_win, loss_win, n_win = t_start, 0.0, 0
    t_warm = None
    evicted = step = 0
    while step < args.steps or (args.stream and not args.steps):
        try:
            _, loss_v = sess.run([train_op, loss])
        except tf.errors.OutOfRangeError:
            break
        step += 1
        if not np.isfinite(loss_v):
            sys.exit("error: loss is %r at step %d" % (loss_v, step))
        if evict is not None and step % args.evict_step_interval == 0:
            evicted += sess.run(evict)
        loss_win += loss_v
        n_win += 1
        if step % args.log_every == 0 or step == args.steps:
            now = time.time()
            print("step %5d  loss %.4f  samples/s %8.1f" % (
                step, loss_win / n_win, n_win * args.batch_size / max(now - t_win, 1e-9)))
            sys.stdout.flush()
            t_win, loss_win, n_win = now, 0.0, 0
            if step == args.log_every:
                t_warm = now  # end of the first window (graph warm-up)
    elapsed = time.time() - t_start
    line = "trained %d steps (%d samples) in %.1f s: %.1f samples/s" % (
        step, step * args.batch_size, elapsed, step * args.batch_size / max(elapsed, 1e-9))
    if t_warm is not None and step > args.log_every:
        line += ", %.1f samples/s after step %d" % (
            (step - args.log_every) * args.batch_size
            / max(t_start + elapsed - t_warm, 1e-9), args.log_every)
    print(line)
    return step, evicted


def _evaluate(args, sess, eval_iter, e_prob, e_label, count):
    """Scores the eval rows (the first `count` predictions; None: all) and
    prints their log loss and AUC (and the planted model's, with --planted)."""
    sess.run(eval_iter.initializer)
    probs, labels = [], []
    while True:
        try:
            p, l = sess.run([e_prob, e_label])
        except tf.errors.OutOfRangeError:
            break
        probs.append(p)
        labels.append(l)
    probs = np.concatenate(probs)[:count]
    labels = np.concatenate(labels)[:count]
    auc = roc_auc(labels, probs)
    print("eval rows %d  logloss %.4f" % (labels.shape[0], log_loss(labels, probs)))
    print("eval AUC: %.4f" % auc)
    if args.planted:
        report_planted(args.planted, args.eval_data, labels.shape[0], auc)


def report_planted(path, eval_data, rows, auc):
    """Prints the planted model's AUC on the eval file (synthetic.py's
    planted.json) and the trained model's gap to it."""
    with open(path) as f:
        planted = json.load(f)["files"]["eval"]
    print("planted model's AUC on the eval rows: %.4f (%d rows of %s); trained - planted: "
          "%+.4f" % (planted["planted_auc"], planted["rows"], planted["path"],
                     auc - planted["planted_auc"]))
    if planted["rows"] != rows:
        print("warning: --planted describes %d eval rows, %s gave %d" % (
            planted["rows"], eval_data, rows))


def export(args, tables, specs):
    """Exports the newest checkpoint of --model-dir for serving."""
    from mx_rec.export import export_saved_model
    from embeddings import lookup_all

    def serving_model(features):
        # A new graph: the DLRM's variables are made again under the same
        # names and restored from the checkpoint; the tables are frozen.
        model = DLRM(criteo.NUM_DENSE, criteo.NUM_SPARSE, args.dim)
        embs = lookup_all(tables, features, False, True, 0, args.key_mode, specs)
        return {"prob": tf.sigmoid(model.logits(features["dense"], embs))[:, 0]}

    t_start = time.time()
    path = export_saved_model(args.export_dir, serving_model,
                              criteo.serving_features(),
                              checkpoint_path=args.model_dir)
    print("exported %s (%.1f s)" % (path, time.time() - t_start))


def _sum_stats(tables, sess):
    totals = {}
    for table in {t.name: t for t in tables.values()}.values():
        for key, value in table.stats(sess).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def report_admission(tables, evicted, sess):
    totals = _sum_stats(tables, sess)
    print("faae: %d keys admitted (hold rows), %d counted; %d lookups of keys "
          "not admitted yet; %d stale keys evicted" % (
              totals["device_keys"] + totals["host_keys"] + totals["ssd_keys"],
              totals["admission_keys"], totals["rejected"], evicted))


def report_tiers(tables, sess):
    """Sums the tier counters of every table: proof that rows really moved."""
    totals = _sum_stats(tables, sess)
    looked_up = max(1, totals["hits"] + totals["misses"])
    print("tiers: %d keys on device, %d on host; %d evictions (device->host), "
          "%d loads (host->device), device hit rate %.3f" % (
              totals["device_keys"], totals["host_keys"], totals["evictions"],
              totals["loads"], totals["hits"] / looked_up))
    if totals["ssd_writes"]:
        print("ssd:   %d keys on SSD; %d demotions (host->SSD), %d loads from "
              "SSD, %d rows read, %d written" % (
                  totals["ssd_keys"], totals["demotions"], totals["ssd_loads"],
                  totals["ssd_reads"], totals["ssd_writes"]))


if __name__ == "__main__":
    main()
