"""A multi-hot CTR model on mx_rec tables, or on dense variables through
tf.nn.safe_embedding_lookup_sparse, fed by tf.data in every variant.

Table "a" (int64 keys) is looked up by f1 (a SparseTensor, 0..4 ids per
sample: empty samples too) and f2 (a RaggedTensor, 1..3 ids: multi-lookup),
table "b" (int32 keys) by f3 (a RaggedTensor, 0..2 ids). Ids are Zipf draws
over random keys, negative ones included (keys like any other for mx_rec).
Each id has a weight in [0.2, 2]; about one in ten is 0 or negative (mean and
sqrtn count those as absent, as TF prunes them; sum uses them).

The dense variant indexes its variables by each key's rank + 1: row 0 stays
unused, because safe_embedding_lookup_sparse reads row 0 (its default_id) for
empty samples and so hands it a zero gradient, which momentum-style
optimizers would apply; mx_rec reads nothing for an empty sample.
"""

import dataclasses
from typing import Dict

import numpy as np
import tensorflow as tf

from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.helper import get_asc_insert_func
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.core.sparse_table import LOOKUP_RECORDS
from mx_rec.graph.modifier import modify_graph_and_start_emb_cache
from mx_rec.util import graph_records
from mx_rec.util.initialize import init, terminate_config_initializer
from test_equivalence import final_rows

DIM = 8
BATCH = 32
# feature -> (table, fewest and most ids per sample, kind)
FEATURES = {"f1": ("a", 0, 4, "sparse"), "f2": ("a", 1, 3, "ragged"),
            "f3": ("b", 0, 2, "ragged")}
KEY_MODES = ("in_step", "feature_spec", "modify_graph")
CACHE_MODES = ("HBM", "DDR", "SSD")
DENSE_LR = 0.05


@dataclasses.dataclass
class Data:
    """Per feature: ids per sample ("lengths"), "keys", "ranks" (+1) and
    "weights", one entry per id; labels per sample."""

    keys: Dict[str, np.ndarray]
    columns: Dict[str, Dict[str, np.ndarray]]
    label: np.ndarray
    steps: int


def make_data(steps, vocab_a=300, vocab_b=120, seed=0, zipf=1.1):
    rng = np.random.RandomState(seed)
    keys = {"a": rng.randint(-2**62, 2**62, size=vocab_a, dtype=np.int64),
            "b": rng.randint(-2**31, 2**31 - 1, size=vocab_b, dtype=np.int64).astype(np.int32)}
    n = steps * BATCH
    columns = {}
    for feature, (table, fewest, most, _) in FEATURES.items():
        lengths = rng.randint(fewest, most + 1, size=n)
        ranks = np.minimum(rng.zipf(zipf, size=lengths.sum()) - 1, len(keys[table]) - 1)
        weights = rng.uniform(0.2, 2.0, size=lengths.sum()).astype(np.float32)
        absent = rng.rand(lengths.sum()) < 0.1
        weights[absent] = rng.choice(np.float32([0.0, -0.5]), size=absent.sum())
        columns[feature] = dict(lengths=lengths, keys=keys[table][ranks], ranks=ranks + 1,
                                weights=weights)
    first_f2 = columns["f2"]["ranks"][np.cumsum(columns["f2"]["lengths"]) - 1]
    label = (first_f2 % 2).astype(np.float32)[:, None]
    return Data(keys, columns, label, steps)


def dataset(data, ids="keys"):
    """Batches {f: ids, f_w: weights (same kind), label}; ids: "keys" or "ranks"."""
    elements = {"label": data.label}
    for feature, column in data.columns.items():
        elements[feature] = tf.RaggedTensor.from_row_lengths(column[ids], column["lengths"])
        elements[f"{feature}_w"] = tf.RaggedTensor.from_row_lengths(column["weights"],
                                                                   column["lengths"])

    def kinds(batch):
        batch = dict(batch)
        for feature, (_, _, _, kind) in FEATURES.items():
            if kind == "sparse":
                for name in (feature, f"{feature}_w"):
                    batch[name] = batch[name].to_sparse()
        return batch

    return tf.data.Dataset.from_tensor_slices(elements).batch(BATCH).map(kinds)


def head(pooled, label):
    """Dense part: identical initial weights in every variant."""
    w0 = np.random.RandomState(42).normal(0, 0.3, size=(len(pooled) * DIM, 1)).astype(np.float32)
    w = tf.compat.v1.get_variable("head_w", initializer=w0)
    logits = tf.matmul(tf.concat(pooled, 1), w)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=logits))


def tier_kwargs(cache_mode, table, tmp_path):
    """Tiers of a table: DDR and SSD keep about two steps' unique keys per tier."""
    if cache_mode == "HBM":
        return dict(device_vocabulary_size=1024)
    small = 96 if table == "a" else 32
    if cache_mode == "DDR":
        return dict(device_vocabulary_size=small, host_vocabulary_size=1024)
    path = tmp_path / f"ssd_{table}"
    path.mkdir(parents=True, exist_ok=True)
    return dict(device_vocabulary_size=small, host_vocabulary_size=small,
                ssd_vocabulary_size=1024, ssd_data_path=str(path))


@dataclasses.dataclass
class Run:
    losses: np.ndarray
    initial: Dict[str, dict]   # table -> {key: row when inserted}
    final: Dict[str, dict]     # table -> {key: row after training}
    stats: Dict[str, dict]


def run_mx_rec(data, combiner, weighted, sparse_optimizer, key_mode="in_step",
               cache_mode="HBM", tmp_path=None, static=False):
    """Trains the mx_rec model (sparse_optimizer: a hash optimizer factory)."""
    with tf.Graph().as_default():
        init(use_dynamic=not static)
        try:
            tf.compat.v1.set_random_seed(3)
            initializer = tf.compat.v1.random_uniform_initializer(-0.5, 0.5, seed=11)
            tables = {name: create_table(dtype, DIM, name, initializer,
                                         **tier_kwargs(cache_mode, name, tmp_path))
                      for name, dtype in (("a", tf.int64), ("b", tf.int32))}
            ds = dataset(data)
            specs = {f: FeatureSpec(f, table_name=t) for f, (t, _, _, _) in FEATURES.items()}
            if key_mode == "feature_spec":
                ds = ds.map(get_asc_insert_func(list(specs.values())))
            batch = tf.compat.v1.data.make_one_shot_iterator(ds).get_next()
            pooled = []
            for feature, (table, _, most, _) in FEATURES.items():
                kw = dict(combiner=combiner, weights=batch[f"{feature}_w"] if weighted else None)
                if static:
                    kw["send_count"] = BATCH * most
                if key_mode == "feature_spec":
                    ids, kw["batch"] = specs[feature], batch
                else:
                    ids, kw["modify_graph"] = batch[feature], key_mode == "modify_graph"
                pooled.append(sparse_lookup(tables[table], ids, **kw))
            loss = head(pooled, batch["label"])
            records = graph_records.get(LOOKUP_RECORDS)
            train = tf.group(
                tf.compat.v1.train.GradientDescentOptimizer(DENSE_LR).minimize(loss),
                sparse_optimizer().minimize(loss))
            if key_mode == "modify_graph":
                assert modify_graph_and_start_emb_cache() == len(FEATURES)
            initial, losses = {"a": {}, "b": {}}, []
            with tf.compat.v1.Session() as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                for _ in range(data.steps):
                    value, _, new = sess.run(
                        [loss, train, [(r.keys, r.fill_index, r.rows) for r in records]])
                    losses.append(value)
                    for record, (keys, fill_index, rows) in zip(records, new):
                        for i in fill_index:
                            initial[record.table.name][keys[i]] = rows[i]
                final = {name: final_rows(t, sess) for name, t in tables.items()}
                stats = {name: t.stats(sess) for name, t in tables.items()}
            return Run(np.array(losses), initial, final, stats)
        finally:
            terminate_config_initializer()


def dense_tables(data, initial):
    """Variables a, b: row rank + 1 holds the initial row of the key of that rank."""
    variables = {}
    for name, keys in data.keys.items():
        value = np.zeros([len(keys) + 1, DIM], np.float32)
        for rank, key in enumerate(keys):
            if key in initial[name]:
                value[rank + 1] = initial[name][key]
        variables[name] = tf.compat.v1.Variable(value, use_resource=True, trainable=False,
                                                name=f"dense_{name}")
    return variables


def dense_pooled(batch, variables, combiner, weighted):
    """The reference: tf.nn.safe_embedding_lookup_sparse per feature."""
    return [tf.nn.safe_embedding_lookup_sparse(
        variables[table], batch[feature], batch[f"{feature}_w"] if weighted else None,
        combiner=combiner or "mean") for feature, (table, _, _, _) in FEATURES.items()]


def run_dense(data, combiner, weighted, dense_optimizer, initial):
    """The same model on dense variables; (losses, {table: {key: final row}})."""
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(3)
        batch = tf.compat.v1.data.make_one_shot_iterator(dataset(data, "ranks")).get_next()
        variables = dense_tables(data, initial)
        loss = head(dense_pooled(batch, variables, combiner, weighted), batch["label"])
        train = tf.group(
            tf.compat.v1.train.GradientDescentOptimizer(DENSE_LR).minimize(loss),
            dense_optimizer().minimize(loss, var_list=list(variables.values())))
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            losses = [sess.run([loss, train])[0] for _ in range(data.steps)]
            rows = sess.run(variables)
    final = {name: {key: rows[name][rank + 1] for rank, key in enumerate(keys)}
             for name, keys in data.keys.items()}
    return np.array(losses), final
