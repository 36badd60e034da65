"""Automatic graph modification (zero-code-change mode).

A plain tf.compat.v1 script changes only its lookup lines to
sparse_lookup(table, batch[...], modify_graph=True) and calls
modify_graph_and_start_emb_cache() (or passes GraphModifierHook): it must
train exactly like in-step mode and FeatureSpec mode (the same AscDedup
computes the keys, only in tf.data), with the stand-in key work gone from
the step, for every kind of iterator and session the scripts use.
"""

import numpy as np
import pytest
import tensorflow as tf

import model_harness as mh
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.asc import pending
from mx_rec.graph import surgery
from mx_rec.graph.modifier import GraphModifierHook, modify_graph_and_start_emb_cache
from mx_rec.optimizers import adagrad, gradient_descent
from mx_rec.util.initialize import init, terminate_config_initializer

DIM = 4
USERS, ITEMS = 200, 100
HASH_OPTIMIZERS = {"sgd": lambda: gradient_descent.create_hash_optimizer(0.3),
                   "adagrad": lambda: adagrad.create_hash_optimizer(0.3, 0.1)}
DENSE_OPTIMIZERS = {"sgd": lambda: tf.compat.v1.train.GradientDescentOptimizer(0.3),
                    "adagrad": lambda: tf.compat.v1.train.AdagradOptimizer(0.3, 0.1)}
SEEDED = tf.compat.v1.random_uniform_initializer(-0.5, 0.5, seed=11)
MODES = ("in_step", "feature_spec", "modify_graph")


def ctr_data(n=480, seed=0):
    """Multi-hot user ids (Zipf), one item id; the label follows hidden per-id
    scores, the same for every seed (eval data is a second draw)."""
    hidden = np.random.RandomState(100)
    user_score, item_score = hidden.normal(size=USERS), hidden.normal(size=ITEMS)
    rng = np.random.RandomState(seed)
    user = np.minimum(rng.zipf(1.2, size=(n, 3)) - 1, USERS - 1).astype(np.int64)
    item = rng.randint(0, ITEMS, size=(n, 1)).astype(np.int64)
    score = user_score[user].mean(1) + item_score[item[:, 0]]
    label = (score > 0).astype(np.float32)[:, None]
    return dict(user=user, item=item, label=label)


def ctr_loss(batch, user, item):
    """The dense part of the script; its variables are shared by train and eval."""
    x = tf.concat([tf.reduce_mean(user, 1), tf.reduce_mean(item, 1)], 1)
    with tf.compat.v1.variable_scope("tower", reuse=tf.compat.v1.AUTO_REUSE):
        hidden = tf.compat.v1.layers.dense(
            x, 8, tf.nn.relu, kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
        logits = tf.compat.v1.layers.dense(
            hidden, 1, kernel_initializer=tf.compat.v1.glorot_uniform_initializer(seed=2))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=batch["label"],
                                                                  logits=logits))


def ctr_script(data, lookups, sparse_optimizer, before_session=None, key_map=None):
    """An ordinary tf.compat.v1 training script: two epochs over a dataset.

    Its versions differ in `lookups` (the lookup lines), `sparse_optimizer`
    (the embeddings' optimizer), `before_session` (zero-code-change mode's
    one call) and, for explicit FeatureSpec mode only, `key_map`.
    """
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(32)
    if key_map is not None:
        dataset = dataset.map(key_map)
    iterator = tf.compat.v1.data.make_initializable_iterator(dataset.prefetch(2))
    batch = iterator.get_next()
    user, item = lookups(batch)
    loss = ctr_loss(batch, user, item)
    train = tf.group(tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss),
                     sparse_optimizer(loss))
    if before_session is not None:
        before_session()
    losses = []
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for _ in range(2):
            sess.run(iterator.initializer)
            losses += run_to_end(sess, loss, train)
    return np.array(losses)


def run_to_end(sess, loss, *ops):
    """Losses of the steps until the iterator ends (no step count needed)."""
    losses = []
    while True:
        try:
            losses.append(sess.run([loss, *ops])[0])
        except tf.errors.OutOfRangeError:
            return losses


def dense_lookups(initializer):
    def lookups(batch):
        tables = [tf.compat.v1.get_variable(name, [rows, DIM], initializer=initializer,
                                            trainable=False)
                  for name, rows in (("user_emb", USERS), ("item_emb", ITEMS))]
        tf.compat.v1.add_to_collection("embedding_tables", tables)
        return [tf.nn.embedding_lookup(t, batch[f]) for t, f in zip(tables, ("user", "item"))]
    return lookups


def mx_lookups(mode, initializer):
    def lookups(batch):
        user = create_table(tf.int64, DIM, "user", initializer, 1000)
        item = create_table(tf.int64, DIM, "item", initializer, 1000)
        if mode == "feature_spec":
            return [sparse_lookup(user, FeatureSpec("user"), batch=batch),
                    sparse_lookup(item, FeatureSpec("item"), batch=batch)]
        modify = mode == "modify_graph"
        return [sparse_lookup(user, batch["user"], modify_graph=modify),
                sparse_lookup(item, batch["item"], modify_graph=modify)]
    return lookups


def run_ctr(mode, opt_name, initializer=SEEDED):
    """The script in one mode, on a fresh graph and mx_rec."""
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(3)
        if mode == "dense":
            return ctr_script(ctr_data(), dense_lookups(initializer), lambda loss: (
                DENSE_OPTIMIZERS[opt_name]().minimize(loss, var_list=tf.compat.v1.get_collection(
                    "embedding_tables")[0])))
        init()
        key_map = get_asc_insert_func([FeatureSpec("user"), FeatureSpec("item")]) \
            if mode == "feature_spec" else None
        modify = modify_graph_and_start_emb_cache if mode == "modify_graph" else None
        try:
            return ctr_script(ctr_data(), mx_lookups(mode, initializer),
                              lambda loss: HASH_OPTIMIZERS[opt_name]().minimize(loss),
                              before_session=modify, key_map=key_map)
        finally:
            terminate_config_initializer()


@pytest.mark.parametrize("opt_name", sorted(HASH_OPTIMIZERS))
def test_script_changing_only_its_lookups_trains_like_in_step_and_feature_spec(opt_name):
    losses = {mode: run_ctr(mode, opt_name) for mode in MODES}
    assert len(losses["in_step"]) == 30 and np.all(np.isfinite(losses["in_step"]))
    assert losses["in_step"][-5:].mean() < losses["in_step"][:5].mean(), "the model should learn"
    for mode in ("feature_spec", "modify_graph"):
        # One AscDedup op computes the keys in every mode: identical, not close.
        np.testing.assert_array_equal(losses[mode], losses["in_step"], err_msg=mode)


@pytest.mark.parametrize("opt_name", sorted(HASH_OPTIMIZERS))
def test_modified_script_matches_its_dense_original(opt_name):
    """Constant initial rows make the tf.nn.embedding_lookup original comparable."""
    constant = tf.compat.v1.constant_initializer(0.1)
    dense = run_ctr("dense", opt_name, constant)
    np.testing.assert_allclose(run_ctr("modify_graph", opt_name, constant), dense, rtol=0,
                               atol=1e-5)


# ---- the two-table harness: multi-lookup, iterator kinds, static shapes -----------------------

def harness_iterator(kind, batches):
    stacked = {k: np.stack([b[k] for b in batches]) for k in ("f1", "f2", "f3", "label")}
    dataset = tf.data.Dataset.from_tensor_slices(stacked)
    if kind == "one_shot":
        return tf.compat.v1.data.make_one_shot_iterator(dataset), []
    iterator = tf.compat.v1.data.make_initializable_iterator(dataset)
    return iterator, [iterator.initializer]


def build_harness(batches, modify, kind="initializable", use_dynamic=True, admission=None):
    """Table a looked up twice (f1, f2: multi-lookup), table b once (f3)."""
    init(use_dynamic=use_dynamic)
    tf.compat.v1.set_random_seed(3)
    iterator, initializers = harness_iterator(kind, batches)
    batch = iterator.get_next()
    ta = create_table(tf.int64, mh.DIM, "a", SEEDED, 512)
    tb = create_table(tf.int32, mh.DIM, "b", SEEDED, 256)
    def lookup(table, f):
        # Static shapes: unique ids padded to the feature's number of ids
        # (send_count may not exceed the ids' static size).
        send = {} if use_dynamic else dict(send_count=batch[f].shape.num_elements())
        return sparse_lookup(table, batch[f], modify_graph=modify,
                             access_and_evict_config=admission, **send)

    loss = mh.head(lookup(ta, "f1"), lookup(ta, "f2"), lookup(tb, "f3"), batch["label"])
    return loss, initializers, batch


def harness_train_op(loss):
    return tf.group(tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss),
                    adagrad.create_hash_optimizer(0.2, 0.1).minimize(loss))


def run_harness(batches, modify, kind="initializable", use_dynamic=True, optimizer_last=False,
                admission=None):
    """Losses until the data ends; with optimizer_last the graph is modified
    before the optimizer is built (its records must follow the rerouting)."""
    with tf.Graph().as_default() as graph:
        loss, initializers, _ = build_harness(batches, modify, kind, use_dynamic, admission)
        train = None if optimizer_last else harness_train_op(loss)
        standin = [t for p in pending.pending(graph) for t in p.keys.tensors()]
        if modify:
            assert modify_graph_and_start_emb_cache() == 3
        train = train or harness_train_op(loss)
        if modify:
            assert not surgery.consumers(standin), "nothing reads the in-step stand-in any more"
        with tf.compat.v1.Session() as sess:
            sess.run([tf.compat.v1.global_variables_initializer()] + initializers)
            losses = run_to_end(sess, loss, train)
    terminate_config_initializer()
    return np.array(losses)


@pytest.mark.parametrize("kind", ["initializable", "one_shot"])
def test_multi_lookup_and_two_tables_equal_in_step_mode(kind):
    _, _, batches = mh.make_data(40)
    in_step = run_harness(batches, modify=False, kind=kind)
    assert len(in_step) == 40
    np.testing.assert_array_equal(run_harness(batches, modify=True, kind=kind), in_step)


def test_static_shape_mode_with_optimizer_built_after_modification():
    _, _, batches = mh.make_data(30)
    in_step = run_harness(batches, modify=False, use_dynamic=False)
    modified = run_harness(batches, modify=True, use_dynamic=False, optimizer_last=True)
    np.testing.assert_array_equal(modified, in_step)


def test_feature_admission_reads_the_moved_counts():
    _, _, batches = mh.make_data(30)
    admission = {"access_threshold": 3}
    in_step = run_harness(batches, modify=False, admission=admission)
    assert not np.array_equal(in_step, run_harness(batches, modify=False)), "admission matters"
    np.testing.assert_array_equal(run_harness(batches, modify=True, admission=admission), in_step)


def executed_ops(sess, fetches):
    """Names of the graph's ops a step ran (tf.data's own functions excluded)."""
    metadata = tf.compat.v1.RunMetadata()
    sess.run(fetches, options=tf.compat.v1.RunOptions(
        trace_level=tf.compat.v1.RunOptions.FULL_TRACE), run_metadata=metadata)
    return {n.node_name for d in metadata.step_stats.dev_stats for n in d.node_stats}


@pytest.mark.parametrize("modify", [False, True])
def test_stand_in_key_work_leaves_the_step(modify):
    """Unmodified, a modify_graph lookup runs its stand-in AscDedup in the step;
    after modification no AscDedup runs in the step and the lookups share one map."""
    _, _, batches = mh.make_data(3)
    loss, initializers, _ = build_harness(batches, modify=True)
    graph = tf.compat.v1.get_default_graph()
    standin = {p.keys.unique.op.name for p in pending.pending(graph)}
    assert len(standin) == 3
    if modify:
        modify_graph_and_start_emb_cache()
    train = harness_train_op(loss)
    with tf.compat.v1.Session() as sess:
        sess.run([tf.compat.v1.global_variables_initializer()] + initializers)
        ran = executed_ops(sess, [loss, train])
    dedups = {op.name for op in graph.get_operations() if op.type == "AscDedup"}
    assert dedups == standin, "no AscDedup op was added to the step's graph"
    assert (ran & dedups) == (set() if modify else standin)
    maps = [op for op in graph.get_operations()
            if op.type == "MapDataset" and "/retired/" not in op.name]
    assert len(maps) == (1 if modify else 0)


def test_fetching_the_replaced_iterator_output_fails_loudly(mx):
    """A limitation: the old get_next outputs are retired, not kept in step."""
    _, _, batches = mh.make_data(3)
    terminate_config_initializer()
    loss, initializers, batch = build_harness(batches, modify=True)
    modify_graph_and_start_emb_cache()
    with tf.compat.v1.Session() as sess:
        sess.run([tf.compat.v1.global_variables_initializer()] + initializers)
        sess.run(loss)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match="get_next op that modify_graph_and_start_emb_cache.. replaced"):
            sess.run(batch["label"])


# ---- train_and_evaluate, MonitoredTrainingSession, Estimator ------------------------------------

def train_and_evaluate(modify, shared_iterator, epochs=3):
    """Per epoch a training pass, then an eval pass over a placeholder-fed
    dataset whose iterator is initialized again each time; OutOfRangeError
    ends every pass. shared_iterator: one reinitializable iterator
    (Iterator.from_structure) serves both datasets, and train and eval
    lookups read the same batch."""
    data, eval_data = ctr_data(), ctr_data(n=120, seed=1)
    with tf.Graph().as_default():
        init()
        tf.compat.v1.set_random_seed(3)
        feed = {k: tf.compat.v1.placeholder(v.dtype, (None,) + v.shape[1:])
                for k, v in eval_data.items()}
        datasets = [tf.data.Dataset.from_tensor_slices(data).shuffle(64, seed=5).batch(32),
                    tf.data.Dataset.from_tensor_slices(feed).batch(50)]
        if shared_iterator:
            iterator = tf.compat.v1.data.Iterator.from_structure(
                tf.compat.v1.data.get_output_types(datasets[0]),
                tf.compat.v1.data.get_output_shapes(datasets[0]))
            train_init, eval_init = [iterator.make_initializer(d) for d in datasets]
            train_batch = eval_batch = iterator.get_next()
        else:
            iterators = [tf.compat.v1.data.make_initializable_iterator(d) for d in datasets]
            train_init, eval_init = [it.initializer for it in iterators]
            train_batch, eval_batch = [it.get_next() for it in iterators]
        tables = [create_table(tf.int64, DIM, f, SEEDED, 1000) for f in ("user", "item")]

        def loss_of(batch, is_train):
            return ctr_loss(batch, *[sparse_lookup(t, batch[t.name], is_train=is_train,
                                                   modify_graph=modify) for t in tables])

        train_loss = loss_of(train_batch, True)
        eval_loss = loss_of(eval_batch, False)
        train = tf.group(tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(train_loss),
                         HASH_OPTIMIZERS["adagrad"]().minimize(train_loss))
        if modify:
            assert modify_graph_and_start_emb_cache() == 4
        train_losses, eval_losses = [], []
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for _ in range(epochs):
                sess.run(train_init)
                train_losses += run_to_end(sess, train_loss, train)
                sess.run(eval_init, {feed[k]: v for k, v in eval_data.items()})
                eval_losses += run_to_end(sess, eval_loss)
    terminate_config_initializer()
    return np.array(train_losses), np.array(eval_losses)


@pytest.mark.parametrize("shared_iterator", [False, True])
def test_eval_iterator_initialized_again_each_epoch_alternating_with_training(shared_iterator):
    train_in_step, eval_in_step = train_and_evaluate(False, shared_iterator)
    train_modified, eval_modified = train_and_evaluate(True, shared_iterator)
    assert len(train_in_step) == 45 and len(eval_in_step) == 9
    assert eval_in_step[-3:].mean() < eval_in_step[:3].mean(), "eval sees the trained rows"
    np.testing.assert_array_equal(train_modified, train_in_step)
    np.testing.assert_array_equal(eval_modified, eval_in_step)


def monitored_losses(batches, kind, modify):
    with tf.Graph().as_default():
        loss, initializers, _ = build_harness(batches, modify, kind)
        train = harness_train_op(loss)
        hook = GraphModifierHook()
        scaffold = tf.compat.v1.train.Scaffold(local_init_op=tf.group(
            tf.compat.v1.local_variables_initializer(), *initializers))
        if modify and kind == "initializable":
            modify_graph_and_start_emb_cache()  # by hand, before the session
        hooks = [hook] if modify and kind == "one_shot" else []
        losses = []
        with tf.compat.v1.train.MonitoredTrainingSession(scaffold=scaffold, hooks=hooks) as sess:
            while not sess.should_stop():
                losses.append(sess.run([loss, train])[0])
    terminate_config_initializer()
    return np.array(losses), hook.modified


@pytest.mark.parametrize("kind", ["initializable", "one_shot"])
def test_monitored_training_session(kind):
    _, _, batches = mh.make_data(20)
    in_step, _ = monitored_losses(batches, kind, modify=False)
    modified, by_hook = monitored_losses(batches, kind, modify=True)
    assert len(in_step) == 20 and by_hook == (3 if kind == "one_shot" else 0)
    np.testing.assert_array_equal(modified, in_step)


class LossCollector(tf.compat.v1.train.SessionRunHook):
    def begin(self):
        self.losses = []
        self._loss = tf.compat.v1.get_collection("test_loss")[0]

    def before_run(self, run_context):
        return tf.compat.v1.train.SessionRunArgs(self._loss)

    def after_run(self, run_context, run_values):
        self.losses.append(run_values.results)


def estimator_losses(model_dir, modify):
    data = ctr_data()
    init()

    def input_fn():
        features = {k: data[k] for k in ("user", "item")}
        return tf.data.Dataset.from_tensor_slices((features, data["label"])).batch(32)

    def model_fn(features, labels, mode):
        batch = dict(features, label=labels)
        user, item = mx_lookups("modify_graph" if modify else "in_step", SEEDED)(batch)
        loss = ctr_loss(batch, user, item)
        tf.compat.v1.add_to_collection("test_loss", loss)
        step = tf.compat.v1.train.get_or_create_global_step()
        train = tf.group(tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, step),
                         HASH_OPTIMIZERS["adagrad"]().minimize(loss))
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train)

    collector, hook = LossCollector(), GraphModifierHook()
    config = tf.estimator.RunConfig(tf_random_seed=3, save_checkpoints_steps=None,
                                    save_checkpoints_secs=None, save_summary_steps=None)
    tf.estimator.Estimator(model_fn, model_dir=str(model_dir), config=config).train(
        input_fn, hooks=[collector] + ([hook] if modify else []))
    terminate_config_initializer()
    return np.array(collector.losses), hook.modified


def test_estimator_with_graph_modifier_hook(tmp_path):
    in_step, _ = estimator_losses(tmp_path / "in_step", modify=False)
    modified, by_hook = estimator_losses(tmp_path / "modified", modify=True)
    assert len(in_step) == 15 and by_hook == 2
    np.testing.assert_array_equal(modified, in_step)


# ---- graphs, bad input ------------------------------------------------------------------------

def one_lookup_graph(table_name, ids_of=lambda batch: tf.identity(batch["ids"])):
    """A user-created graph: one-shot iterator, one modify_graph lookup."""
    graph = tf.Graph()
    with graph.as_default():
        dataset = tf.data.Dataset.from_tensor_slices({"ids": np.arange(12).reshape(6, 2)}).batch(2)
        batch = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
        table = create_table(tf.int64, 2, table_name, tf.compat.v1.ones_initializer(), 100)
        emb = sparse_lookup(table, ids_of(batch), modify_graph=True, name=f"{table_name}_lookup")
    return graph, emb


def test_lookups_in_a_user_created_graph(mx):
    graph, emb = one_lookup_graph("t")
    assert modify_graph_and_start_emb_cache() == 1  # called outside `with graph.as_default()`
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        np.testing.assert_array_equal(sess.run(emb), np.ones([2, 2, 2]))
        assert not pending.pending(graph)


def test_several_user_graphs_need_the_graph_named(mx):
    first, _ = one_lookup_graph("t1")
    second, _ = one_lookup_graph("t2")
    with pytest.raises(ValueError, match="2 other graphs have: pass graph="):
        modify_graph_and_start_emb_cache()
    assert modify_graph_and_start_emb_cache(graph=first) == 1
    assert modify_graph_and_start_emb_cache() == 1  # only `second` is left


def test_finalized_graph(mx):
    graph, _ = one_lookup_graph("t")
    graph.finalize()
    with pytest.raises(RuntimeError, match="finalized.*GraphModifierHook"):
        modify_graph_and_start_emb_cache(graph=graph)


@pytest.mark.parametrize("ids_of, culprit", [
    (lambda batch: batch["ids"] % 7, "FloorMod op"),
    (lambda batch: tf.compat.v1.placeholder_with_default(batch["ids"], [None, 2]),
     "PlaceholderWithDefault op"),
])
def test_ids_not_read_from_an_iterator_raise_naming_the_lookup(mx, ids_of, culprit):
    graph, _ = one_lookup_graph("good")
    with graph.as_default():
        dataset = tf.data.Dataset.from_tensor_slices({"ids": np.arange(12).reshape(6, 2)}).batch(2)
        batch = tf.compat.v1.data.make_initializable_iterator(dataset).get_next()
        sparse_lookup(create_table(tf.int64, 2, "bad", None, 100), ids_of(batch), name="bad",
                      modify_graph=True)
    n_ops = len(graph.get_operations())
    with pytest.raises(ValueError, match=f"lookup 'bad'.*from {culprit}.*FeatureSpec mode"):
        modify_graph_and_start_emb_cache(graph=graph)
    assert len(graph.get_operations()) == n_ops and len(pending.pending(graph)) == 2, \
        "a failed modification changes nothing"


def test_nothing_pending_is_harmless(fresh_graph):
    assert modify_graph_and_start_emb_cache() == 0  # before init()
    init()
    sparse_lookup(create_table(tf.int64, 2, "t", None, 10), tf.constant([1, 2], tf.int64))
    n_ops = len(fresh_graph.get_operations())
    assert modify_graph_and_start_emb_cache() == 0
    assert modify_graph_and_start_emb_cache(fresh_graph) == 0
    assert len(fresh_graph.get_operations()) == n_ops
