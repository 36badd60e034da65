"""tf.estimator.Estimator end to end (finding 6 of "Tables owned by TensorFlow").

train -> evaluate -> train -> predict in one process: every call builds its
own graph and runs its own session, so tables created in model_fn are
created once per graph (no "already exists"), and a table created before the
Estimator serves every graph it is used in (no graph mismatch). That trained
rows carry over between the calls is the checkpoint issue's job; here every
call must run and train.
"""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import lazy_adam, minimize
from table_scenarios import table_kwargs

DIM = 8
IDS = 3


def input_fn(seed, epochs=None):
    rng = np.random.RandomState(seed)
    ids = rng.zipf(1.2, size=(512, IDS)).astype(np.int64) * 7919
    labels = (ids[:, 0] % 2).astype(np.float32)

    def fn():
        ds = tf.data.Dataset.from_tensor_slices(({"ids": ids}, labels))
        return ds.repeat(epochs).batch(32)
    return fn


def make_model_fn(tier, table=None):
    def model_fn(features, labels, mode):
        user = table or create_table(tf.int64, DIM, "user",
                                     emb_initializer=tf.compat.v1.random_uniform_initializer(
                                         -0.1, 0.1, seed=1), **tier)
        training = mode == tf.estimator.ModeKeys.TRAIN
        emb = sparse_lookup(user, features["ids"], is_train=training)
        logits = tf.compat.v1.layers.dense(tf.reduce_mean(emb, 1), 1)[:, 0]
        prob = tf.sigmoid(logits)
        if mode == tf.estimator.ModeKeys.PREDICT:
            return tf.estimator.EstimatorSpec(mode, predictions={"prob": prob})
        loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels,
                                                                      logits=logits))
        if mode == tf.estimator.ModeKeys.EVAL:
            return tf.estimator.EstimatorSpec(
                mode, loss=loss, eval_metric_ops={"auc": tf.compat.v1.metrics.auc(labels, prob)})
        train_op = minimize(loss, tf.compat.v1.train.AdamOptimizer(0.01),
                            lazy_adam.create_hash_optimizer(0.01),
                            global_step=tf.compat.v1.train.get_global_step())
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)
    return model_fn


@pytest.mark.parametrize("inside", [True, False], ids=["table_in_model_fn", "table_outside"])
@pytest.mark.parametrize("mode", ("HBM", "DDR", "SSD"))
def test_train_evaluate_train_predict(mx, tmp_path, mode, inside):
    tier = table_kwargs(mode, tmp_path, device=128, host=1024, ssd=4096)
    table = None if inside else create_table(
        tf.int64, DIM, "user", emb_initializer=tf.compat.v1.random_uniform_initializer(-0.1, 0.1),
        **tier)
    estimator = tf.estimator.Estimator(make_model_fn(tier, table), model_dir=str(tmp_path / "model"),
                                       config=tf.estimator.RunConfig(log_step_count_steps=None))
    estimator.train(input_fn(0), steps=20)
    first = estimator.evaluate(input_fn(1, epochs=1), steps=5)
    assert first["global_step"] == 20 and np.isfinite(first["loss"])
    estimator.train(input_fn(2), steps=15)
    second = estimator.evaluate(input_fn(1, epochs=1), steps=5)
    assert second["global_step"] == 35 and np.isfinite(second["loss"])
    predictions = list(estimator.predict(input_fn(3, epochs=1), yield_single_examples=False))
    assert sum(len(p["prob"]) for p in predictions) == 512
    assert all(np.all((p["prob"] > 0) & (p["prob"] < 1)) for p in predictions)
    # Every session the Estimator opened is closed: its tables are gone.
    import gc
    gc.collect()
    assert _libasc.live_tables("user") == []
    if mode == "SSD":
        assert not list((tmp_path / "ssd").iterdir()), "SSD directories are removed with the tables"
