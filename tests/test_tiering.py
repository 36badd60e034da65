"""DDR mode (device tier as a cache over a host tier): reads, errors, counters."""

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import adagrad, lazy_adam
from mx_rec.util.initialize import init


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
    stats = table.stats()
    assert stats["host_keys"] > 0 and stats["device_keys"] == 16
    held, _ = table.export_slots()
    unseen = np.array([1000, 1001], np.int64)
    query = np.concatenate([held, unseen])
    evaluated = sparse_lookup(table, ids, is_train=False)
    values = sess.run(evaluated, {ids: query})
    np.testing.assert_array_equal(values[-2:], np.zeros([2, 4]))
    assert table.stats() == stats, "an eval read moves and inserts nothing"
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
                       match=r"table 't': the device tier \(device_vocabulary_size=8\) is smaller"):
        sess.run(step, {ids: np.arange(10, 19)})
    assert table.size() == 4
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
    assert table.size() == 8
    sess.run(step, {ids: [1, 2, 3, 4]})  # known keys still swap in
    sess.close()


def test_hash_optimizer_created_after_a_ddr_table_is_rejected():
    init()
    table = create_table(tf.int64, 4, "t", None, 8, host_vocabulary_size=16)
    emb = sparse_lookup(table, tf.constant([1, 2], tf.int64))
    late = lazy_adam.create_hash_optimizer(0.1)
    with pytest.raises(ValueError, match="create the hash optimizer 'LazyAdamHash' before "
                                         r"create_table\('t'"):
        late.minimize(tf.reduce_sum(emb))


def test_counters_are_readable():
    table, ids, emb, step, sess = train_table(device=4, host=50, keys_per_step=4)
    sess.run(step, {ids: [1, 2, 3, 4]})
    sess.run(step, {ids: [5, 6, 7, 8]})
    sess.run(step, {ids: [1, 2, 5, 6]})
    stats = table.stats()
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
    stats = table.stats()
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
    assert list(_libasc.locate("t", np.arange(1, 13))).count(2) == 4, "four keys on SSD"
    stats = table.stats()
    first = sess.run(read, {ids: np.arange(1, 13)})
    assert np.all(first != 0)
    again = sess.run(read, {ids: np.arange(1, 13)})
    np.testing.assert_array_equal(first, again)
    moved = {k: v for k, v in stats.items() if k not in ("ssd_reads", "ssd_bytes_read")}
    assert {k: v for k, v in table.stats().items() if k in moved} == moved
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
    assert table.size() == 12
    np.testing.assert_array_equal(sess.run(read, {ids: everything}), before)
    _libasc.set_ssd_write_fault_for_testing("t", False)
    sess.run(step, {ids: [13, 14, 15, 16]})
    assert table.size() == 16
    np.testing.assert_array_equal(sess.run(read, {ids: everything}), before)
    sess.close()


def test_ssd_directory_is_removed_with_the_table(tmp_path):
    table, ids, step, read, sess = ssd_table(tmp_path)
    sess.run(step, {ids: [1, 2, 3]})
    assert any(tmp_path.iterdir())
    table.release()
    assert not any(tmp_path.iterdir())
    sess.close()


def test_ssd_path_that_is_a_file(tmp_path):
    init()
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ValueError, match="ssd_data_path: '.*file' is not an existing directory"):
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
    on_device = _libasc.locate("t", np.array([1, 2, 3, 4], np.int64)) == 0
    assert on_device.all() == hot_stay
    assert table.hot_vocabulary_size == (6 if hot_embedding else 0)  # default: 3/4 of 8 rows
    assert table.stats()["hot_keys"] == (4 if hot_embedding else 0)


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
    stats = table.stats()
    assert (stats["hits"], stats["misses"], stats["evictions"]) == (6, 5, 1)
    assert (stats["hot_keys"], stats["hot_hits"]) == (2, 3)
    np.testing.assert_array_equal(_libasc.locate("t", np.array([1, 2, 3], np.int64)), [0, 0, 1])
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
    assert table.stats()["hot_keys"] == hot_left
    sess.close()


def test_hot_capacity_checked_by_the_binding_too():
    with pytest.raises(ValueError, match=r"hot_capacity \(hot_vocabulary_size\) > 0 needs a host "
                                         r"tier"):
        _libasc.create_table(name="raw", key_type="int64", dim=4, device_capacity=8,
                             hot_capacity=2)
    with pytest.raises(ValueError, match=r"hot_capacity \(hot_vocabulary_size\) must be in "
                                         r"\[0, 7\]"):
        _libasc.create_table(name="raw", key_type="int64", dim=4, device_capacity=8,
                             host_capacity=16, hot_capacity=8)
    assert not _libasc.has_table("raw")


def test_cache_policy_must_be_known():
    init()
    with pytest.raises(ValueError, match="cache_policy must be 'LRU' or 'LFU', got 'MRU'"):
        create_table(tf.int64, 4, "t", None, 8, host_vocabulary_size=16, cache_policy="MRU")
