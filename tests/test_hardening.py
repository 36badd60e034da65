"""Point 10 of "Tables owned by TensorFlow": each case is a clear Python
exception naming the argument (and its allowed range), or works; SSD faults
never abort the process; RocksDB files only go into directories mx_rec made.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.libasc import _libasc
from mx_rec.optimizers import (adagrad, adam_w, ftrl, gradient_descent, lazy_adam, minimize,
                               momentum, rms_prop)
from mx_rec.util.initialize import terminate_config_initializer

DIM = 4


def small_table(name="t", **kwargs):
    kwargs.setdefault("device_vocabulary_size", 64)
    return create_table(tf.int64, DIM, name, **kwargs)


def test_two_hash_optimizers_with_one_name_on_one_table_are_refused(mx):
    table = small_table()
    loss = tf.reduce_sum(sparse_lookup(table, tf.constant([1, 2], tf.int64)))
    adagrad.create_hash_optimizer(0.1).minimize(loss)
    with pytest.raises(ValueError, match="two hash optimizers named 'AdagradHash' train table 't'"):
        adagrad.create_hash_optimizer(0.2).minimize(loss)
    # Named apart, they may both train it.
    adagrad.create_hash_optimizer(0.2, name="second").minimize(loss)


@pytest.mark.parametrize("factory", [gradient_descent.create_hash_optimizer,
                                     adagrad.create_hash_optimizer,
                                     lazy_adam.create_hash_optimizer,
                                     ftrl.create_hash_optimizer,
                                     momentum.create_hash_optimizer,
                                     rms_prop.create_hash_optimizer,
                                     adam_w.create_hash_optimizer])
def test_learning_rate_must_be_finite_and_positive(factory):
    for bad in (float("nan"), float("inf"), -0.1, 0, True, "0.1", None):
        with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
            factory(learning_rate=bad)
    factory(learning_rate=np.float32(0.1))
    factory(learning_rate=np.float64(0.1))
    factory(learning_rate=1)


def test_other_optimizer_numbers_must_be_finite():
    with pytest.raises(ValueError, match="initial_accumulator_value must be a finite number > 0"):
        adagrad.create_hash_optimizer(0.1, initial_accumulator_value=float("inf"))
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0"):
        lazy_adam.create_hash_optimizer(0.1, epsilon=float("nan"))
    with pytest.raises(ValueError, match="l2_regularization_strength must be a finite number >= 0"):
        ftrl.create_hash_optimizer(0.1, l2_regularization_strength=float("inf"))


def test_huge_send_count_is_refused_with_its_range():
    from mx_rec.util.initialize import init
    init(use_dynamic=False)
    table = small_table(device_vocabulary_size=1000)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    with pytest.raises(ValueError, match=r"send_count must be in \[1, 1000\], got 2147483647"):
        sparse_lookup(table, ids, send_count=2**31 - 1)
    terminate_config_initializer()
    init(use_dynamic=False, use_dynamic_expansion=True)
    table = small_table("grows", device_vocabulary_size=1000)
    with pytest.raises(ValueError, match=r"send_count must be in \[1, 4194304\]"):
        sparse_lookup(table, ids, send_count=2**31 - 1)


def test_table_names_that_are_not_op_names_are_refused_and_slashes_work(mx):
    for bad in ("-dash", "", "a b", "a//b", "a/", "/a"):
        with pytest.raises(ValueError, match="name must start with a letter, digit or '.'"):
            small_table(bad)
    table = small_table("team/user.ids-v2")
    loss = tf.reduce_sum(sparse_lookup(table, tf.constant([1, 2, 3], tf.int64)))
    train = adagrad.create_hash_optimizer(0.1).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train)
        assert table.size(sess) == 3


def ssd_table(name, path, host=8):
    return create_table(tf.int64, DIM, name, device_vocabulary_size=8, host_vocabulary_size=host,
                        ssd_vocabulary_size=1000, ssd_data_path=str(path),
                        emb_initializer=tf.compat.v1.constant_initializer(0.5))


def train_ssd(tables, steps=6, ids_per_step=8):
    losses = [tf.reduce_sum(sparse_lookup(t, tf.compat.v1.placeholder(tf.int64, [None],
                                                                        name=f"ids{i}")))
              for i, t in enumerate(tables)]
    train = gradient_descent.create_hash_optimizer(0.25).minimize(tf.add_n(losses))
    placeholders = [tf.compat.v1.get_default_graph().get_tensor_by_name(f"ids{i}:0")
                    for i in range(len(tables))]
    return train, placeholders


def test_ssd_tables_with_alike_names_share_a_path_and_never_touch_user_directories(mx, tmp_path):
    user_dir = tmp_path / "t"           # a user directory named like a table
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("mine")
    tables = [ssd_table("a/b", tmp_path), ssd_table("a_b", tmp_path), ssd_table("t", tmp_path)]
    train, placeholders = train_ssd(tables)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(6):
            sess.run(train, {p: np.arange(step * 8, step * 8 + 8) for p in placeholders})
        for table in tables:
            assert table.stats(sess)["ssd_keys"] > 0
            np.testing.assert_array_equal(table.read_rows(np.arange(0, 48), sess),
                                          np.full([48, DIM], 0.25, np.float32))
        made = set(os.listdir(tmp_path)) - {"t"}
        assert len(made) == 3 and all(d.startswith("mx_rec_ssd.") for d in made), made
    assert os.listdir(user_dir) == ["notes.txt"]
    import gc
    gc.collect()
    assert sorted(os.listdir(tmp_path)) == ["t"], "the tables' own directories are removed"


def test_a_deleted_ssd_directory_is_a_clear_error(mx, tmp_path):
    table = ssd_table("t", tmp_path)
    train, (ids,) = train_ssd([table])
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(train, {ids: np.arange(0, 8)})
        for d in table.stats(sess) and _libasc.live_tables("t")[0]["ssd_directories"]:
            import shutil
            shutil.rmtree(d)
        with pytest.raises(tf.errors.OpError, match="no longer exists") as err:
            for step in range(1, 6):
                sess.run(train, {ids: np.arange(step * 8, step * 8 + 8)})
        assert "bytes free" not in str(err.value)
    terminate_config_initializer()


FULL_DISK_SCRIPT = textwrap.dedent(r'''
    import resource, signal, sys
    import numpy as np
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    from mx_rec.util.initialize import init, terminate_config_initializer
    from mx_rec.core.embedding import create_table, sparse_lookup
    from mx_rec.optimizers import gradient_descent
    init()
    # 2 KiB rows: RocksDB's memtable fills and flushes to files within a few
    # hundred steps.
    table = create_table(tf.int64, 512, "t", device_vocabulary_size=128,
                         host_vocabulary_size=128, ssd_vocabulary_size=10**6,
                         ssd_data_path=sys.argv[1])
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    train = gradient_descent.create_hash_optimizer(0.1).minimize(
        tf.reduce_sum(sparse_lookup(table, ids)))
    sess = tf.compat.v1.Session()
    sess.run(tf.compat.v1.global_variables_initializer())
    # From now on every file write beyond 64 KiB fails, as on a full disk.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
    failed = None
    for step in range(3000):
        try:
            sess.run(train, {ids: np.arange(step * 128, step * 128 + 128)})
        except tf.errors.OpError as err:
            failed = type(err).__name__ + ": " + err.message.splitlines()[0]
            break
    print("step failed:", failed)
    sess.close()
    terminate_config_initializer()
    import gc; gc.collect()
    print("clean exit")
''')


@pytest.mark.slow
def test_a_full_disk_fails_the_step_and_never_aborts_the_process(tmp_path):
    out = subprocess.run([sys.executable, "-c", FULL_DISK_SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, timeout=300, check=False,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "step failed: " in out.stdout and "step failed: None" not in out.stdout, out.stdout
    assert "clean exit" in out.stdout
    assert os.listdir(tmp_path) == [], "the SSD directory is removed even after write errors"


def test_minimize_without_a_hash_optimizer_is_a_clear_error(mx):
    loss = tf.reduce_sum(tf.compat.v1.get_variable("w", [2]))
    with pytest.raises(TypeError, match="hash_optimizer must be an mx_rec hash optimizer"):
        minimize(loss, tf.compat.v1.train.AdamOptimizer(0.1), None)
    with pytest.raises(TypeError, match="dense_optimizer must be a tf.compat.v1.train.Optimizer"):
        minimize(loss, "adam", adagrad.create_hash_optimizer(0.1))


EAGER_SCRIPT = textwrap.dedent(r'''
    import tensorflow as tf
    from mx_rec.util.initialize import init
    from mx_rec.core.embedding import create_table
    init()
    try:
        create_table(tf.int64, 4, "t", device_vocabulary_size=8)
    except RuntimeError as err:
        print("refused:", err)
''')


def test_eager_mode_is_refused_before_anything_happens():
    out = subprocess.run([sys.executable, "-c", EAGER_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=False, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "refused: create_table: mx_rec tables run in graph mode" in out.stdout
    assert "disable_eager_execution" in out.stdout


def test_a_table_has_a_shape_like_a_variable(mx):
    table = small_table(device_vocabulary_size=100)
    assert table.shape == tf.TensorShape([100, DIM]) == table.get_shape()
    # A parameter-count loop over a script's embedding tables and variables.
    w = tf.compat.v1.get_variable("w", [DIM, 1])
    assert sum(int(np.prod(v.get_shape().as_list())) for v in (table, w)) == 100 * DIM + DIM


def test_a_table_the_loss_uses_but_no_optimizer_updates_is_warned_about(mx):
    trained, frozen = small_table("trained"), small_table("frozen")
    ids = tf.constant([1, 2], tf.int64)
    loss = tf.reduce_sum(sparse_lookup(trained, ids)) + tf.reduce_sum(sparse_lookup(frozen, ids))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adagrad.create_hash_optimizer(0.1).minimize(loss, var_list=[trained])
    messages = [str(w.message) for w in caught]
    assert any("table 'frozen' is used by the loss" in m for m in messages), messages
    assert not any("'trained'" in m for m in messages)


def test_a_hash_optimizer_joining_a_ddr_table_after_rows_moved_is_a_clear_error(mx):
    table = create_table(tf.int64, DIM, "t", device_vocabulary_size=8, host_vocabulary_size=64)
    ids = tf.compat.v1.placeholder(tf.int64, [None])
    loss = tf.reduce_sum(sparse_lookup(table, ids))
    first = adagrad.create_hash_optimizer(0.1).minimize(loss)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in range(4):
            sess.run(first, {ids: np.arange(step * 8, step * 8 + 8)})
        assert table.stats(sess)["host_keys"] > 0
        late = ftrl.create_hash_optimizer(0.1, name="LateFtrl")
        second = late.minimize(loss)
        sess.run(tf.compat.v1.variables_initializer(
            [s.variable for s in table.state_slots(sess.graph) if s.owner is late]))
        with pytest.raises(tf.errors.FailedPreconditionError,
                           match="hash optimizer state 'LateFtrl/accumulator' cannot join table 't'"):
            sess.run(second, {ids: np.arange(0, 8)})
        # The table still trains with the optimizer it had.
        sess.run(first, {ids: np.arange(0, 8)})


UNTRAINED_SCRIPT = textwrap.dedent(r'''
    import numpy as np
    import tensorflow as tf
    tf.compat.v1.disable_eager_execution()
    from mx_rec.util.initialize import init
    from mx_rec.core.embedding import create_table, sparse_lookup
    init()
    table = create_table(tf.int64, 4, "lonely", device_vocabulary_size=64)
    w = tf.compat.v1.get_variable("w", [4])
    loss = tf.reduce_sum(sparse_lookup(table, tf.constant([1, 2, 3], tf.int64)) * w)
    train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)  # dense only
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(12):
            sess.run(train)
        print("size", table.size(sess))
''')


def test_a_table_no_hash_optimizer_trains_is_warned_about_at_run_time():
    """A script migrated without a hash optimizer: no train op mx_rec builds
    could warn, so the table's kernel does after 10 uncommitted steps."""
    out = subprocess.run([sys.executable, "-c", UNTRAINED_SCRIPT], capture_output=True, text=True,
                         timeout=120, check=False, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "size 0" in out.stdout  # every step's new keys were taken back
    assert out.stderr.count("mx_rec table 'lonely': 10 training steps in a row ended without a "
                            "hash optimizer update") == 1, out.stderr[-2000:]


def test_common_slips_are_clear_errors(mx):
    table = small_table()
    for ids in (None, {"ids": tf.constant([1], tf.int64)}):
        with pytest.raises(TypeError, match="ids must be an int32/int64 tensor .* pass one feature"):
            sparse_lookup(table, ids)
    for bad in (float("nan"), [1.0, float("inf"), 0.0, 0.0]):
        with pytest.raises(ValueError, match="default_value must be finite"):
            small_table("d", default_value=bad)
    with pytest.raises(TypeError, match="session must be a tf.compat.v1.Session"):
        table.stats("sess")
    with tf.Graph().as_default() as other, tf.compat.v1.Session(graph=other) as sess:
        with pytest.raises(ValueError, match="runs a graph in which table 't' is not used"):
            table.stats(sess)
    with tf.compat.v1.Session() as sess:  # the table's graph, initializer not run
        with pytest.raises(RuntimeError, match="not initialized in this session"):
            table.capacity(sess)
        with pytest.raises(TypeError, match="keys must be integers"):
            table.read_rows([1.5], sess)
    import mx_rec.optimizers as optimizers
    assert optimizers.adagrad.create_hash_optimizer(0.1).name == "AdagradHash"


def test_a_table_name_stays_taken_in_its_graph_after_reinit(tmp_path):
    """The notebook pattern: re-running a model cell after terminate + init in
    the same default graph must not give two tables one resource."""
    from mx_rec.util.initialize import init
    init()
    small_table()
    terminate_config_initializer()
    init()
    with pytest.raises(ValueError, match=r"another table named 't' is already used in this graph "
                                         r"\(released by terminate_config_initializer"):
        small_table()
    with tf.Graph().as_default():
        small_table()  # a new graph is fine
