"""Sparse checkpoints through a plain tf.compat.v1.train.Saver.

The table's whole state (keys, rows and optimizer state from every tier,
admission records, clocks) is saved beside the TF checkpoint and restored by
the Saver's own restore op; a mismatched, corrupt or missing table checkpoint
is a clear error, never a fresh or partial table.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import table_scenarios as ts
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad, gradient_descent

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = [np.random.RandomState(i).randint(0, 60, 24) for i in range(12)]


def table_state(table, sess):
    """Everything a table holds, in a comparable form."""
    keys, _ = table.export_slots(sess)
    keys = np.sort(keys)
    state = dict(keys=keys, rows=table.read_rows(keys, sess), size=table.size(sess))
    stats = table.stats(sess)
    for tier in ("device_keys", "host_keys", "ssd_keys"):
        state[tier] = stats[tier]
    return state


@pytest.mark.slow
def test_restore_in_a_fresh_process_continues_with_identical_losses(tmp_path):
    """N steps, save, restore in a new process, M more steps == N + M steps in one
    run: HBM, DDR, SSD x FAAE on/off x lazy Adam, Adagrad x in-step, FeatureSpec."""
    script = os.path.join(HERE, "checkpoint_model.py")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    n, m = "10", "10"
    for phase in (["reference", n, m], ["save", n], ["restore", n, m]):
        done = subprocess.run([sys.executable, script, phase[0], str(tmp_path)] + phase[1:],
                              env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    reference = json.loads((tmp_path / "reference.json").read_text())
    restored = json.loads((tmp_path / "restore.json").read_text())
    assert set(reference) == set(restored) and len(reference) == 24
    for variant, losses in reference.items():
        diff = np.max(np.abs(np.array(losses[int(n):]) - np.array(restored[variant])))
        assert diff <= 1e-6, (variant, diff)


@pytest.mark.parametrize("mode", ts.MODES)
def test_saver_round_trip_restores_every_key_row_and_tier_count(mx, tmp_path, mode):
    model = ts.Model(mode, tmp_path)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in BATCHES:
            model.step(sess, batch)
        path = saver.save(sess, str(tmp_path / "model.ckpt"), global_step=12)
        saved = table_state(model.table, sess)
    counts = ts.count(BATCHES)
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        restored = table_state(model.table, sess)
        np.testing.assert_array_equal(restored["keys"], saved["keys"])
        np.testing.assert_array_equal(restored["rows"], saved["rows"])
        np.testing.assert_array_equal(restored["rows"], ts.expected_rows(counts, saved["keys"]))
        for field in ("size", "device_keys", "host_keys", "ssd_keys"):
            assert restored[field] == saved[field], field
        # Training continues on the restored rows.
        model.step(sess, BATCHES[0])
        counts.update(int(k) for k in BATCHES[0])
        keys = np.arange(60)
        np.testing.assert_array_equal(model.read(sess, keys), ts.expected_rows(counts, keys))


def test_restore_places_the_hottest_keys_on_the_device(mx, tmp_path):
    """A DDR table restored into a device tier smaller than its keys keeps the
    most used keys there; the rest goes to the host tier."""
    model = ts.Model("DDR", tmp_path, device=16, host=128)
    saver = tf.compat.v1.train.Saver()
    hot = np.arange(8)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for i in range(10):
            model.step(sess, np.concatenate([hot, 100 + np.arange(8) + 8 * i]))
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        assert (model.table.locate(hot, sess) == 0).all()
        stats = model.table.stats(sess)
        assert stats["device_keys"] == 16 and stats["host_keys"] == 8 + 80 - 16


def test_admission_records_and_clocks_survive_a_round_trip(mx, tmp_path):
    table = create_table(tf.int64, 4, "t", emb_initializer=tf.compat.v1.constant_initializer(0.1),
                         device_vocabulary_size=64)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids, access_and_evict_config=dict(access_threshold=3,
                                                                  eviction_threshold=5))
    train = gradient_descent.create_hash_optimizer(0.1).minimize(tf.reduce_sum(emb))
    saver = tf.compat.v1.train.Saver()

    def records(sess):
        keys, counts, seen = table.export_admission(sess)
        order = np.argsort(keys)
        return keys[order], counts[order], seen[order]

    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in ([1, 2, 3], [1, 2], [1, 4]):
            sess.run(train, {ids: batch})
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
        saved = records(sess)
        assert table.size(sess) == 1  # only key 1 was seen 3 times
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        for got, want in zip(records(sess), saved):
            np.testing.assert_array_equal(got, want)
        # Key 2's third access admits it: its count came back with it.
        sess.run(train, {ids: [2]})
        assert table.size(sess) == 2


def _build(name="t", dim=4, optimizer="sgd", key_dtype=tf.int64, extra_table=False):
    table = create_table(key_dtype, dim, name, emb_initializer=tf.compat.v1.constant_initializer(0.1),
                         device_vocabulary_size=64)
    ids = tf.compat.v1.placeholder(key_dtype, [None])
    loss = tf.reduce_sum(sparse_lookup(table, ids))
    if extra_table:
        other = create_table(tf.int64, 4, "other", device_vocabulary_size=8,
                             emb_initializer=tf.compat.v1.constant_initializer(0.1))
        loss += tf.reduce_sum(sparse_lookup(other, tf.constant([1], tf.int64)))
    opt = (adagrad.create_hash_optimizer(0.1) if optimizer == "adagrad"
           else gradient_descent.create_hash_optimizer(0.1))
    return ids, opt.minimize(loss)


def _save(path, **kwargs):
    with tf.Graph().as_default():
        ids, train = _build(**kwargs)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(train, {ids: [1, 2, 3]})
            return saver.save(sess, str(path))


@pytest.mark.parametrize("change, message", [
    (dict(dim=8), r"table 't'.*has dim 4, the table 8"),
    (dict(optimizer="adagrad"), r"table 't'.*holds blocks \[embedding\], the table has "
                                r"\[embedding, AdagradHash/accumulator\]"),
    (dict(key_dtype=tf.int32), r"table 't'.*has key dtype int64, the table int32"),
    (dict(extra_table=True), r"mx_rec/other/checkpoint"),
])
def test_a_checkpoint_that_does_not_match_the_graph_is_a_clear_error(mx, tmp_path, change,
                                                                     message):
    path = _save(tmp_path / "model.ckpt")
    ids, train = _build(**change)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        with pytest.raises((tf.errors.InvalidArgumentError, tf.errors.NotFoundError),
                           match=message):
            saver.restore(sess, path)


def _table_dir(path, name="t"):
    entry = tf.train.load_checkpoint(path).get_tensor(f"mx_rec/{name}/checkpoint").decode()
    return os.path.join(path + ".mx_rec", entry)


@pytest.mark.parametrize("damage, error, message", [
    ("flip", tf.errors.DataLossError, r"block-0.bin' fails its CRC-32 check"),
    ("truncate", tf.errors.DataLossError, r"keys.bin' has \d+ bytes, its manifest says"),
    ("manifest", tf.errors.DataLossError, r"manifest.json' does not match its CRC-32"),
    ("remove", tf.errors.NotFoundError, r"table checkpoint directory '.*' does not exist"),
])
def test_a_damaged_table_checkpoint_fails_the_restore_and_leaves_the_table_empty(
        mx, tmp_path, damage, error, message):
    model = ts.Model("DDR", tmp_path)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in BATCHES:
            model.step(sess, batch)
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
        directory = _table_dir(path)
        if damage == "flip":
            with open(os.path.join(directory, "block-0.bin"), "r+b") as f:
                f.seek(5)
                byte = f.read(1)
                f.seek(5)
                f.write(bytes([byte[0] ^ 0x40]))
        elif damage == "truncate":
            os.truncate(os.path.join(directory, "keys.bin"), 16)
        elif damage == "manifest":
            with open(os.path.join(directory, "manifest.json"), "w") as f:
                f.write("{not json")
        else:
            import shutil
            shutil.rmtree(directory)
        with pytest.raises(error, match=message):
            saver.restore(sess, path)
        assert model.table.size(sess) == 0


def test_saver_var_lists_decide_whether_tables_are_saved(mx, tmp_path):
    """Listing a table variable saves its table (not the variable); a list
    without table variables leaves tables out."""
    ids, train = _build()
    dense = tf.compat.v1.get_variable("dense", initializer=1.0)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: [1, 2]})
        everything = tf.compat.v1.train.Saver(tf.compat.v1.global_variables()).save(
            sess, str(tmp_path / "all"))
        only_dense = tf.compat.v1.train.Saver([dense]).save(sess, str(tmp_path / "dense"))
    names = dict(tf.train.list_variables(everything))
    assert "mx_rec/t/checkpoint" in names and "mx_rec/t" not in names
    assert set(dict(tf.train.list_variables(only_dense))) == {"dense"}
    assert not os.path.exists(only_dense + ".mx_rec")


def test_pruned_checkpoints_take_their_table_directories_with_them(mx, tmp_path):
    ids, train = _build()
    saver = tf.compat.v1.train.Saver(max_to_keep=2)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(5):
            sess.run(train, {ids: [step]})
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    kept = sorted(p for p in os.listdir(tmp_path) if p.endswith(".mx_rec"))
    assert kept == ["model.ckpt-3.mx_rec", "model.ckpt-4.mx_rec"]
    manifest = json.loads(open(os.path.join(_table_dir(str(tmp_path / "model.ckpt-4")),
                                            "manifest.json")).read())
    assert manifest["rows"] == 5 and manifest["kind"] == "full"


@pytest.mark.slow
def test_dlrm_example_restores_the_model_it_saved(tmp_path):
    """examples/dlrm: --model-dir saves, --restore 1 --steps 0 evaluates the
    restored model: the same eval AUC and log loss (DDR tables)."""
    script = os.path.join(HERE, os.pardir, "examples", "dlrm", "train.py")
    common = [sys.executable, script, "--cache-mode", "DDR", "--device-vocab-size", "256",
              "--model-dir", str(tmp_path / "model")]

    def scores(extra):
        done = subprocess.run(common + extra, capture_output=True, text=True, timeout=300,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
        assert done.returncode == 0, done.stderr[-3000:]
        return [line for line in done.stdout.splitlines()
                if line.startswith(("eval AUC", "eval rows"))]

    trained = scores(["--steps", "60"])
    assert len(trained) == 2
    assert scores(["--steps", "0", "--restore", "1"]) == trained


@pytest.mark.parametrize("policy", ["LRU", "LFU"])
def test_hot_embedding_tables_round_trip_and_rebuild_their_hot_set(mx, tmp_path, policy):
    """A DDR table with hot embedding: rows and access counts come back, and
    the hot set is rebuilt from the restored counts at the next refresh."""
    table = create_table(tf.int64, ts.DIM, "t", emb_initializer=tf.compat.v1.constant_initializer(
        ts.INIT), device_vocabulary_size=24, host_vocabulary_size=200, cache_policy=policy,
        hot_embedding=True, hot_vocabulary_size=8, hot_refresh_steps=2)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    emb = sparse_lookup(table, ids)
    train = gradient_descent.create_hash_optimizer(ts.LR).minimize(tf.reduce_sum(emb))
    saver = tf.compat.v1.train.Saver()
    hot = np.arange(6)
    batches = [np.concatenate([hot, 100 + 10 * i + np.arange(10)]) for i in range(8)]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for batch in batches:
            sess.run(train, {ids: batch})
        assert table.stats(sess)["hot_keys"] > 0
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
        saved = table_state(table, sess)
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        restored = table_state(table, sess)
        np.testing.assert_array_equal(restored["rows"], saved["rows"])
        assert (table.locate(hot, sess) == 0).all()
        for batch in batches[:3]:
            sess.run(train, {ids: batch})
        stats = table.stats(sess)
        assert stats["hot_keys"] > 0 and stats["hot_hits"] > 0
        counts = ts.count(batches + batches[:3])
        np.testing.assert_array_equal(table.read_rows(hot, sess), ts.expected_rows(counts, hot))


def test_savers_that_cannot_save_tables_say_so(mx, tmp_path, caplog):
    """tf.train.Checkpoint refuses table variables (it would restore rows
    without keys); a Saver whose var_list leaves tables out warns."""
    ids, train = _build()
    dense = tf.compat.v1.get_variable("dense", initializer=1.0)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        checkpoint = tf.compat.v1.train.Checkpoint(v=tf.compat.v1.global_variables())
        with pytest.raises(ValueError, match=r"variable of mx_rec table 't'.*tf.compat.v1.train.Saver"):
            checkpoint.write(str(tmp_path / "tf2"), session=sess)
    with caplog.at_level("WARNING"):
        tf.compat.v1.train.Saver([dense])
    assert "does not save table(s) t" in caplog.text
