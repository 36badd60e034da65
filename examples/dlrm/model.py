"""DLRM math: bottom MLP, pairwise dot interaction, top MLP, loss.

Plain TensorFlow (tf.compat.v1); the embeddings come in as tensors, so this
file knows nothing about how the tables are stored. Variables are created
once when ``DLRM`` is constructed and reused for every input it is applied
to (train and eval graphs share them).
"""
import numpy as np
import tensorflow as tf


class MLP(object):
    """Stack of dense layers with ReLU; the last one is optionally linear."""

    def __init__(self, name, in_dim, units, relu_last):
        self.layers = []
        self.relu_last = relu_last
        with tf.compat.v1.variable_scope(name):
            prev = in_dim
            for i, out in enumerate(units):
                w = tf.compat.v1.get_variable(
                    "w%d" % i, [prev, out], tf.float32,
                    initializer=tf.compat.v1.glorot_uniform_initializer())
                b = tf.compat.v1.get_variable(
                    "b%d" % i, [out], tf.float32,
                    initializer=tf.compat.v1.zeros_initializer())
                self.layers.append((w, b))
                prev = out

    def __call__(self, x):
        for i, (w, b) in enumerate(self.layers):
            x = tf.matmul(x, w) + b
            if i + 1 < len(self.layers) or self.relu_last:
                x = tf.nn.relu(x)
        return x


def dot_interaction(bottom, embs):
    """Dot products of every pair of the 1 + len(embs) vectors.

    bottom [B, d], embs list of [B, d]. Returns [B, d + n*(n-1)/2]: the
    bottom output followed by the strict upper triangle of T T^T.
    """
    t = tf.stack([bottom] + list(embs), axis=1)            # [B, n, d]
    n = 1 + len(embs)
    z = tf.matmul(t, t, transpose_b=True)                 # [B, n, n]
    rows, cols = np.triu_indices(n, k=1)
    flat = tf.reshape(z, [-1, n * n])
    pairs = tf.gather(flat, (rows * n + cols).astype(np.int32), axis=1)
    return tf.concat([bottom, pairs], axis=1)


class DLRM(object):
    def __init__(self, num_dense, num_sparse, dim,
                 bottom_units=(64, 32), top_units=(128, 64)):
        n = 1 + num_sparse
        self.dim = dim
        with tf.compat.v1.variable_scope("dlrm"):
            self.bottom = MLP("bottom_mlp", num_dense,
                              list(bottom_units) + [dim], relu_last=True)
            self.top = MLP("top_mlp", dim + n * (n - 1) // 2,
                           list(top_units) + [1], relu_last=False)

    def logits(self, dense, embs):
        """dense [B, 13] float32, embs list of [B, dim] -> logits [B, 1]."""
        bottom = self.bottom(dense)
        return self.top(dot_interaction(bottom, embs))


def loss_fn(logits, labels):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=labels, logits=logits))
