"""Incremental checkpoints: a full checkpoint, then deltas (rows touched since
the previous save plus tombstones); every version restores bit for bit."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import table_scenarios as ts
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.ops import asc_ops
from mx_rec.optimizers import lazy_adam
from mx_rec.util.initialize import init

FAAE = dict(access_threshold=2, eviction_threshold=6)


def read_table_dir(path):
    """{key: all blocks of its row} and the admission records of a full
    table checkpoint directory."""
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert manifest["kind"] == "full"
    keys = np.fromfile(os.path.join(path, "keys.bin"), np.int64)
    dim = manifest["schema"]["dim"]
    blocks = [np.fromfile(os.path.join(path, f"block-{i}.bin"), np.float32).reshape(-1, dim)
              for i in range(len(manifest["schema"]["blocks"]))]
    rows = {int(k): np.concatenate([b[i] for b in blocks]).tobytes() for i, k in enumerate(keys)}
    records = np.fromfile(os.path.join(path, "admission.bin"), np.int64).reshape(-1, 3)
    return rows, sorted(map(tuple, records.tolist())), manifest["clocks"]


class Model:
    def __init__(self, mode, tmp_path):
        self.table = create_table(tf.int64, ts.DIM, "t",
                                  emb_initializer=tf.compat.v1.constant_initializer(0.1),
                                  **ts.table_kwargs(mode, tmp_path, device=24, host=40, ssd=400))
        self.ids = tf.compat.v1.placeholder(tf.int64, [None])
        emb = sparse_lookup(self.table, self.ids, access_and_evict_config=FAAE)
        loss = tf.reduce_sum(tf.square(emb - 1.0))
        self.train = lazy_adam.create_hash_optimizer(0.05).minimize(loss)
        self.evict = asc_ops.evict_stale(self.table.handle, **FAAE)
        # A full copy of the table, taken outside the Saver's delta sequence.
        graph_table = self.table.in_graph()
        slots = list(graph_table.state_slots.values())
        self.snap_path = tf.compat.v1.placeholder(tf.string, [])
        self.snap = asc_ops.table_save(graph_table.handle, graph_table.variable,
                                       [s.variable for s in slots], [s.init_value for s in slots],
                                       list(graph_table.state_slots), self.snap_path,
                                       tf.constant(-1, tf.int64))

    def snapshot(self, sess, path):
        entry = sess.run(self.snap, {self.snap_path: str(path)}).decode()
        return read_table_dir(f"{path}.mx_rec/{entry}")


@pytest.mark.parametrize("mode", ts.MODES)
def test_full_then_five_deltas_restore_each_version_exactly(tmp_path, mode):
    init(is_incremental_checkpoint=True)
    model = Model(mode, tmp_path)
    saver = tf.compat.v1.train.Saver(max_to_keep=10)
    rng = np.random.RandomState(7)
    snapshots = {}
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for version in range(6):
            for _ in range(3):
                # A drifting vocabulary: old keys go stale and are evicted.
                ids = np.unique(rng.randint(0, 30, 16) + 6 * version)
                sess.run(model.train, {model.ids: ids})
            if version > 0:
                assert sess.run(model.evict) >= 0
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=version)
            snapshots[version] = model.snapshot(sess, tmp_path / f"snap-{version}")
    kinds, tombstones = [], []
    for version in range(6):
        entry = tf.train.load_checkpoint(str(tmp_path / f"model.ckpt-{version}")).get_tensor(
            "mx_rec/t/checkpoint").decode()
        manifest = json.load(open(tmp_path / f"model.ckpt-{version}.mx_rec" / entry /
                                  "manifest.json"))
        kinds.append(manifest["kind"])
        if version:  # only touched rows, and the evicted keys as tombstones
            assert manifest["rows"] < len(snapshots[version][0])
            tombstones.append(manifest["tombstones"])
    assert kinds == ["full"] + ["delta"] * 5
    assert sum(tombstones[-3:]) > 0, tombstones
    for version in range(6):
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, str(tmp_path / f"model.ckpt-{version}"))
            rows, records, clocks = model.snapshot(sess, tmp_path / f"restored-{version}")
        want_rows, want_records, want_clocks = snapshots[version]
        assert rows.keys() == want_rows.keys(), version
        assert all(rows[k] == want_rows[k] for k in rows), version
        assert records == want_records, version
        assert clocks == want_clocks, version


def test_pruning_keeps_the_chain_a_kept_delta_needs(tmp_path):
    init(is_incremental_checkpoint=True)
    model = Model("HBM", tmp_path)
    saver = tf.compat.v1.train.Saver(max_to_keep=2)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for version in range(5):
            sess.run(model.train, {model.ids: [version, version + 1, 100]})
            sess.run(model.train, {model.ids: [version, version + 1, 100]})
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=version)
        want = model.snapshot(sess, tmp_path / "snap")
    # TF kept versions 3 and 4; their chains start at the full version 0.
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".index")) == \
        ["model.ckpt-3.index", "model.ckpt-4.index"]
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("model") and p.endswith(".mx_rec")) == \
        [f"model.ckpt-{v}.mx_rec" for v in range(5)]
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, str(tmp_path / "model.ckpt-4"))
        got = model.snapshot(sess, tmp_path / "restored")
    assert got[0] == want[0] and got[1] == want[1]


def test_a_missing_chain_link_is_a_clear_error(tmp_path):
    init(is_incremental_checkpoint=True)
    model = Model("HBM", tmp_path)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for version in range(2):
            sess.run(model.train, {model.ids: [1, 2, 3]})
            saver.save(sess, str(tmp_path / "model.ckpt"), global_step=version)
    import shutil
    shutil.rmtree(tmp_path / "model.ckpt-0.mx_rec")
    with tf.compat.v1.Session() as sess:
        with pytest.raises(tf.errors.NotFoundError, match=r"builds on '.*model.ckpt-0.mx_rec/t@"):
            saver.restore(sess, str(tmp_path / "model.ckpt-1"))
