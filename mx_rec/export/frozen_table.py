"""A table frozen for serving: standard TensorFlow ops over a checkpoint's rows.

One table of an export is
  - its keys, in asset file "<table>.keys" (int64, little-endian), loaded into
    a tf.lookup.StaticHashTable that maps key i of the file to row i + 1;
  - its rows, in asset file "<table>.rows" ([n + 1, dim] float32, or float16
    for an fp16 export, little-endian), loaded into a LOCAL resource variable;
    row 0 is the table's default value, which unknown keys read (the hash
    table's default index is 0).
Both are loaded by the SavedModel's main op (local variables and tables
initializer), so the export runs on stock TensorFlow and TF Serving: no mx_rec
op, nothing inserted at serving time. The rows are every key the checkpoint
holds, from every tier: exactly the admitted keys (feature admission keeps
records, not rows, for the others).
"""

import os

import numpy as np
import tensorflow as tf

from mx_rec.export import assets


def _file_stem(name):
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)


class FrozenTable:
    """A table's serving ops in one graph (see the module docstring)."""

    def __init__(self, table, keys, embedding, staging_dir, fp16):
        """keys [n] and embedding [n, dim]: every row the table holds."""
        self.rows = len(keys)
        dtype = np.float16 if fp16 else np.float32
        largest = max(embedding.max(), -embedding.min()) if fp16 and self.rows else 0.0
        if largest > np.finfo(np.float16).max:
            raise ValueError(f"fp16: table '{table.name}' holds values beyond float16's range "
                             f"(max |value| {largest:g} > 65504); export it with fp16=False")
        stem = os.path.join(staging_dir, _file_stem(table.name))
        keys_path, rows_path = stem + ".keys", stem + ".rows"
        if os.path.exists(keys_path):
            raise ValueError(f"two tables export to the file name '{keys_path}': rename one of "
                             f"them ('{table.name}')")
        np.ascontiguousarray(keys, np.int64).tofile(keys_path)
        with open(rows_path, "wb") as f:
            np.asarray(table.default_value, dtype).tofile(f)
            np.ascontiguousarray(embedding, dtype).tofile(f)
        with tf.compat.v1.name_scope(None), tf.control_dependencies(None), \
                tf.compat.v1.name_scope(f"mx_rec/{table.name}/"):
            self._table = self._hash_table(keys_path) if self.rows else None
            self._variable = self._row_variable(rows_path, tf.as_dtype(dtype), table.dim)

    def _hash_table(self, keys_path):
        path = assets.register(keys_path, "keys_file")
        keys = tf.io.decode_raw(tf.io.read_file(path), tf.int64)
        index = tf.range(1, self.rows + 1, dtype=tf.int64)
        return tf.compat.v1.lookup.StaticHashTable(
            tf.compat.v1.lookup.KeyValueTensorInitializer(keys, index),
            default_value=tf.constant(0, tf.int64), name="keys")

    @staticmethod
    def _row_variable(rows_path, dtype, dim):
        path = assets.register(rows_path, "rows_file")

        def initial_value():
            return tf.reshape(tf.io.decode_raw(tf.io.read_file(path), dtype), [-1, dim])

        return tf.compat.v1.Variable(
            initial_value, shape=tf.TensorShape([None, dim]), dtype=dtype, validate_shape=False,
            trainable=False, use_resource=True,
            collections=[tf.compat.v1.GraphKeys.LOCAL_VARIABLES], name="rows")

    def lookup(self, ids):
        """Rows of ids (any shape, int32/int64): ids.shape + [dim], float32."""
        ids = tf.cast(ids, tf.int64)
        index = tf.zeros_like(ids) if self._table is None else self._table.lookup(ids)
        rows = tf.gather(self._variable, index)
        return rows if rows.dtype == tf.float32 else tf.cast(rows, tf.float32)
