"""Train, save and restore the two-table model of model_harness in every mode.

Run as a script, one phase per process:
  reference DIR N M   N + M steps in one session per variant  -> DIR/reference.json
  save      DIR N     N steps, then Saver().save per variant   -> DIR/<variant>/
  restore   DIR N M   Saver().restore, then steps N .. N+M     -> DIR/restored.json
The JSON files map each variant to its losses. A variant is cache mode (HBM,
DDR with a device tier far smaller than the keys, SSD with a small host tier
too) x admission (FAAE on/off) x hash optimizer (lazy Adam, Adagrad) x key
mode (in-step, FeatureSpec). Tables start from constant rows: a new key's
initial row then does not depend on the random stream, which restarts in a
new process (as for any TF random op).
"""

import itertools
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_harness as mh  # noqa: E402

from mx_rec.core.asc.feature_spec import FeatureSpec  # noqa: E402
from mx_rec.core.asc.helper import get_asc_insert_func  # noqa: E402
from mx_rec.core.asc.manager import start_asc_pipeline  # noqa: E402
from mx_rec.core.embedding import create_table, sparse_lookup  # noqa: E402
from mx_rec.optimizers import adagrad, lazy_adam  # noqa: E402
from mx_rec.util.initialize import init, terminate_config_initializer  # noqa: E402

MODES = ("HBM", "DDR", "SSD")
VARIANTS = [f"{mode}-{faae}-{opt}-{keys}" for mode, faae, opt, keys in itertools.product(
    MODES, ("plain", "faae"), ("lazy_adam", "adagrad"), ("in_step", "feature_spec"))]
FAAE = dict(access_threshold=2, eviction_threshold=None)
BATCHES = mh.make_data(40, vocab_a=400, vocab_b=150, seed=3)[2]


def tiers(mode, ssd_dir):
    """create_table tier arguments: the tables hold ~250 and ~100 keys."""
    if mode == "HBM":
        return dict(device_vocabulary_size=1000)
    if mode == "DDR":
        return dict(device_vocabulary_size=160, host_vocabulary_size=1000)
    os.makedirs(ssd_dir, exist_ok=True)
    return dict(device_vocabulary_size=160, host_vocabulary_size=180, ssd_vocabulary_size=1000,
                ssd_data_path=ssd_dir)


def build(variant, start, workdir):
    """(loss, train_op) of `variant` reading BATCHES[start:]."""
    mode, faae, opt, keys = variant.split("-")
    init()
    tf.compat.v1.set_random_seed(0)
    ssd = os.path.join(workdir, "ssd")
    a = create_table(tf.int64, mh.DIM, "a", tf.compat.v1.constant_initializer(0.05),
                     **tiers(mode, ssd))
    b = create_table(tf.int32, mh.DIM, "b", tf.compat.v1.constant_initializer(-0.02),
                     **tiers(mode, ssd))
    columns = {k: np.stack([x[k] for x in BATCHES[start:]]) for k in ("f1", "f2", "f3", "label")}
    ds = tf.data.Dataset.from_tensor_slices(columns)
    extra = FAAE if faae == "faae" else {}
    if keys == "feature_spec":
        specs = [FeatureSpec(f, table_name=t, **extra) for f, t in (("f1", "a"), ("f2", "a"),
                                                                    ("f3", "b"))]
        ds = ds.map(get_asc_insert_func(specs, is_training=True))
        batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        e1, e2, e3 = (sparse_lookup(t, s, batch=batch) for t, s in zip((a, a, b), specs))
        start_asc_pipeline()
    else:
        batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
        config = extra or None
        e1, e2, e3 = (sparse_lookup(t, batch[f], access_and_evict_config=config)
                      for t, f in ((a, "f1"), (a, "f2"), (b, "f3")))
    loss = mh.head(e1, e2, e3, batch["label"])
    sparse = (lazy_adam.create_hash_optimizer(0.02) if opt == "lazy_adam"
              else adagrad.create_hash_optimizer(0.2))
    step = tf.compat.v1.train.get_or_create_global_step()
    dense = tf.compat.v1.train.AdamOptimizer(0.01)
    train = tf.group(sparse.minimize(loss), dense.minimize(loss, global_step=step))
    return loss, train


def run(variant, phase, workdir, n, m):
    variant_dir = os.path.join(workdir, variant)
    with tf.Graph().as_default():
        try:
            loss, train = build(variant, n if phase == "restore" else 0, variant_dir)
            saver = tf.compat.v1.train.Saver()
            with tf.compat.v1.Session() as sess:
                if phase == "restore":
                    saver.restore(sess, tf.train.latest_checkpoint(variant_dir))
                else:
                    sess.run(tf.compat.v1.global_variables_initializer())
                steps = {"reference": n + m, "save": n, "restore": m}[phase]
                losses = [float(sess.run([loss, train])[0]) for _ in range(steps)]
                if phase == "save":
                    saver.save(sess, os.path.join(variant_dir, "model.ckpt"),
                               global_step=tf.compat.v1.train.get_global_step())
                return losses
        finally:
            terminate_config_initializer()


def main(phase, workdir, n, m=0):
    results = {v: run(v, phase, workdir, n, m) for v in VARIANTS}
    if phase != "save":
        with open(os.path.join(workdir, f"{phase}.json"), "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    tf.compat.v1.disable_eager_execution()
    main(sys.argv[1], sys.argv[2], *(int(x) for x in sys.argv[3:]))
