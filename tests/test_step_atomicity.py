"""A failed step changes nothing (finding 3 of "Tables owned by TensorFlow").

Two sessions of one graph train on the same batches; in one of them a step
fails midway (each trigger below, in HBM, DDR and SSD mode, with and without
feature admission). Afterwards both must read and train identically: same
losses, same rows for every key from every tier, same keys, same admission
records. Row moves between tiers may differ (they change where a row is, not
its value), so tier placement is not compared.
"""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import adagrad
from table_scenarios import DIM, table_kwargs

TRIGGERS = ("missing_feed", "missing_feed_only_in_loss", "uninitialized_variable", "error_between_lookup_and_fill",
            "error_after_lookup", "full_tier", "ssd_write_error")
UNIVERSE = 90


def _flag(name):
    return tf.compat.v1.placeholder_with_default(False, [], name=name)


class FaultyModel:
    """One table trained by Adagrad with switches that make a step fail."""

    def __init__(self, mode, tmp_path, faae):
        self.fail_init = _flag("fail_init")
        self.fail_after = _flag("fail_after")

        def initializer(shape, dtype=tf.float32, partition_info=None):
            check = tf.debugging.Assert(tf.logical_not(self.fail_init), ["injected init failure"])
            with tf.control_dependencies([check]):
                return tf.fill(shape, tf.constant(0.3, dtype))

        self.table = create_table(tf.int64, DIM, "t", emb_initializer=initializer,
                                  **table_kwargs(mode, tmp_path, host=128))
        self.ids = tf.compat.v1.placeholder(tf.int64, [None], name="ids")
        self.label = tf.compat.v1.placeholder(tf.float32, [None], name="label")
        config = {"access_threshold": 2, "eviction_threshold": 1000} if faae else None
        emb = sparse_lookup(self.table, self.ids, access_and_evict_config=config)
        check = tf.debugging.Assert(tf.logical_not(self.fail_after), ["injected failure"])
        with tf.control_dependencies([check]):
            emb = tf.identity(emb)
        w = tf.compat.v1.get_variable("w", initializer=tf.constant(np.linspace(
            -1.0, 1.0, DIM).astype(np.float32)))
        logits = tf.reduce_sum(emb * w, axis=1)
        # `offset` feeds the loss value only: the gradients never need it.
        self.offset = tf.compat.v1.placeholder(tf.float32, [], name="offset")
        self.loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=self.label, logits=logits)) + self.offset
        optimizer = adagrad.create_hash_optimizer(0.3)
        self.train = optimizer.minimize(self.loss)
        # A second train op reading a variable nobody initialises.
        extra = tf.compat.v1.get_variable("never_initialized", [1], tf.float32,
                                          collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES])
        self.train_uninitialized = optimizer.minimize(self.loss * tf.reduce_sum(extra))
        self.init = tf.compat.v1.global_variables_initializer()

    def feed(self, ids, **flags):
        ids = np.asarray(ids, np.int64)
        feed = {self.ids: ids, self.label: (ids % 3 == 0).astype(np.float32), self.offset: 0.0}
        feed.update({getattr(self, k): v for k, v in flags.items()})
        return feed

    def step(self, sess, ids):
        return sess.run([self.loss, self.train], self.feed(ids))[0]

    def failing_step(self, sess, trigger, ids):
        fetch, feed = self.train, self.feed(ids)
        if trigger == "missing_feed":
            del feed[self.label]
        elif trigger == "missing_feed_only_in_loss":
            del feed[self.offset]
        elif trigger == "uninitialized_variable":
            fetch = self.train_uninitialized
        elif trigger == "error_between_lookup_and_fill":
            feed[self.fail_init] = True
        elif trigger == "error_after_lookup":
            feed[self.fail_after] = True
        elif trigger == "ssd_write_error":
            _libasc.set_ssd_write_fault_for_testing("t", True)
        try:
            sess.run(fetch, feed)
        finally:
            _libasc.set_ssd_write_fault_for_testing("t", False)

    def state(self, sess):
        keys = np.arange(UNIVERSE, dtype=np.int64)
        admission = self.table.export_admission(sess)
        order = np.argsort(admission[0])
        return {"rows": self.table.read_rows(keys, sess), "size": self.table.size(sess),
                "admission": [a[order] for a in admission]}


def batches(seed, n):
    rng = np.random.RandomState(seed)
    return [rng.choice(UNIVERSE, size=rng.randint(8, 24), replace=False) for _ in range(n)]


@pytest.mark.parametrize("faae", [False, True], ids=["all_keys", "faae"])
@pytest.mark.parametrize("mode", ("HBM", "DDR", "SSD"))
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_a_failed_step_changes_nothing(mx, tmp_path, trigger, mode, faae):
    if trigger == "ssd_write_error" and mode != "SSD":
        pytest.skip("only SSD tables write to RocksDB")
    model = FaultyModel(mode, tmp_path, faae)
    before, after = batches(1, 24), batches(2, 12)
    # Every key twice, so that with admission (access_threshold=2) the failed
    # step's new keys are admitted and need rows.
    failing = np.repeat(np.arange(40, 72), 2)
    if trigger == "full_tier":
        # HBM: more new keys than device rows; DDR/SSD: more unique keys than
        # the device tier holds in one step.
        failing = np.repeat(np.arange(0, 300) if mode == "HBM" else np.arange(0, 40), 2)
    sessions = [tf.compat.v1.Session(), tf.compat.v1.Session()]
    try:
        for sess in sessions:
            sess.run(model.init)
            for batch in before:
                model.step(sess, batch)
        faulty, clean = sessions
        state_before = model.state(faulty)
        with pytest.raises(tf.errors.OpError):
            model.failing_step(faulty, trigger, failing)
        now = model.state(faulty)
        np.testing.assert_array_equal(now["rows"], state_before["rows"])
        assert now["size"] == state_before["size"]
        for got, want in zip(now["admission"], state_before["admission"]):
            np.testing.assert_array_equal(got, want)
        assert model.table.stats(faulty)["open_steps"] == 0
        for batch in after:
            np.testing.assert_array_equal(model.step(faulty, batch), model.step(clean, batch))
        end_faulty, end_clean = model.state(faulty), model.state(clean)
        np.testing.assert_array_equal(end_faulty["rows"], end_clean["rows"])
        assert end_faulty["size"] == end_clean["size"]
        for got, want in zip(end_faulty["admission"], end_clean["admission"]):
            np.testing.assert_array_equal(got, want)
    finally:
        for sess in sessions:
            sess.close()
