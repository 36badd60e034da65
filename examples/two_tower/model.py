"""A DSSM-style two-tower model over mx_rec tables.

Each tower looks up its id and side feature in mx_rec tables, concatenates
the rows and runs a small MLP; the outputs are L2-normalised, so their inner
product is a cosine. The click logit is scale * cosine + bias (learned
scalars). Signature outputs: user_emb, item_emb ([batch, dim]) and score
(the click probability), so mx_rec.tools.split_model can split the export.
"""

import tensorflow as tf

from data import ITEM_FIELDS, USER_FIELDS
from mx_rec.core.embedding import create_table, sparse_lookup


def create_tables(dim, device_vocabulary_size):
    """One mx_rec table per feature, named after it."""
    return {name: create_table(
        key_dtype=tf.int64, dim=dim, name=name, device_vocabulary_size=device_vocabulary_size,
        emb_initializer=tf.compat.v1.truncated_normal_initializer(stddev=0.05))
        for name in USER_FIELDS + ITEM_FIELDS}


class Tower:
    """concat(table rows of its features) -> dense(hidden, relu) -> dense(dim) -> L2 norm."""

    def __init__(self, name, fields, dim, hidden=64):
        self.fields = fields
        with tf.compat.v1.variable_scope(name):
            self.w0 = tf.compat.v1.get_variable("w0", [dim * len(fields), hidden])
            self.b0 = tf.compat.v1.get_variable("b0", [hidden],
                                                initializer=tf.zeros_initializer())
            self.w1 = tf.compat.v1.get_variable("w1", [hidden, dim])

    def __call__(self, tables, features, is_train):
        rows = [sparse_lookup(tables[f], features[f], is_train=is_train) for f in self.fields]
        hidden = tf.nn.relu(tf.matmul(tf.concat(rows, axis=1), self.w0) + self.b0)
        return tf.math.l2_normalize(tf.matmul(hidden, self.w1), axis=1)


class TwoTower:
    """The towers and the click head; variables made once, reused by every call."""

    def __init__(self, dim):
        self.user = Tower("user_tower", USER_FIELDS, dim)
        self.item = Tower("item_tower", ITEM_FIELDS, dim)
        with tf.compat.v1.variable_scope("click"):
            self.scale = tf.compat.v1.get_variable("scale", [],
                                                   initializer=tf.constant_initializer(5.0))
            self.bias = tf.compat.v1.get_variable("bias", [],
                                                  initializer=tf.zeros_initializer())

    def __call__(self, tables, features, is_train):
        """{user_emb, item_emb, logit, score} of a batch of features."""
        user_emb = self.user(tables, features, is_train)
        item_emb = self.item(tables, features, is_train)
        logit = self.scale * tf.reduce_sum(user_emb * item_emb, axis=1) + self.bias
        return {"user_emb": user_emb, "item_emb": item_emb, "logit": logit,
                "score": tf.sigmoid(logit)}
