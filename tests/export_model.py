"""Train and export the two-table model of model_harness; check an export without mx_rec.

Run as a script, one phase per process:
  train DIR MODE FAAE   trains (HBM / DDR / SSD; FAAE on|off), checkpoints,
                        writes the training graph's eval predictions on
                        held-out batches (unseen ids too) to DIR/expected.npz
                        and exports: DIR/export (from the checkpoint) and
                        DIR/export_fp16 (fp16 rows); prints the export paths
  serve DIR PATH...     with mx_rec NOT importable: loads each SavedModel with
                        tf.saved_model.load and writes its predictions on the
                        held-out batches to DIR/served-<i>.npy
"""

import os
import sys

import numpy as np

HELD_OUT = (36, 37, 38)  # batches never trained on
TRAIN_STEPS = 30


def _held_out_features(batches):
    return {k: np.concatenate([batches[i][k] for i in HELD_OUT]) for k in ("f1", "f2", "f3")}


def _tiers(mode, workdir):
    if mode == "HBM":
        return dict(device_vocabulary_size=1000)
    if mode == "DDR":
        return dict(device_vocabulary_size=64, host_vocabulary_size=1000)
    ssd = os.path.join(workdir, "ssd")
    os.makedirs(ssd, exist_ok=True)
    return dict(device_vocabulary_size=64, host_vocabulary_size=80, ssd_vocabulary_size=1000,
                ssd_data_path=ssd)


def train(workdir, mode, faae):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    tf.compat.v1.disable_eager_execution()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import model_harness as mh  # pylint: disable=import-outside-toplevel
    import mx_rec.export  # pylint: disable=import-outside-toplevel
    from mx_rec.core.embedding import create_table, sparse_lookup  # noqa  pylint: disable=import-outside-toplevel
    from mx_rec.optimizers import adagrad  # pylint: disable=import-outside-toplevel
    from mx_rec.util.initialize import init  # pylint: disable=import-outside-toplevel

    init()
    tf.compat.v1.set_random_seed(0)
    init_a = tf.compat.v1.random_normal_initializer(0, 0.1, seed=1)
    a = create_table(tf.int64, mh.DIM, "a", init_a, **_tiers(mode, workdir))
    b = create_table(tf.int32, mh.DIM, "b", tf.compat.v1.constant_initializer(-0.02),
                     default_value=0.25, **_tiers(mode, workdir))
    admission = dict(access_threshold=3) if faae == "on" else None

    def model(features, is_train):
        pooled = [tf.reduce_mean(sparse_lookup(t, features[k], is_train=is_train,
                                               access_and_evict_config=admission), 1)
                  for t, k in ((a, "f1"), (a, "f2"), (b, "f3"))]
        with tf.compat.v1.variable_scope("head", reuse=tf.compat.v1.AUTO_REUSE):
            hidden = tf.compat.v1.layers.dense(tf.concat(pooled, 1), 16, tf.nn.relu, name="h")
            return tf.sigmoid(tf.compat.v1.layers.dense(hidden, 1, name="out"))

    _, _, batches = mh.make_data(40, seed=7)
    ph = mh.placeholders()
    prob = model(ph, True)
    loss = tf.compat.v1.losses.log_loss(ph["label"], prob)
    step = tf.compat.v1.train.get_or_create_global_step()
    train_op = tf.group(adagrad.create_hash_optimizer(0.3).minimize(loss),
                        tf.compat.v1.train.AdamOptimizer(0.01).minimize(loss, global_step=step))
    eval_prob = model(ph, False)
    held = _held_out_features(batches)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in batches[:TRAIN_STEPS]:
            sess.run(train_op, {ph[k]: batch[k] for k in ph})
        expected = sess.run(eval_prob, {ph[k]: held[k] for k in held})
        tf.compat.v1.train.Saver().save(sess, os.path.join(workdir, "ckpt", "model.ckpt"),
                                        global_step=step)
    np.savez(os.path.join(workdir, "expected.npz"), expected=expected, **held)
    features = {"f1": tf.TensorSpec([mh.F1], tf.int64), "f2": tf.TensorSpec([mh.F2], tf.int64),
                "f3": tf.TensorSpec([mh.F3], tf.int32)}

    def serving_model(features):
        return {"prob": model(features, False)}

    checkpoint = os.path.join(workdir, "ckpt")
    for name, fp16 in (("export", False), ("export_fp16", True)):
        print(mx_rec.export.export_saved_model(os.path.join(workdir, name), serving_model,
                                               features, checkpoint_path=checkpoint, fp16=fp16))


def serve(workdir, paths):
    sys.modules["mx_rec"] = None  # the export must not need mx_rec
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    held = np.load(os.path.join(workdir, "expected.npz"))
    for i, path in enumerate(paths):
        signature = tf.saved_model.load(path).signatures["serving_default"]
        out = signature(**{k: tf.constant(held[k]) for k in ("f1", "f2", "f3")})
        np.save(os.path.join(workdir, f"served-{i}.npy"), out["prob"].numpy())


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        serve(sys.argv[2], sys.argv[3:])
