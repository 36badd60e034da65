"""Concurrent session.run calls on one table (finding 5 of "Tables owned by TensorFlow").

8 threads run 300 SGD steps each on loss = sum(rows): every update is
"row -= LR * occurrences", so whatever the interleaving, each row must end at
exactly INIT - LR * (times its key was looked up), in every mode, with and
without dynamic expansion. Eval threads beside training threads never fail.
"""

import threading

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad
from mx_rec.util.initialize import init
from table_scenarios import DIM, INIT, MODES, Model, count, expected_rows

THREADS = 8
STEPS = 300
UNIVERSE = 400
# Enough inter-op threads for every training thread's step to be in flight
# at once (the session's pool is shared by concurrent run calls).
CONFIG = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=2 * THREADS)


def run_threads(target, n):
    errors = []

    def guarded(i):
        try:
            target(i)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def thread_batches(seed):
    rng = np.random.RandomState(seed)
    # Half Zipf (hot keys shared by every thread, ids repeat within a batch),
    # half uniform (keys coming back from the host tier, evicting others).
    return [np.concatenate([np.minimum(rng.zipf(1.3, size=rng.randint(2, 12)) - 1, UNIVERSE - 1),
                            rng.randint(0, UNIVERSE, size=rng.randint(2, 12))])
            for _ in range(STEPS)]


@pytest.mark.parametrize("expansion", [False, True], ids=["fixed", "expanding"])
@pytest.mark.parametrize("mode", MODES)
def test_concurrent_training_loses_no_update(tmp_path, mode, expansion):
    if expansion and mode != "HBM":
        pytest.skip("dynamic expansion applies to tables without a host tier")
    init(use_dynamic_expansion=expansion)
    # HBM: room for every key, or (expanding) 8 rows that must grow; DDR and
    # SSD: 8 concurrent steps of <= 24 keys each fit the device tier.
    sizes = dict(host=8 if expansion else UNIVERSE) if mode == "HBM" else \
        dict(device=THREADS * 24, host=UNIVERSE, ssd=4 * UNIVERSE)
    model = Model(mode, tmp_path, **sizes)
    work = [thread_batches(seed) for seed in range(THREADS)]
    # Thread 0 holds its rows for a while each step, so the other threads'
    # steps make them the least recently used rows meanwhile.
    delays = [0.01] + [0.0] * (THREADS - 1)
    with tf.compat.v1.Session(config=CONFIG) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        run_threads(lambda i: [model.step(sess, batch, delays[i]) for batch in work[i]], THREADS)
        counts = count(batch for batches in work for batch in batches)
        keys = np.arange(UNIVERSE)
        np.testing.assert_array_equal(model.read(sess, keys), expected_rows(counts, keys))
        stats = model.table.stats(sess)
        assert stats["open_steps"] == 0
        assert stats["rolled_back_keys"] == 0
        assert model.table.size(sess) == len(counts)
        if expansion:
            assert model.table.capacity(sess) >= len(counts)


def test_concurrent_adagrad_on_a_growing_table(tmp_path):
    """Growing the table grows its optimizer state in the same instant."""
    init(use_dynamic_expansion=True)
    table = create_table(tf.int64, DIM, "t", emb_initializer=tf.compat.v1.constant_initializer(INIT),
                         device_vocabulary_size=4)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    loss = tf.reduce_sum(sparse_lookup(table, ids))
    train = adagrad.create_hash_optimizer(0.1).minimize(loss)
    work = [thread_batches(seed) for seed in range(THREADS)]
    with tf.compat.v1.Session(config=CONFIG) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        run_threads(lambda i: [sess.run(train, {ids: b}) for b in work[i][:100]], THREADS)
        state = table.state_slots(sess.graph)[0].variable
        assert sess.run(tf.shape(state))[0] == table.capacity(sess)


@pytest.mark.parametrize("mode", MODES)
def test_eval_threads_beside_training_threads_never_fail(mx, tmp_path, mode):
    sizes = {} if mode == "HBM" else dict(device=4 * 24, host=UNIVERSE, ssd=4 * UNIVERSE)
    if mode == "HBM":
        sizes = dict(host=UNIVERSE)
    model = Model(mode, tmp_path, **sizes)
    work = [thread_batches(seed) for seed in range(4)]
    reads = []
    with tf.compat.v1.Session(config=CONFIG) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())

        def worker(i):
            if i < 3:
                for batch in work[i]:
                    model.step(sess, batch)
            else:
                for batch in work[i]:
                    rows = model.read(sess, batch)
                    # A row is either absent (0), or initial minus whole updates.
                    steps = (INIT - rows) / 0.25
                    assert np.all((rows == 0) | (np.abs(steps - np.round(steps)) == 0)), rows
                    reads.append(len(batch))

        run_threads(worker, 4)
        assert len(reads) == STEPS
        counts = count(batch for batches in work[:3] for batch in batches)
        keys = np.arange(UNIVERSE)
        np.testing.assert_array_equal(model.read(sess, keys), expected_rows(counts, keys))
