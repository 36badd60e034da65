"""A one-table model with predictable rows, in HBM, DDR and SSD mode.

loss = sum of the looked-up rows, rows start at INIT and SGD uses LR, so after
training every row is exactly INIT - LR * (times its key was looked up):
float32 represents all those values exactly. Tests of table lifetime, failed
steps and concurrency compare against that arithmetic.
"""

import collections
import time

import numpy as np
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import gradient_descent

DIM = 4
INIT = 0.5
LR = 0.25
MODES = ("HBM", "DDR", "SSD")


def table_kwargs(mode, tmp_path, device=32, host=64, ssd=256):
    """create_table tier arguments of a mode (SSD: a small host tier too)."""
    if mode == "HBM":
        return dict(device_vocabulary_size=host)
    if mode == "DDR":
        return dict(device_vocabulary_size=device, host_vocabulary_size=host)
    path = tmp_path / "ssd"
    path.mkdir(exist_ok=True)
    return dict(device_vocabulary_size=device, host_vocabulary_size=device + 8,
                ssd_vocabulary_size=ssd, ssd_data_path=str(path))


class Model:
    """Table "t", a training lookup of `ids` trained by SGD, and an eval lookup."""

    def __init__(self, mode, tmp_path, name="t", **kwargs):
        tier = table_kwargs(mode, tmp_path, **kwargs)
        self.table = create_table(tf.int64, DIM, name,
                                  emb_initializer=tf.compat.v1.constant_initializer(INIT), **tier)
        self.ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
        self.emb = sparse_lookup(self.table, self.ids)
        # Seconds a training step sleeps between its lookup and its update,
        # keeping its rows in use while other steps run (concurrency tests).
        self.delay = tf.compat.v1.placeholder_with_default(0.0, [], name="delay")

        def wait(rows, seconds):
            time.sleep(float(seconds))
            return np.int64(len(rows))

        waited = tf.numpy_function(wait, [self.emb, self.delay], tf.int64, stateful=True)
        with tf.control_dependencies([waited]):
            self.emb = tf.identity(self.emb)
        self.loss = tf.reduce_sum(self.emb)
        self.train = gradient_descent.create_hash_optimizer(LR).minimize(self.loss)
        self.eval_ids = tf.compat.v1.placeholder(tf.int64, [None], name="eval_ids")
        self.eval = sparse_lookup(self.table, self.eval_ids, is_train=False)

    def step(self, sess, ids, delay=0.0):
        feed = {self.ids: np.asarray(ids, np.int64), self.delay: delay}
        return sess.run([self.loss, self.train], feed)[0]

    def read(self, sess, keys):
        return sess.run(self.eval, {self.eval_ids: np.asarray(keys, np.int64)})


def expected_rows(counts, keys):
    """Rows of `keys` after SGD on loss = sum(rows), from lookup counts (0: absent)."""
    return np.array([[INIT - LR * counts[k]] * DIM if counts[k] else [0.0] * DIM for k in keys],
                    np.float32)


def count(batches):
    counts = collections.Counter()
    for batch in batches:
        counts.update(int(k) for k in batch)
    return counts
