"""Export of a multi-hot model: served predictions equal the training graph's
eval predictions.

A SavedModel's inputs are dense, so each multi-hot feature is served as a
fixed-width row of ids padded with PAD (tf.TensorSpec([WIDTH])), and the
model function turns it back into ragged ids, in either of the two ways the
README gives: drop the padding (tf.RaggedTensor.from_tensor(x, padding=PAD)),
or keep it with weight 0, which "mean" counts as absent.
"""

import numpy as np
import tensorflow as tf

import mx_rec.export
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad

WIDTH = 4
PAD = -1  # never a real id of this model


def model(table, tags, tag_weights, cats, x, is_train, batch=None):
    """tags: ragged (or a FeatureSpec of batch), weighted mean; cats: sparse, sum."""
    pooled = [sparse_lookup(table, tags, combiner="mean", weights=tag_weights, is_train=is_train,
                            batch=batch),
              sparse_lookup(table, cats, combiner="sum", is_train=is_train), x]
    with tf.compat.v1.variable_scope("head", reuse=tf.compat.v1.AUTO_REUSE):
        return tf.sigmoid(tf.compat.v1.layers.dense(tf.concat(pooled, 1), 1, name="out"))[:, 0]


def samples(n, seed):
    """Padded [n, WIDTH] ids (0..WIDTH real ones per row, the rest PAD) and weights."""
    rng = np.random.RandomState(seed)
    lengths = {f: rng.randint(0, WIDTH + 1, size=n) for f in ("tags", "cats")}
    out = {"x": rng.normal(size=(n, 2)).astype(np.float32)}
    for feature, length in lengths.items():
        ids = rng.zipf(1.3, size=(n, WIDTH)).astype(np.int64) * 7
        ids[np.arange(WIDTH)[None, :] >= length[:, None]] = PAD
        out[feature] = ids
    out["tag_weights"] = np.where(out["tags"] == PAD, 0,
                                  rng.uniform(0.2, 2, size=(n, WIDTH))).astype(np.float32)
    return out


def ragged_feed(placeholders, batch):
    """Feeds the training graph's ragged / sparse placeholders from padded rows."""
    real = batch["tags"] != PAD
    feed = {placeholders["x"]: batch["x"],
            placeholders["tags"]: tf.compat.v1.ragged.RaggedTensorValue(
                batch["tags"][real], np.int64(np.r_[0, np.cumsum(real.sum(1))])),
            placeholders["tag_weights"]: tf.compat.v1.ragged.RaggedTensorValue(
                batch["tag_weights"][real], np.int64(np.r_[0, np.cumsum(real.sum(1))]))}
    cats = np.argwhere(batch["cats"] != PAD)
    feed[placeholders["cats"]] = tf.compat.v1.SparseTensorValue(
        cats, batch["cats"][batch["cats"] != PAD], [len(batch["x"]), WIDTH])
    return feed


def serving_model(table, features):
    """Both ways back from padded rows, and a FeatureSpec lookup reading the
    ragged ids from its batch; each must give the eval predictions."""
    tags = tf.RaggedTensor.from_tensor(features["tags"], padding=PAD)
    weights = tf.RaggedTensor.from_tensor(features["tag_weights"], lengths=tags.row_lengths())
    cats = tf.RaggedTensor.from_tensor(features["cats"], padding=PAD).to_sparse()
    padded_tags = tf.RaggedTensor.from_tensor(features["tags"])  # PAD kept, weight 0
    padded_weights = tf.RaggedTensor.from_tensor(features["tag_weights"])
    return {"prob": model(table, tags, weights, cats, features["x"], False),
            "prob_padded": model(table, padded_tags, padded_weights, cats, features["x"], False),
            "prob_spec": model(table, FeatureSpec("tags"), weights, cats, features["x"], False,
                               batch={"tags": tags})}


def test_multi_hot_export_serves_eval_predictions(tmp_path, mx):
    table = create_table(tf.int64, 4, "tags", tf.compat.v1.random_normal_initializer(0, 0.1),
                         device_vocabulary_size=500, default_value=0.3)
    ph = {"tags": tf.compat.v1.ragged.placeholder(tf.int64, 1, []),
          "tag_weights": tf.compat.v1.ragged.placeholder(tf.float32, 1, []),
          "cats": tf.compat.v1.sparse_placeholder(tf.int64, [None, WIDTH]),
          "x": tf.compat.v1.placeholder(tf.float32, [None, 2])}
    prob = model(table, *(ph[k] for k in ("tags", "tag_weights", "cats", "x")), True)
    train_op = adagrad.create_hash_optimizer(0.5).minimize(-tf.reduce_mean(tf.math.log(prob)))
    eval_prob = model(table, *(ph[k] for k in ("tags", "tag_weights", "cats", "x")), False)
    held = samples(64, seed=9)  # unseen ids and samples without ids included
    assert (held["tags"] == PAD).all(1).any() and (held["cats"] == PAD).all(1).any()
    features = {"tags": tf.TensorSpec([WIDTH], tf.int64),
                "tag_weights": tf.TensorSpec([WIDTH], tf.float32),
                "cats": tf.TensorSpec([WIDTH], tf.int64), "x": tf.TensorSpec([2], tf.float32)}
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for seed in range(5):
            sess.run(train_op, ragged_feed(ph, samples(32, seed)))
        expected = sess.run(eval_prob, ragged_feed(ph, held))
        path = mx_rec.export.export_saved_model(tmp_path / "export",
                                                lambda f: serving_model(table, f), features,
                                                sess=sess)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        signature = tf.compat.v1.saved_model.load(sess, ["serve"], path) \
            .signature_def["serving_default"]
        served = sess.run({k: v.name for k, v in signature.outputs.items()},
                          {signature.inputs[k].name: held[k] for k in features})
    assert np.abs(expected - 0.5).max() > 0.01, "the model learned something"
    for output in ("prob", "prob_padded", "prob_spec"):
        np.testing.assert_allclose(served[output], expected, rtol=0, atol=1e-6)
