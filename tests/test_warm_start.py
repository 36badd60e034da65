"""Custom warm start (mx_rec.checkpoint.warm_start): dense variables and tables
from several checkpoints, later ones overriding earlier ones.

Source checkpoints hold tables "user" and "item" trained by SGD on
loss = sum of rows, so a key's row is exactly init - LR * (its lookups), and
dense variables "mlp_layer_w" and "bias" set to known values; each source has
its own init value, keys and dense values, so every restored number tells
which checkpoint it came from.
"""

import collections
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.checkpoint.warm_start import warm_start, warm_start_model_fn
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adagrad, gradient_descent
from mx_rec.util import initialize
from table_scenarios import table_kwargs

DIM = 4
LR = 0.25
KEYS = np.arange(100, dtype=np.int64)
WarmStartSettings = tf.estimator.WarmStartSettings


class Model:
    """Tables (name -> SparseTable), a training lookup of each, dense variables
    mlp_layer_w [2] and bias [], and a hash optimizer."""

    def __init__(self, init=0.0, names=("user", "item"), tier=None, dim=DIM, optimizer="sgd",
                 dense=("mlp_layer_w", "bias"), build_optimizer=True, ids=None):
        tier = tier or dict(device_vocabulary_size=128)
        self.tables = {n: create_table(tf.int64, dim, n,
                                       emb_initializer=tf.compat.v1.constant_initializer(init),
                                       **tier)
                       for n in names}
        self.ids = ids or {n: tf.compat.v1.placeholder(tf.int64, [None], name=f"{n}_ids")
                           for n in names}
        self.loss = tf.add_n([tf.reduce_sum(sparse_lookup(t, self.ids[n]))
                              for n, t in self.tables.items()])
        self.dense = {}
        for name in dense:
            shape = [2] if name.endswith("_w") else []
            self.dense[name] = tf.compat.v1.get_variable(
                name, shape, initializer=tf.compat.v1.constant_initializer(-1.0))
            self.loss += tf.reduce_sum(self.dense[name])
        self.optimizer = optimizer
        self.train = self.build_optimizer() if build_optimizer else None

    def build_optimizer(self):
        opt = adagrad.create_hash_optimizer(LR) if self.optimizer == "adagrad" else \
            gradient_descent.create_hash_optimizer(LR)
        self.train = opt.minimize(self.loss)
        return self.train

    def step(self, sess, batches):
        sess.run(self.train, {self.ids[n]: np.asarray(b, np.int64) for n, b in batches.items()})

    def read(self, sess):
        """{table: (rows of KEYS, size)} and {dense variable: value}."""
        tables = {n: (t.read_rows(KEYS, sess), t.size(sess)) for n, t in self.tables.items()}
        return tables, sess.run(self.dense)


def expected(init, batches):
    """Rows of KEYS after SGD from `init` over `batches` (0 where absent)."""
    counts = collections.Counter(int(k) for b in batches for k in b)
    return np.array([[init - LR * counts[k]] * DIM if counts[k] else [0.0] * DIM for k in KEYS],
                    np.float32)


def make_source(directory, init, dense_value, names=("user", "item"), tier=None, dim=DIM,
                optimizer="sgd", extra_steps=0):
    """Trains a Model from rows `init` on keys picked by `init`, sets its dense
    variables to `dense_value`, saves it in `directory` (step 1) and returns
    ({table: rows of KEYS saved}, Model.read after extra_steps more steps).
    Each table's batches: keys init*10 + (0..5) and, twice, + (0..2)."""
    start = int(round(init * 10))
    batches = [np.arange(start, start + 6), np.arange(start, start + 3),
               np.arange(start, start + 3)]
    with tf.Graph().as_default():
        model = Model(init, names, tier, dim, optimizer)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for batch in batches:
                model.step(sess, {n: batch for n in names})
            for variable in model.dense.values():
                sess.run(variable.assign(tf.fill(tf.shape(variable), dense_value)))
            saver.save(sess, str(directory / "model.ckpt"), global_step=1)
            saved = {n: rows for n, (rows, _) in model.read(sess)[0].items()}
            for _ in range(extra_steps):
                model.step(sess, {n: batches[0] for n in names})
            after = model.read(sess)
    if optimizer == "sgd":
        for rows in saved.values():
            np.testing.assert_array_equal(rows, expected(init, batches))
    return saved, after


def initialized(model):
    """What `model` holds after the global variables initializer."""
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        return model.read(sess)


EMPTY = np.zeros([len(KEYS), DIM], np.float32)


def test_one_table_by_name_from_a_directory(mx, tmp_path):
    """Seed example 1: vars_to_warm_start="user" loads table user only."""
    rows, _ = make_source(tmp_path / "ws", 0.5, 3.0)
    model = Model()
    warm_start(WarmStartSettings(str(tmp_path / "ws"), vars_to_warm_start="user"))
    tables, dense = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], rows["user"])
    assert tables["user"][1] == 6
    np.testing.assert_array_equal(tables["item"][0], EMPTY)
    assert tables["item"][1] == 0
    assert dense["bias"] == -1.0 and (dense["mlp_layer_w"] == -1.0).all()


def test_later_checkpoints_override_earlier_ones(mx, tmp_path):
    """Seed example 2: everything from ws1, then table user from ws2, then
    mlp_layer_w from ws3; item and bias stay from ws1."""
    rows1, _ = make_source(tmp_path / "ws1", 0.5, 1.0)
    rows2, _ = make_source(tmp_path / "ws2", 2.0, 2.0)
    make_source(tmp_path / "ws3", 4.0, 3.0)
    model = Model()
    warm_start(WarmStartSettings(
        ckpt_to_initialize_from=[str(tmp_path / d) for d in ("ws1", "ws2", "ws3")],
        vars_to_warm_start=[".*", ["user"], "mlp_layer_w"],
        var_name_to_prev_var_name=[{}, {}, {}]))
    tables, dense = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], rows2["user"])
    np.testing.assert_array_equal(tables["item"][0], rows1["item"])
    assert (tables["user"][1], tables["item"][1]) == (6, 6)
    assert (dense["mlp_layer_w"] == 3.0).all() and dense["bias"] == 1.0


def test_a_list_of_settings_and_tuples_is_the_same_as_lists_in_one_setting(mx, tmp_path):
    rows1, _ = make_source(tmp_path / "ws1", 0.5, 1.0)
    rows2, _ = make_source(tmp_path / "ws2", 2.0, 2.0)
    model = Model()
    warm_start([WarmStartSettings(str(tmp_path / "ws1")),
                (tf.train.latest_checkpoint(str(tmp_path / "ws2")), ["item", "bias"], {})])
    tables, dense = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], rows1["user"])
    np.testing.assert_array_equal(tables["item"][0], rows2["item"])
    assert (dense["mlp_layer_w"] == 1.0).all() and dense["bias"] == 2.0


@pytest.mark.parametrize("selector", [
    "u.er",                       # a regular expression over table names
    "user",                       # a table name (the whole name: not "user_v2")
    ["user"],                     # a list of names
    ["user", "mlp_layer_w"],      # ... with a dense variable
    "table object",               # [SparseTable]
    "table variable",             # [the table's embedding variable]
    "dense variable",             # [tf.Variable] beside the table object
])
def test_each_kind_of_selector(mx, tmp_path, selector):
    rows, _ = make_source(tmp_path / "ws", 0.5, 3.0, names=("user", "user_v2", "item"))
    model = Model(names=("user", "user_v2", "item"))
    if selector == "table object":
        selector = [model.tables["user"]]
    elif selector == "table variable":
        selector = [model.tables["user"].variable]
    elif selector == "dense variable":
        selector = [model.tables["user"], model.dense["mlp_layer_w"]]
    warm_start(WarmStartSettings(str(tmp_path / "ws"), vars_to_warm_start=selector))
    tables, dense = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], rows["user"])
    assert tables["user_v2"][1] == 0 and tables["item"][1] == 0
    dense_warm = isinstance(selector, list) and len(selector) == 2
    assert (dense["mlp_layer_w"] == (3.0 if dense_warm else -1.0)).all()
    assert dense["bias"] == -1.0


def test_renamed_tables_and_variables(mx, tmp_path):
    rows, _ = make_source(tmp_path / "ws", 0.5, 3.0, names=("old_user",))
    model = Model(names=("user",), dense=("new_w",))
    # Dense variables are renamed by the same map; "mlp_layer_w" is in the checkpoint.
    warm_start(WarmStartSettings(str(tmp_path / "ws"), vars_to_warm_start=["user", "new_w"],
                                 var_name_to_prev_var_name={"user": "old_user",
                                                            "new_w": "mlp_layer_w"}))
    tables, dense = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], rows["old_user"])
    assert (dense["new_w"] == 3.0).all()


@pytest.mark.parametrize("mode", ["HBM", "DDR", "SSD"])
def test_a_table_warm_starts_from_a_table_of_other_tiers(mx, tmp_path, mode):
    """Rows saved from a device-only table go into the tiers the new table has
    (the device tier holds 4 of the 6 keys here)."""
    rows, _ = make_source(tmp_path / "ws", 0.5, 3.0, names=("user",))
    model = Model(names=("user",), tier=table_kwargs(mode, tmp_path, device=4, host=5, ssd=64)
                  if mode != "HBM" else dict(device_vocabulary_size=8))
    warm_start(WarmStartSettings(str(tmp_path / "ws"), vars_to_warm_start="user"))
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        np.testing.assert_array_equal(model.tables["user"].read_rows(KEYS, sess), rows["user"])
        stats = model.tables["user"].stats(sess)
        assert stats["device_keys"] + stats["host_keys"] + stats["ssd_keys"] == 6
        assert stats["device_keys"] == (6 if mode == "HBM" else 4)
        # The three keys looked up three times are the hottest: on the device.
        assert (model.tables["user"].locate([5, 6, 7], sess) == 0).all()
        model.step(sess, {"user": [5, 60]})
        after = model.tables["user"].read_rows([5, 60], sess)
    np.testing.assert_array_equal(after, [rows["user"][5] - LR, [-LR] * DIM])


def test_hash_optimizer_state_comes_along_also_when_the_optimizer_is_built_later(mx, tmp_path):
    """The Adagrad accumulator is warm-started: one more step gives the rows
    the source got from the same step after saving, exactly; warm_start
    called before the optimizer exists still restores its state."""
    rows, (after, _) = make_source(tmp_path / "ws", 0.5, 3.0, names=("user",),
                                   optimizer="adagrad", extra_steps=1)
    model = Model(names=("user",), optimizer="adagrad", build_optimizer=False)
    warm_start(WarmStartSettings(str(tmp_path / "ws"), vars_to_warm_start="user"))
    model.build_optimizer()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        np.testing.assert_array_equal(model.tables["user"].read_rows(KEYS, sess), rows["user"])
        model.step(sess, {"user": np.arange(5, 11)})
        np.testing.assert_array_equal(model.tables["user"].read_rows(KEYS, sess), after["user"][0])


def test_a_selector_that_matches_nothing_is_a_clear_error(mx, tmp_path):
    make_source(tmp_path / "ws", 0.5, 3.0)
    Model()
    path = str(tmp_path / "ws")
    with pytest.raises(ValueError, match=r"vars_to_warm_start 'usr_table' matches no trainable "
                                         r"variable and no table name \(warm start from '.*ws'\); "
                                         r"tables in this graph: \['item', 'user'\]"):
        warm_start(WarmStartSettings(path, vars_to_warm_start="usr_table"))
    with pytest.raises(ValueError, match=r"vars_to_warm_start 'itm' matches no variable"):
        warm_start(WarmStartSettings([path, path], vars_to_warm_start=[".*", ["user", "itm"]]))
    with pytest.raises(ValueError, match=r"vars_to_warm_start is an empty list"):
        warm_start(WarmStartSettings(path, vars_to_warm_start=[]))
    with pytest.raises(ValueError, match=r"3 checkpoints.*give one selector per checkpoint"):
        warm_start(WarmStartSettings([path] * 3, vars_to_warm_start=[".*", "user"]))
    with pytest.raises(ValueError, match=r"directory '.*nowhere' holds no checkpoint"):
        (tmp_path / "nowhere").mkdir()
        warm_start(WarmStartSettings(str(tmp_path / "nowhere")))
    with pytest.raises(ValueError, match=r"renames table 'item', which vars_to_warm_start "
                                         r"'user' does not select"):
        warm_start(WarmStartSettings(path, "user", var_name_to_prev_var_name={"item": "x"}))


def test_a_table_missing_in_the_checkpoint_is_a_clear_error(mx, tmp_path):
    make_source(tmp_path / "ws", 0.5, 3.0, names=("user", "item"))
    model = Model(names=("user", "query"))
    with pytest.raises(ValueError, match=r"checkpoint '.*model.ckpt-1' holds no table 'query' for "
                                         r"table 'query'; the tables it holds: \['item', 'user'\]"):
        warm_start(WarmStartSettings(str(tmp_path / "ws")))
    with pytest.raises(ValueError, match=r"holds no table 'q' for table 'user'"):
        warm_start(WarmStartSettings(str(tmp_path / "ws"), "user",
                                     var_name_to_prev_var_name={"user": "q"}))
    # Nothing was changed by the failed calls.
    tables, dense = initialized(model)
    assert tables["user"][1] == 0 and dense["bias"] == -1.0


@pytest.mark.parametrize("change, message", [
    (dict(dim=8), r"table 'user'.*has dim 4, the table 8"),
    (dict(optimizer="adagrad"), r"table 'user'.*holds blocks \[embedding\], the table has "
                                r"\[embedding, AdagradHash/accumulator\]"),
])
def test_a_table_of_another_schema_fails_at_initialization_naming_it(mx, tmp_path, change,
                                                                     message):
    make_source(tmp_path / "ws", 0.5, 3.0, names=("user",))
    Model(names=("user",), **change)
    warm_start(WarmStartSettings(str(tmp_path / "ws"), "user"))
    with tf.compat.v1.Session() as sess:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            sess.run(tf.compat.v1.global_variables_initializer())


def test_restoring_the_models_own_checkpoint_does_not_read_the_warm_start_one(mx, tmp_path):
    """A Saver restore runs the table's own initializer, not the warm start's:
    it works after the warm-start checkpoint is gone, and gives the saved rows."""
    rows, _ = make_source(tmp_path / "ws", 0.5, 3.0, names=("user",))
    model = Model(names=("user",))
    warm_start(WarmStartSettings(str(tmp_path / "ws"), "user"))
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        model.step(sess, {"user": [5, 90]})
        path = saver.save(sess, str(tmp_path / "own" / "model.ckpt"))
        trained = model.tables["user"].read_rows(KEYS, sess)
    shutil.rmtree(tmp_path / "ws")
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        np.testing.assert_array_equal(model.tables["user"].read_rows(KEYS, sess), trained)
        assert model.tables["user"].size(sess) == 7
    assert not np.array_equal(trained, rows["user"])


def test_estimator(mx, tmp_path):
    """warm_start_model_fn: the first train call starts from the warm-start
    checkpoints (lists of them); later calls restore model_dir and never read
    them again."""
    rows1, _ = make_source(tmp_path / "ws1", 0.5, 1.0)
    rows2, _ = make_source(tmp_path / "ws2", 2.0, 2.0)
    seen = {}

    def model_fn(features, labels, mode):
        del labels
        model = Model(build_optimizer=False, ids={"user": features["ids"],
                                                  "item": features["ids"]})
        seen["model"] = model
        train = model.build_optimizer()
        step = tf.compat.v1.train.get_global_step()
        return tf.estimator.EstimatorSpec(mode, loss=model.loss,
                                          train_op=tf.group(train, step.assign_add(1)))

    class Read(tf.compat.v1.train.SessionRunHook):
        def after_create_session(self, session, coord):
            seen["start"] = seen["model"].read(session)

    def input_fn():
        return tf.data.Dataset.from_tensors(({"ids": np.array([95], np.int64)}, 0.0)).repeat()

    settings = WarmStartSettings([str(tmp_path / "ws1"), str(tmp_path / "ws2")],
                                 vars_to_warm_start=[".*", ["item", "bias"]])
    estimator = tf.estimator.Estimator(warm_start_model_fn(model_fn, settings),
                                       model_dir=str(tmp_path / "model"))
    estimator.train(input_fn, steps=2, hooks=[Read()])
    tables, dense = seen["start"]
    np.testing.assert_array_equal(tables["user"][0], rows1["user"])
    np.testing.assert_array_equal(tables["item"][0], rows2["item"])
    assert (dense["mlp_layer_w"] == 1.0).all() and dense["bias"] == 2.0
    shutil.rmtree(tmp_path / "ws1")
    shutil.rmtree(tmp_path / "ws2")
    estimator.train(input_fn, steps=2, hooks=[Read()])
    tables, dense = seen["start"]
    trained = rows2["item"].copy()
    trained[95] = -2 * LR  # key 95 was looked up in the two steps of the first call
    np.testing.assert_array_equal(tables["item"][0], trained)
    assert (tables["user"][1], tables["item"][1]) == (7, 7)


def test_warm_start_from_an_incremental_checkpoint(tmp_path):
    """The latest checkpoint of an incremental run is a delta: the warm start
    loads its chain."""
    initialize.init(is_incremental_checkpoint=True)
    with tf.Graph().as_default():
        source = Model(0.5, names=("user",))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step, batch in enumerate(([1, 2, 3], [3, 4], [4, 50])):
                source.step(sess, {"user": batch})
                saver.save(sess, str(tmp_path / "ws" / "model.ckpt"), global_step=step)
            saved = source.tables["user"].read_rows(KEYS, sess)
    prefix = tf.train.latest_checkpoint(str(tmp_path / "ws"))
    entry = tf.train.load_checkpoint(prefix).get_tensor("mx_rec/user/checkpoint").decode()
    with open(f"{prefix}.mx_rec/{entry}/manifest.json") as f:
        assert json.load(f)["kind"] == "delta"
    model = Model(names=("user",))
    warm_start(WarmStartSettings(str(tmp_path / "ws"), "user"))
    tables, _ = initialized(model)
    np.testing.assert_array_equal(tables["user"][0], saved)
    assert tables["user"][1] == 5
