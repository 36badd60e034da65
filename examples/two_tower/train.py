"""Train the two-tower example on the bundled Criteo rows, then export it for serving.

    python train.py --work-dir /tmp/two_tower

writes into --work-dir: model/ (checkpoint), export/<timestamp>/ (the stock-TF
SavedModel: inputs user_id, user_group, item_id, item_category; outputs
user_emb, item_emb, score), items.csv and users.csv (every item and user of
the data, the --item_data / --user_data of mx_rec.tools.build_index). Prints
the loss, the eval AUC on the held-out rows and the export path.
mx_rec must be importable (see run.sh).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from mx_rec.export import export_saved_model  # noqa: E402
from mx_rec.optimizers import lazy_adam, minimize  # noqa: E402
from mx_rec.util.initialize import init, terminate_config_initializer  # noqa: E402

import data  # noqa: E402  (this example's modules, from HERE)
from model import TwoTower, create_tables  # noqa: E402

DATA_DIR = os.path.join(HERE, "..", "..", "data", "criteo")
TRAIN_DATA = os.path.join(DATA_DIR, "criteo_kaggle_train_head10800.txt")
EVAL_DATA = ",".join(os.path.join(DATA_DIR, f) for f in (
    "paddlerec_dnn_sample_train.txt", "paddlerec_dnn_sample_test.txt",
    "paddlerec_raw_sample_part-0.txt"))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--work-dir", required=True, help="new or empty directory for the outputs")
    p.add_argument("--data", default=TRAIN_DATA,
                   help="raw Criteo files to train on (comma-separated)")
    p.add_argument("--eval-data", default=EVAL_DATA, help="raw Criteo files to evaluate on")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dim", type=int, default=16, help="embedding and tower output width")
    p.add_argument("--lr", type=float, default=0.002, help="learning rate of both optimizers")
    p.add_argument("--device-vocab-size", type=int, default=4096, help="rows per table")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if os.path.isdir(args.work_dir) and os.listdir(args.work_dir):
        p.error(f"--work-dir '{args.work_dir}' is not empty")
    for name in ("steps", "batch_size", "dim", "device_vocab_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def roc_auc(labels, scores):
    """Share of (click, no click) pairs ranked right (ties count half)."""
    pos, neg = scores[labels > 0.5, None], scores[None, labels <= 0.5]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def train(args, tables, train_data, eval_data, checkpoint):
    """Trains, prints the loss and eval AUC, saves the checkpoint."""
    model = TwoTower(args.dim)
    batch = tf.compat.v1.data.make_one_shot_iterator(
        tf.data.Dataset.from_tensor_slices(train_data).shuffle(len(train_data["click"]),
                                                            seed=args.seed)
        .repeat().batch(args.batch_size)).get_next()
    logit = model(tables, batch, is_train=True)["logit"]
    loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["click"],
                                                                  logits=logit))
    train_op = minimize(loss, tf.compat.v1.train.AdamOptimizer(args.lr),
                        lazy_adam.create_hash_optimizer(args.lr))
    eval_feeds = {k: tf.constant(v) for k, v in eval_data.items() if k != "click"}
    eval_score = model(tables, eval_feeds, is_train=False)["score"]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        start, window = time.time(), []
        for step in range(1, args.steps + 1):
            window.append(sess.run([train_op, loss])[1])
            if step % 200 == 0 or step == args.steps:
                print(f"step {step:5d}  loss {np.mean(window):.4f}")
                window = []
        print(f"trained {args.steps} steps of {args.batch_size} in {time.time() - start:.1f} s")
        print(f"eval AUC: {roc_auc(eval_data['click'], sess.run(eval_score)):.4f} "
              f"({len(eval_data['click'])} held-out rows)")
        tf.compat.v1.train.Saver().save(sess, checkpoint)


def main(argv=None):
    args = parse_args(argv)
    tf.compat.v1.set_random_seed(args.seed)
    train_data = data.read(args.data.split(","))
    eval_data = data.read(args.eval_data.split(","))
    os.makedirs(args.work_dir, exist_ok=True)
    for name, fields in (("items", data.ITEM_FIELDS), ("users", data.USER_FIELDS)):
        count = data.write_catalog(os.path.join(args.work_dir, f"{name}.csv"),
                                   (train_data, eval_data), fields)
        print(f"{name}.csv: {count} {name}")
    init()
    try:
        tables = create_tables(args.dim, args.device_vocab_size)
        checkpoint = os.path.join(args.work_dir, "model", "model.ckpt")
        train(args, tables, train_data, eval_data, checkpoint)

        def serving_model(features):
            # A new graph: the towers' variables are made again under the
            # same names and restored; the tables are frozen.
            outputs = TwoTower(args.dim)(tables, features, is_train=False)
            return {k: outputs[k] for k in ("user_emb", "item_emb", "score")}

        path = export_saved_model(
            os.path.join(args.work_dir, "export"), serving_model,
            {f: tf.TensorSpec([], tf.int64) for f in data.USER_FIELDS + data.ITEM_FIELDS},
            checkpoint_path=checkpoint, placeholder_named_by_input=True)
        print(f"exported {path}")
    finally:
        terminate_config_initializer()


if __name__ == "__main__":
    main()
