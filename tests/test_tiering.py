"""DDR mode (device tier as a cache over a host tier): reads, errors, counters."""

import gc
import os

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import adagrad, ftrl, lazy_adam
from mx_rec.util.initialize import init, terminate_config_initializer


def train_table(device, host, keys_per_step, steps=1, **table_kw):
    """A DDR table trained with Adagrad on the given key batches; returns the pieces."""
    init()
    opt = adagrad.create_hash_optimizer(0.1)
    table = create_table(tf.int64, 4, "t", tf.compat.v1.random_uniform_initializer(-1, 1, seed=1),
                         device, host_vocabulary_size=host, **table_kw)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids)
    step = opt.minimize(tf.reduce_sum(tf.square(emb)))
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    return table, ids, emb, step, sess


def test_eval_reads_every_tier_and_inserts_nothing():
    table, ids, emb, step, sess = train_table(device=16, host=200, keys_per_step=10)
    rng = np.random.RandomState(0)
    for _ in range(30):
        sess.run(step, {ids: rng.choice(100, size=10, replace=False)})
    stats = table.stats(sess)
    assert stats["host_keys"] > 0 and stats["device_keys"] == 16
    held, _ = table.export_slots(sess)
    unseen = np.array([1000, 1001], np.int64)
    query = np.concatenate([held, unseen])
    evaluated = sparse_lookup(table, ids, is_train=False)
    values = sess.run(evaluated, {ids: query})
    np.testing.assert_array_equal(values[-2:], np.zeros([2, 4]))
    assert table.stats(sess) == stats, "an eval read moves and inserts nothing"
    # Training lookups of the same keys (which pull them to the device) read
    # exactly what eval read from whichever tier held them.
    for chunk in np.array_split(np.arange(len(held)), 8):
        trained = sess.run(emb, {ids: held[chunk]})
        np.testing.assert_array_equal(trained, values[chunk])
    sess.close()


def test_device_tier_smaller_than_one_step_is_a_clear_error():
    table, ids, emb, step, sess = train_table(device=8, host=100, keys_per_step=4)
    sess.run(step, {ids: [1, 2, 3, 4]})
    before = sess.run(sparse_lookup(table, ids, is_train=False), {ids: [1, 2, 3, 4]})
    with pytest.raises(tf.errors.ResourceExhaustedError,
                       match=r"table 't': the device tier \(device_vocabulary_size=8\) cannot hold "
                             r"the unique keys .* this lookup needs 9 more"):
        sess.run(step, {ids: np.arange(10, 19)})
    assert table.size(sess) == 4
    after = sess.run(sparse_lookup(table, ids, is_train=False), {ids: [1, 2, 3, 4]})
    np.testing.assert_array_equal(before, after)
    sess.run(step, {ids: np.arange(10, 18)})  # 8 keys fit: training goes on
    sess.close()


def test_full_host_tier_is_a_clear_error():
    table, ids, emb, step, sess = train_table(device=4, host=4, keys_per_step=4)
    sess.run(step, {ids: [1, 2, 3, 4]})
    sess.run(step, {ids: [5, 6, 7, 8]})  # 1..4 move to the host tier
    with pytest.raises(tf.errors.ResourceExhaustedError, match="host"):
        sess.run(step, {ids: [9, 10, 11, 12]})
    assert table.size(sess) == 8
    sess.run(step, {ids: [1, 2, 3, 4]})  # known keys still swap in
    sess.close()


def ddr_losses(opt_name, optimizer_first, ssd_path=None):
    """Losses of 40 steps on a DDR table (with an SSD tier under ssd_path if
    given) whose 8 device rows hold a fraction of the keys, so rows and their
    optimizer state keep moving between tiers; the hash optimizer is created
    before or after the table."""
    make_opt = {"adagrad": lambda: adagrad.create_hash_optimizer(0.1),
                "ftrl": lambda: ftrl.create_hash_optimizer(0.1, l2_regularization_strength=0.01),
                "lazy_adam": lambda: lazy_adam.create_hash_optimizer(0.1)}
    with tf.Graph().as_default():
        init()
        tf.compat.v1.set_random_seed(1)
        opt = make_opt[opt_name]() if optimizer_first else None
        tiers = dict(host_vocabulary_size=64) if ssd_path is None else \
            dict(host_vocabulary_size=16, ssd_vocabulary_size=64, ssd_data_path=ssd_path)
        table = create_table(tf.int64, 4, "t", tf.compat.v1.random_uniform_initializer(
            -1, 1, seed=1), 8, **tiers)
        ids = tf.compat.v1.placeholder(tf.int64, [None])
        loss = tf.reduce_sum(tf.square(sparse_lookup(table, ids) - 0.5))
        opt = opt or make_opt[opt_name]()
        step = opt.minimize(loss)
        rng = np.random.RandomState(0)
        losses = []
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(40):
                losses.append(sess.run([loss, step], {ids: rng.choice(50, 6, replace=False)})[0])
            stats = table.stats(sess)
        terminate_config_initializer()
    assert stats["evictions"] > 20 and stats["loads"] > 10, stats
    if ssd_path is not None:
        assert stats["demotions"] > 0 and stats["ssd_loads"] > 0, stats
    return np.array(losses)


@pytest.mark.parametrize("opt_name", ["adagrad", "ftrl", "lazy_adam"])
@pytest.mark.parametrize("tier", ["ddr", "ssd"])
def test_hash_optimizer_created_after_a_ddr_table_works(opt_name, tier, tmp_path):
    ssd_path = None if tier == "ddr" else str(tmp_path)
    before = ddr_losses(opt_name, True, ssd_path)
    after = ddr_losses(opt_name, False, ssd_path)
    assert np.all(np.isfinite(before)) and before[-10:].mean() < before[:10].mean()
    np.testing.assert_array_equal(after, before)


@pytest.mark.parametrize("opt_name", ["adagrad", "lazy_adam"])
def test_new_keys_in_reused_device_slots_start_with_fresh_optimizer_state(opt_name):
    """Every step brings a device tier's worth of new keys, so each takes the
    slot of a key just evicted to the host: its first update must start from
    fresh optimizer state, never from the state the evicted key left there."""
    init()
    n, dim, lr = 256, 64, 0.1
    opt = adagrad.create_hash_optimizer(lr, initial_accumulator_value=0.1) \
        if opt_name == "adagrad" else lazy_adam.create_hash_optimizer(lr)
    table = create_table(tf.int64, dim, "t", tf.compat.v1.truncated_normal_initializer(seed=1),
                         n, host_vocabulary_size=200 * n)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids)
    step = opt.minimize(tf.reduce_sum(emb))  # gradient 1 for every key
    wrong = []
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for t in range(1, 201):
            keys = np.arange(n * t, n * t + n)
            initial, _ = sess.run([emb, step], {ids: keys})  # every key is new
            if opt_name == "adagrad":
                expected = -lr / np.sqrt(0.1 + 1.0)
            else:  # zero moments, bias correction of step t
                b1, b2 = 0.9, 0.999
                expected = -lr * np.sqrt(1 - b2**t) / (1 - b1**t) * (1 - b1) / (
                    np.sqrt(1 - b2) + 1e-8)
            moved = table.read_rows(keys, sess) - initial
            if not np.allclose(moved, expected, rtol=0, atol=1e-5):
                wrong.append((t, float(np.abs(moved - expected).max())))
        assert table.stats(sess)["evictions"] == 199 * n
    assert not wrong, f"(step, max error) where new keys started from stale state: {wrong}"


def test_counters_are_readable():
    table, ids, emb, step, sess = train_table(device=4, host=50, keys_per_step=4)
    sess.run(step, {ids: [1, 2, 3, 4]})
    sess.run(step, {ids: [5, 6, 7, 8]})
    sess.run(step, {ids: [1, 2, 5, 6]})
    stats = table.stats(sess)
    assert stats["new_keys"] == 8
    assert stats["evictions"] == 6 and stats["loads"] == 2
    assert stats["hits"] == 2 and stats["misses"] == 10
    assert stats["device_keys"] == 4 and stats["host_keys"] == 4
    sess.close()


def test_counters_as_tensorboard_summaries(tmp_path):
    from mx_rec.core import tier_stats
    table, ids, emb, step, sess = train_table(device=4, host=50, keys_per_step=4)
    summaries = tier_stats.add_summaries()
    merged = tf.compat.v1.summary.merge_all()
    for batch in ([1, 2, 3, 4], [5, 6, 7, 8], [1, 2, 5, 6]):
        sess.run(step, {ids: batch})
    serialized = sess.run(merged)
    values = {v.tag: v.simple_value for v in tf.compat.v1.Summary.FromString(serialized).value}
    stats = table.stats(sess)
    for name in tier_stats.STAT_NAMES:
        assert values[f"mx_rec/t/{name}"] == stats[name], name
    assert values["mx_rec/t/device_hit_rate"] == pytest.approx(2 / 12)
    assert values["mx_rec/t/hot_hit_rate"] == 0.0
    writer = tf.compat.v1.summary.FileWriter(str(tmp_path))
    writer.add_summary(serialized, 3)
    writer.close()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())
    assert len(summaries) == len(tier_stats.STAT_NAMES) + 2
    sess.close()


def ssd_table(tmp_path, device=4, host=4, ssd=100):
    init()
    opt = adagrad.create_hash_optimizer(0.1)
    table = create_table(tf.int64, 4, "t", tf.compat.v1.random_uniform_initializer(-1, 1, seed=1),
                         device, host_vocabulary_size=host, ssd_vocabulary_size=ssd,
                         ssd_data_path=str(tmp_path))
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    step = opt.minimize(tf.reduce_sum(tf.square(sparse_lookup(table, ids))))
    read = sparse_lookup(table, ids, is_train=False)
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    return table, ids, step, read, sess


def test_eval_reads_ssd_rows(tmp_path):
    table, ids, step, read, sess = ssd_table(tmp_path)
    for batch in ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]):
        sess.run(step, {ids: batch})
    assert list(table.locate(np.arange(1, 13), sess)).count(2) == 4, "four keys on SSD"
    stats = table.stats(sess)
    first = sess.run(read, {ids: np.arange(1, 13)})
    assert np.all(first != 0)
    again = sess.run(read, {ids: np.arange(1, 13)})
    np.testing.assert_array_equal(first, again)
    moved = {k: v for k, v in stats.items() if k not in ("ssd_reads", "ssd_bytes_read")}
    assert {k: v for k, v in table.stats(sess).items() if k in moved} == moved
    sess.close()


def test_ssd_write_failure_is_an_exception_and_training_resumes(tmp_path):
    table, ids, step, read, sess = ssd_table(tmp_path)
    for batch in ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]):
        sess.run(step, {ids: batch})
    everything = np.arange(1, 13)
    before = sess.run(read, {ids: everything})
    _libasc.set_ssd_write_fault_for_testing("t", True)
    with pytest.raises(tf.errors.InternalError, match="SSD tier write to .* failed"):
        sess.run(step, {ids: [13, 14, 15, 16]})  # needs host rows demoted to SSD
    assert table.size(sess) == 12
    np.testing.assert_array_equal(sess.run(read, {ids: everything}), before)
    _libasc.set_ssd_write_fault_for_testing("t", False)
    sess.run(step, {ids: [13, 14, 15, 16]})
    assert table.size(sess) == 16
    np.testing.assert_array_equal(sess.run(read, {ids: everything}), before)
    sess.close()


def test_ssd_directory_is_removed_with_the_table(tmp_path):
    """The SSD tier belongs to the session's table: it outlives release() (the
    session keeps using the table) and is removed when the session closes."""
    table, ids, step, read, sess = ssd_table(tmp_path)
    for batch in ([1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]):
        sess.run(step, {ids: batch})
    assert table.stats(sess)["ssd_keys"] == 4
    (mine,) = [t for t in _libasc.live_tables("t")
               if any(d.startswith(str(tmp_path)) for d in t["ssd_directories"])]
    assert mine["size"] == 12
    (directory,) = mine["ssd_directories"]
    assert os.path.dirname(os.path.abspath(directory)) == str(tmp_path)
    assert os.path.isdir(directory)
    table.release()
    assert os.path.isdir(directory)
    assert table.size(sess) == 12
    sess.run(read, {ids: [1, 2, 3, 4]})  # SSD rows still readable
    sess.close()
    del sess
    gc.collect()
    assert not any(tmp_path.iterdir())
    assert all(directory not in t["ssd_directories"] for t in _libasc.live_tables())


def test_ssd_path_that_is_a_file(tmp_path):
    init()
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="ssd_data_path: '.*file' is not a directory"):
        create_table(tf.int64, 4, "t", None, 4, host_vocabulary_size=4, ssd_vocabulary_size=8,
                     ssd_data_path=str(afile))


@pytest.mark.parametrize("policy, hot_embedding, hot_stay",
                         [("LRU", False, False), ("LFU", False, True), ("LRU", True, True)])
def test_cache_policy(policy, hot_embedding, hot_stay):
    """Frequent keys survive a scan of one-off keys under LFU or pinned hot, not
    under plain LRU."""
    init()
    opt = adagrad.create_hash_optimizer(0.1)
    table = create_table(tf.int64, 4, "t", None, 8, host_vocabulary_size=200,
                         cache_policy=policy, hot_embedding=hot_embedding)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    step = opt.minimize(tf.reduce_sum(sparse_lookup(table, ids)))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(20):
            sess.run(step, {ids: [1, 2, 3, 4]})
        for k in range(100, 140, 2):
            sess.run(step, {ids: [k, k + 1]})
        on_device = table.locate(np.array([1, 2, 3, 4], np.int64), sess) == 0
        assert on_device.all() == hot_stay
        assert table.hot_vocabulary_size == (6 if hot_embedding else 0)  # default: 3/4 of 8 rows
        assert table.stats(sess)["hot_keys"] == (4 if hot_embedding else 0)


def test_hot_embedding_counters_and_hit_rate():
    """Hand-checked on 4 device rows, 2 of them for hot keys."""
    from mx_rec.core import tier_stats
    table, ids, emb, step, sess = train_table(device=4, host=50, keys_per_step=3,
                                              hot_embedding=True, hot_vocabulary_size=2)
    assert table.hot_vocabulary_size == 2
    summaries = tier_stats.add_summaries()
    merged = tf.compat.v1.summary.merge_all()
    # 1, 2 turn hot on their second lookup; 3 qualifies when the set is full;
    # then 4 takes the free row and 5 evicts 3, the one row neither hot nor used.
    for batch in ([1, 2, 3], [1, 2], [1, 2, 3], [1, 4, 5]):
        sess.run(step, {ids: batch})
    stats = table.stats(sess)
    assert (stats["hits"], stats["misses"], stats["evictions"]) == (6, 5, 1)
    assert (stats["hot_keys"], stats["hot_hits"]) == (2, 3)
    np.testing.assert_array_equal(table.locate(np.array([1, 2, 3], np.int64), sess), [0, 0, 1])
    assert tier_stats.hit_rates(stats) == pytest.approx(
        {"device_hit_rate": 6 / 11, "hot_hit_rate": 3 / 11})
    values = {v.tag: v.simple_value
              for v in tf.compat.v1.Summary.FromString(sess.run(merged)).value}
    assert values["mx_rec/t/hot_keys"] == 2 and values["mx_rec/t/hot_hits"] == 3
    assert values["mx_rec/t/hot_hit_rate"] == pytest.approx(3 / 11)
    assert len(summaries) == len(tier_stats.STAT_NAMES) + 2
    sess.close()


@pytest.mark.parametrize("refresh, hot_left", [(None, 2), (2, 1)])
def test_hot_refresh_steps(refresh, hot_left):
    """Hot keys idle for more than hot_refresh_steps steps leave the hot set:
    with 2, keys 1 and 2 leave at step 6 and 5 takes their room."""
    table, ids, emb, step, sess = train_table(device=8, host=50, keys_per_step=2,
                                              hot_embedding=True, hot_vocabulary_size=2,
                                              hot_refresh_steps=refresh)
    assert table.hot_refresh_steps == (refresh or 300)
    for batch in ([1, 2], [1, 2], [5], [5], [5], [5]):
        sess.run(step, {ids: batch})
    assert table.stats(sess)["hot_keys"] == hot_left
    sess.close()


def test_hot_capacity_checked_by_the_binding_too():
    """TableOptions.validate() (the C++ check create_table uses) and the table
    kernel itself reject what create_table's Python checks would let through."""
    from mx_rec.ops import asc_ops
    no_host = _libasc.TableOptions()
    no_host.name, no_host.key_dtype, no_host.dim = "raw", "int64", 4
    no_host.device_vocabulary_size, no_host.hot_vocabulary_size = 8, 2
    too_hot = _libasc.TableOptions.parse(no_host.serialize())
    too_hot.host_vocabulary_size, too_hot.hot_vocabulary_size = 16, 8
    no_host_msg = r"hot_vocabulary_size > 0 \(hot_embedding\) needs a host tier"
    too_hot_msg = r"hot_vocabulary_size must be in \[0, 7\], got 8"
    with pytest.raises(ValueError, match=no_host_msg):
        no_host.validate()
    with pytest.raises(ValueError, match=too_hot_msg):
        too_hot.validate()
    for options, match in ((no_host, no_host_msg), (too_hot, too_hot_msg)):
        handle = asc_ops.table_handle(options.serialize(), "raw")
        with tf.compat.v1.Session() as sess:
            with pytest.raises(tf.errors.InvalidArgumentError, match=match):
                sess.run(handle)
    assert not _libasc.live_tables("raw")


def test_cache_policy_must_be_known():
    init()
    with pytest.raises(ValueError, match="cache_policy must be 'LRU' or 'LFU', got 'MRU'"):
        create_table(tf.int64, 4, "t", None, 8, host_vocabulary_size=16, cache_policy="MRU")
