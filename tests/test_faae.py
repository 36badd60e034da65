"""Feature admission and eviction (FAAE): exact admission, no rows or updates
for unadmitted keys, eviction by step and by time from every tier."""

import time

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.feature_process import EvictHook, evict_op
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
            assert table.size(sess) == 0
            keys, counts, _ = table.export_admission(sess)
            assert list(keys) == [7] and list(counts) == [step * coefficient]  # still counted
        out, _ = sess.run([emb, train], {ids: [7]})
        np.testing.assert_array_equal(out, [[INIT, INIT]])  # admitted now: its initial row
        assert table.size(sess) == 1
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
        assert list(table.export_slots(sess)[0]) == [5]


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
        slot_of_1 = dict(zip(*table.export_slots(sess)))[1]
        changed = np.where(np.any(before != after, axis=1))[0]
        assert list(changed) == [slot_of_1]
        assert table.size(sess) == 1
        stats = table.stats(sess)
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
        raw = sess.raw_session()  # introspection without running the hooks
        for s, keys in enumerate(feeds[:-1]):
            sess.run(train, {ids: keys})
        slots_before = dict(zip(*table.export_slots(raw)))
        assert set(slots_before) == {100, 1, 2, 3, 4, 5, 6, 7}
        tiers = dict(zip(range(1, 8), table.locate(np.arange(1, 8), raw)))
        assert {0, 1} <= set(tiers.values())  # stale keys on the device and on the host
        sess.run(train, {ids: feeds[-1]})  # 6th run: clock = 5, the hook fires after it
        # last seen 0 (keys 1, 2) and 1 (3, 4): 5 - s > 3; key 5, 6 (s = 2) stay.
        assert hook.evicted == 4
        held = set(table.export_slots(raw)[0])
        assert held == {100, 5, 6, 7, 8}
        assert set(table.locate(np.array([1, 2, 3, 4]), raw)) == {-1}
        assert sorted(table.export_admission(raw)[0]) == [5, 6, 7, 8, 100]
        assert table.stats(raw)["stale_evicted"] == 4
        # Training goes on; an evicted key comes back as a new key: its initial
        # row and fresh optimizer state (slot reuse: test_evicted_slots_...).
        out = sess.run(emb, {ids: [1, 100]})
        np.testing.assert_array_equal(out[0], [INIT, INIT])
        out, _ = sess.run([emb, train], {ids: [1, 2]})
        np.testing.assert_array_equal(out, np.full([2, 2], INIT))
        slots = dict(zip(*table.export_slots(raw)))
        state = table.state_slots()[0].variable
        acc = raw.run(state)
        for key in (1, 2):
            # Adagrad from accumulator 0.1 and gradient 1: 0.1 + 1.
            np.testing.assert_allclose(acc[slots[key]], [1.1, 1.1], rtol=1e-6)
        np.testing.assert_allclose(table.read_rows([1, 2], raw),
                                   np.full([2, 2], INIT - 0.5 / np.sqrt(1.1)), rtol=1e-6)
        for _ in range(5):
            sess.run(train, {ids: [1, 2, 100, 9]})
        assert {1, 2, 9} <= set(table.export_slots(raw)[0])


def test_introspection_inside_a_monitored_session(mx):
    """table.size() & co. work inside a MonitoredSession (finalized graph), as
    they did when tables were process-wide: the tests above used them there."""
    table = const_table()
    ids, _, train = sum_model(table, dict(access_threshold=1))
    with tf.compat.v1.train.SingularMonitoredSession() as sess:
        sess.run(train, {ids: [1, 2]})
        raw = sess.raw_session()
        assert table.size(raw) == 2
        assert sorted(table.export_slots(raw)[0]) == [1, 2]
        assert sorted(table.export_admission(raw)[0]) == [1, 2]
        np.testing.assert_array_equal(table.locate([1, 3], raw), [0, -1])
        np.testing.assert_allclose(table.read_rows([1], raw), [[INIT - 1.0, INIT - 1.0]])


def test_evicted_slots_give_new_keys_a_fresh_row_and_optimizer_state(mx):
    """HBM table: evict_op() frees the device slots of stale keys; the new keys
    that take them start from their initial row and optimizer state, never
    from what the evicted key left there."""
    opt = adagrad.create_hash_optimizer(0.5, initial_accumulator_value=0.1)
    table = const_table(device_vocabulary_size=4)
    ids, emb, train = sum_model(table, dict(access_threshold=1, eviction_threshold=1), opt)
    evict = evict_op()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(3):  # rows and accumulators of 1..4 move far from their initial values
            sess.run(train, {ids: [1, 2, 3, 4, 1, 2, 3, 4]})
        sess.run(train, {ids: [1, 2]})
        sess.run(train, {ids: [1, 2]})  # 3, 4: last seen 2 steps ago
        old = dict(zip(*table.export_slots(sess)))
        assert sess.run(evict) == 2
        assert sorted(table.export_slots(sess)[0]) == [1, 2]
        out, _ = sess.run([emb, train], {ids: [5, 6, 5]})  # the table is full without the freed slots
        np.testing.assert_array_equal(out, np.full([3, 2], INIT))
        slots = dict(zip(*table.export_slots(sess)))
        assert {slots[5], slots[6]} == {old[3], old[4]}
        rows, acc = sess.run([table.variable, table.state_slots()[0].variable])
        # One adagrad step from accumulator 0.1: key 5 (gradient 2), key 6 (1).
        for key, grad in ((5, 2.0), (6, 1.0)):
            np.testing.assert_allclose(acc[slots[key]], [0.1 + grad**2] * 2, rtol=1e-6)
            np.testing.assert_allclose(rows[slots[key]],
                                       [INIT - 0.5 * grad / np.sqrt(0.1 + grad**2)] * 2, rtol=1e-6)


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
        raw = sess.raw_session()
        assert sorted(table.export_slots(raw)[0]) == [2, 3, 4]
        _, _, seen = table.export_admission(raw)
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


def test_admission_records_belong_to_the_table_and_the_session(mx):
    """(The import half of the old export/import round trip is gone from the
    API: admission records are only exported, per table and per session.)"""
    table = const_table()
    other = const_table("u")
    ids, _, train = sum_model(table, dict(access_threshold=3, eviction_threshold=10))
    sparse_lookup(other, ids, access_and_evict_config=dict(access_threshold=3))

    def records(t, sess):
        keys, counts, seen = t.export_admission(sess)
        order = np.argsort(keys)
        return keys[order].tolist(), counts[order].tolist(), seen[order].tolist()

    with tf.compat.v1.Session() as sess, tf.compat.v1.Session() as sess2:
        for s in (sess, sess2):
            s.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: [1, 1, 2]})
        keys, counts, seen = records(table, sess)
        assert keys == [1, 2] and counts == [2, 1]
        assert seen[0] == seen[1]  # seen in the same step
        assert table.size(sess) == 0  # counted, not admitted
        assert records(other, sess) == ([], [], [])  # per table
        assert records(table, sess2) == ([], [], [])  # per session
        sess2.run(train, {ids: [2, 2, 2]})
        assert records(table, sess2)[:2] == ([2], [3])
        assert table.size(sess2) == 1
        assert records(table, sess) == (keys, counts, seen)
