"""A plain-TensorFlow two-tower SavedModel shaped like an mx_rec export.

Each id table is what mx_rec.export freezes a table into: its keys in an asset
file (raw int64) loaded into a StaticHashTable mapping key i to row i + 1, and
its rows in an asset file loaded into a LOCAL resource variable (row 0 is the
default row unknown keys read), both by the SavedModel's main op. Side
features use ordinary (saved) variables, and each tower has a dense layer.

Inputs: user_id, user_group, item_id, item_category (int64 [batch]).
Outputs: user_emb, item_emb ([batch, DIM]) and score (their inner product).
"""

import os

import numpy as np
import tensorflow as tf

DIM = 8
USER_GROUPS = 4
ITEM_CATEGORIES = 10
INPUTS = ("user_id", "user_group", "item_id", "item_category")


def _asset(path, name):
    tensor = tf.constant(path, name=name)
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, tensor)
    return tensor


def _frozen_table(name, keys, rows, staging):
    """Rows of ids through a StaticHashTable + local row variable, both from assets."""
    keys_path, rows_path = (os.path.join(staging, f"{name}.{ext}") for ext in ("keys", "rows"))
    keys.astype(np.int64).tofile(keys_path)
    rows.astype(np.float32).tofile(rows_path)
    with tf.compat.v1.name_scope(f"mx_rec/{name}/"):
        key_tensor = tf.io.decode_raw(tf.io.read_file(_asset(keys_path, "keys_file")), tf.int64)
        table = tf.compat.v1.lookup.StaticHashTable(
            tf.compat.v1.lookup.KeyValueTensorInitializer(
                key_tensor, tf.range(1, len(keys) + 1, dtype=tf.int64)),
            default_value=tf.constant(0, tf.int64), name="keys")
        rows_file = _asset(rows_path, "rows_file")
        variable = tf.compat.v1.Variable(
            lambda: tf.reshape(tf.io.decode_raw(tf.io.read_file(rows_file), tf.float32),
                               [-1, DIM]),
            shape=tf.TensorShape([None, DIM]), dtype=tf.float32, validate_shape=False,
            trainable=False, use_resource=True,
            collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES], name="rows")
    return lambda ids: tf.gather(variable, table.lookup(ids))


def _tower(name, id_rows, side_rows):
    with tf.compat.v1.variable_scope(name):
        x = tf.concat([id_rows, side_rows], axis=1)
        w = tf.compat.v1.get_variable("w", [2 * DIM, DIM], use_resource=True)
        b = tf.compat.v1.get_variable("b", [DIM], use_resource=True)
        return tf.nn.tanh(tf.matmul(x, w) + b)


def write(export_dir, staging, users=200, items=3000, seed=0, batch_size=None):
    """Writes the SavedModel (inputs of any batch size, or batch_size rows);
    returns (user keys, item keys) it knows."""
    rng = np.random.default_rng(seed)
    user_keys = rng.choice(1 << 40, users, replace=False).astype(np.int64)
    item_keys = rng.choice(1 << 40, items, replace=False).astype(np.int64)
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(seed)
        feeds = {n: tf.compat.v1.placeholder(tf.int64, [batch_size], name=n) for n in INPUTS}
        users_of = _frozen_table("user", user_keys, rng.normal(size=(users + 1, DIM)), staging)
        items_of = _frozen_table("item", item_keys, rng.normal(size=(items + 1, DIM)), staging)
        groups = tf.compat.v1.get_variable("user_group_emb", [USER_GROUPS, DIM], use_resource=True)
        categories = tf.compat.v1.get_variable("item_category_emb", [ITEM_CATEGORIES, DIM],
                                               use_resource=True)
        user_emb = _tower("user_tower", users_of(feeds["user_id"]),
                          tf.gather(groups, feeds["user_group"]))
        item_emb = _tower("item_tower", items_of(feeds["item_id"]),
                          tf.gather(categories, feeds["item_category"]))
        outputs = {"user_emb": user_emb, "item_emb": item_emb,
                   "score": tf.reduce_sum(user_emb * item_emb, axis=1)}
        signature = tf.compat.v1.saved_model.predict_signature_def(feeds, outputs)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(export_dir)
            builder.add_meta_graph_and_variables(
                sess, [tf.saved_model.SERVING],
                {tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature},
                assets_collection=tf.compat.v1.get_collection(
                    tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
                main_op=tf.compat.v1.saved_model.main_op.main_op())
            builder.save()
    return user_keys, item_keys


def features(user_keys, item_keys, rows, seed=1):
    """rows of inputs: known and unknown ids, every group and category."""
    rng = np.random.default_rng(seed)
    return {"user_id": np.where(rng.random(rows) < 0.9, rng.choice(user_keys, rows), -5),
            "user_group": rng.integers(0, USER_GROUPS, rows),
            "item_id": np.where(rng.random(rows) < 0.9, rng.choice(item_keys, rows), -7),
            "item_category": rng.integers(0, ITEM_CATEGORIES, rows)}


def run(model_dir, feeds, fetches=None):
    """{output: value} of SavedModel model_dir's serving signature on feeds
    (the inputs the signature has; all its outputs unless fetches names some)."""
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.load(sess, [tf.saved_model.SERVING], model_dir)
        signature = meta.signature_def[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
        names = fetches or list(signature.outputs)
        return sess.run({n: signature.outputs[n].name for n in names},
                        {t.name: feeds[k] for k, t in signature.inputs.items()})
