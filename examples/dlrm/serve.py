"""Score the eval rows with an exported DLRM, in plain TensorFlow (no mx_rec).

    python serve.py --export-dir EXPORT_BASE_OR_DIR [--data ... --eval-data ... --eval-rows N]

Takes the same data arguments as train.py and picks the same eval rows, so
its "eval AUC" line matches the one train.py printed for the exported model.
mx_rec is made unimportable first: the export must serve without it.
"""
import argparse
import os
import sys

sys.modules["mx_rec"] = None  # prove the export needs no mx_rec
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "common"))  # modules shared by the examples

import criteo  # noqa: E402
import sample  # noqa: E402
from metrics import log_loss, roc_auc  # noqa: E402


def newest_export(path):
    """path itself when it holds a SavedModel, else its newest <timestamp> subdirectory."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    stamps = sorted((d for d in os.listdir(path) if d.isdigit()), key=int) \
        if os.path.isdir(path) else []
    if not stamps:
        sys.exit("error: --export-dir %r holds no export" % path)
    return os.path.join(path, stamps[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--export-dir", required=True)
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "data", "criteo",
                                                  "criteo_kaggle_train_head10800.txt"))
    p.add_argument("--eval-data", default=None)
    p.add_argument("--eval-rows", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=512)
    args = p.parse_args()
    path = newest_export(args.export_dir)
    _, rows, _ = sample.split_train_eval(args.data, args.eval_rows, args.eval_data)
    predict = tf.saved_model.load(path).signatures["serving_default"]
    inputs = criteo.serving_inputs(rows)
    n = rows["label"].shape[0]
    probs = np.concatenate([
        predict(**{k: tf.constant(v[i:i + args.batch_size]) for k, v in inputs.items()})
        ["prob"].numpy() for i in range(0, n, args.batch_size)])
    labels = rows["label"][:, 0]
    print("served %s" % path)
    print("eval rows %d  logloss %.4f" % (n, log_loss(labels, probs)))
    print("eval AUC: %.4f" % roc_auc(labels, probs))


if __name__ == "__main__":
    main()
