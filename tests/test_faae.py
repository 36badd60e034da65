"""Feature admission and eviction (FAAE): exact admission, no rows or updates
for unadmitted keys, eviction by step and by time from every tier."""

import time

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.feature_process import EvictHook
from mx_rec.libasc import _libasc
from mx_rec.optimizers import adagrad, gradient_descent

INIT = 0.25


def const_table(name="t", dim=2, **kwargs):
    return create_table(tf.int64, dim, name, tf.compat.v1.constant_initializer(INIT),
                        kwargs.pop("device_vocabulary_size", 100), **kwargs)


def sum_model(table, config, opt=None, global_step=None):
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids, access_and_evict_config=config)
    loss = tf.reduce_sum(emb)  # d loss / d row = occurrences of the key
    opt = opt or gradient_descent.create_hash_optimizer(1.0)
    return ids, emb, opt.minimize(loss, global_step=global_step)


@pytest.mark.parametrize("coefficient, steps_to_admit", [(1, 3), (2, 2), (3, 1)])
def test_admitted_after_exactly_access_threshold_weighted_occurrences(mx, coefficient,
                                                                      steps_to_admit):
    table = const_table()
    ids, emb, train = sum_model(table, dict(access_threshold=3, faae_coefficient=coefficient))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(1, steps_to_admit):
            out, _ = sess.run([emb, train], {ids: [7]})
            np.testing.assert_array_equal(out, [[0.0, 0.0]])  # not admitted: default value
            assert table.size() == 0
            keys, counts, _ = _libasc.export_admission("t")
            assert list(keys) == [7] and list(counts) == [step * coefficient]  # still counted
        out, _ = sess.run([emb, train], {ids: [7]})
        np.testing.assert_array_equal(out, [[INIT, INIT]])  # admitted now: its initial row
        assert table.size() == 1
        out = sess.run(emb, {ids: [7]})
        np.testing.assert_allclose(out, [[INIT - 1.0, INIT - 1.0]])  # and it was trained


def test_occurrences_within_one_batch_count(mx):
    table = const_table()
    ids, emb, train = sum_model(table, dict(access_threshold=3))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        out, _ = sess.run([emb, train], {ids: [5, 6, 5, 5, 6]})
        np.testing.assert_array_equal(out[[0, 2, 3]], np.full([3, 2], INIT))
        np.testing.assert_array_equal(out[[1, 4]], np.zeros([2, 2]))
        assert list(table.export_slots()[0]) == [5]


def test_unadmitted_keys_read_default_take_no_update_and_hold_no_row(mx):
    table = const_table(default_value=-1.0)
    opt = adagrad.create_hash_optimizer(0.5)
    ids, emb, train = sum_model(table, dict(access_threshold=2), opt)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: [1, 1, 2]})  # 1 admitted (2 occurrences), 2 not
        before = sess.run(table.variable)
        out, _ = sess.run([emb, train], {ids: [3, 4, 1]})  # 3, 4 unadmitted
        np.testing.assert_array_equal(out[:2], np.full([2, 2], -1.0))
        after = sess.run(table.variable)
        slot_of_1 = dict(zip(*table.export_slots()))[1]
        changed = np.where(np.any(before != after, axis=1))[0]
        assert list(changed) == [slot_of_1]
        assert table.size() == 1
        stats = table.stats()
        assert stats["rejected"] == 3 and stats["admission_keys"] == 4


def test_eviction_by_step_removes_exactly_the_stale_keys_from_every_tier(mx):
    step = tf.compat.v1.train.get_or_create_global_step()
    opt = adagrad.create_hash_optimizer(0.5, initial_accumulator_value=0.1)
    # DDR table: 4 device rows over a host tier, so stale keys sit in both tiers.
    table = const_table(device_vocabulary_size=4, host_vocabulary_size=50)
    ids, emb, train = sum_model(table, dict(access_threshold=1, eviction_threshold=3), opt, step)
    # step s (= global step) looks up these keys; 100 every step.
    feeds = [[100, 1, 2], [100, 3, 4], [100, 5, 6], [100, 7], [100], [100, 8]]
    hook = EvictHook(evict_enable=True, evict_step_interval=len(feeds))
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[hook]) as sess:
        for s, keys in enumerate(feeds[:-1]):
            sess.run(train, {ids: keys})
        slots_before = dict(zip(*table.export_slots()))
        assert set(slots_before) == {100, 1, 2, 3, 4, 5, 6, 7}
        tiers = dict(zip(range(1, 8), _libasc.locate("t", np.arange(1, 8))))
        assert {0, 1} <= set(tiers.values())  # stale keys on the device and on the host
        sess.run(train, {ids: feeds[-1]})  # 6th run: clock = 5, the hook fires after it
        # last seen 0 (keys 1, 2) and 1 (3, 4): 5 - s > 3; key 5, 6 (s = 2) stay.
        assert hook.evicted == 4
        held = set(table.export_slots()[0])
        assert held == {100, 5, 6, 7, 8}
        assert set(_libasc.locate("t", np.array([1, 2, 3, 4]))) == {-1}
        assert sorted(_libasc.export_admission("t")[0]) == [5, 6, 7, 8, 100]
        assert table.stats()["stale_evicted"] == 4
        # Device slots the evicted keys held are re-initialised (row and state).
        freed = [slots_before[k] for k in (1, 2, 3, 4) if slots_before[k] >= 0]
        state = table.state_slots[0].variable
        rows, acc = sess.run([table.variable, state])
        for slot in freed:
            np.testing.assert_array_equal(rows[slot], [INIT, INIT])
            np.testing.assert_allclose(acc[slot], [0.1, 0.1])
        # Training goes on; an evicted key comes back as a new key.
        out = sess.run(emb, {ids: [1, 100]})
        np.testing.assert_array_equal(out[0], [INIT, INIT])
        for _ in range(5):
            sess.run(train, {ids: [1, 2, 100, 9]})
        assert {1, 2, 9} <= set(table.export_slots()[0])


def test_eviction_by_time_uses_the_batch_timestamp(mx):
    table = const_table()
    spec = FeatureSpec("ids", table_name="t", access_threshold=1, eviction_threshold=500)
    stamp = FeatureSpec("ts", is_timestamp=True)
    data = {"ids": np.array([[1, 2], [2, 3], [3, 4], [4, 4]], np.int64),
            "ts": np.array([[100, 90], [300, 300], [700, 650], [800, 800]], np.int64)}
    ds = tf.data.Dataset.from_tensor_slices(data).map(get_asc_insert_func([spec, stamp]))
    batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
    emb = sparse_lookup(table, spec, batch=batch)
    train = gradient_descent.create_hash_optimizer(0.1).minimize(tf.reduce_sum(emb))
    hook = EvictHook(evict_enable=True, evict_time_interval=1, evict_step_interval=None)
    with tf.compat.v1.train.SingularMonitoredSession(hooks=[hook]) as sess:
        for _ in range(3):
            sess.run(train)
        assert hook.evicted == 0  # wall time: not due yet
        time.sleep(1.05)
        sess.run(train)  # batch time 800: key 1 (last seen 100) is > 500 s old;
        # key 2 (300) is exactly 500 s old: stale means strictly older.
        assert hook.evicted == 1
        assert sorted(table.export_slots()[0]) == [2, 3, 4]
        _, _, seen = _libasc.export_admission("t")
        assert sorted(seen) == [300, 700, 800]


def test_thresholds_are_per_table_and_checked(mx):
    table = const_table()
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    sparse_lookup(table, ids, access_and_evict_config=dict(access_threshold=2))
    with pytest.raises(ValueError, match="already uses access_threshold=2"):
        sparse_lookup(table, ids, access_and_evict_config=dict(access_threshold=3))
    plain = const_table("plain")
    sparse_lookup(plain, ids)
    with pytest.raises(ValueError, match="already looked up in training without admission"):
        sparse_lookup(plain, ids, access_and_evict_config=dict(access_threshold=2))


@pytest.mark.parametrize("kwargs, match", [
    (dict(eviction_threshold=10), "eviction_threshold needs access_threshold"),
    (dict(access_threshold=0), r"access_threshold must be in \[1, "),
    (dict(access_threshold=2, eviction_threshold=0), r"eviction_threshold must be in \[1, "),
    (dict(access_threshold=2, faae_coefficient=0), r"faae_coefficient must be in \[1, "),
    (dict(access_threshold=2.5), "access_threshold must be an integer"),
])
def test_bad_thresholds(mx, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        FeatureSpec("f", **kwargs)
    table = const_table()
    config = dict(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        sparse_lookup(table, tf.constant([1], tf.int64), access_and_evict_config=config)


def test_bad_hook_and_config_arguments(mx):
    with pytest.raises(ValueError, match="needs evict_time_interval or evict_step_interval"):
        EvictHook(evict_enable=True, evict_time_interval=None)
    with pytest.raises(ValueError, match=r"evict_step_interval must be in \[1, "):
        EvictHook(evict_enable=True, evict_step_interval=0)
    table = const_table()
    with pytest.raises(ValueError, match="unknown keys"):
        sparse_lookup(table, tf.constant([1], tf.int64),
                      access_and_evict_config=dict(access_threshold=1, evict=3))


def test_admission_state_round_trips(mx):
    table = const_table()
    ids, _, train = sum_model(table, dict(access_threshold=3, eviction_threshold=10))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: [1, 1, 2]})
        state = _libasc.export_admission("t")
        other = const_table("u")
        _libasc.configure_admission("u", 3, 10)
        _libasc.import_admission("u", *state)
        got = _libasc.export_admission("u")
        order_a, order_b = np.argsort(state[0]), np.argsort(got[0])
        for x, y in zip(state, got):
            np.testing.assert_array_equal(x[order_a], y[order_b])
        assert other.size() == 0
        with pytest.raises(ValueError, match="appears twice"):
            _libasc.import_admission("u", [1, 1], [1, 1], [0, 0])
