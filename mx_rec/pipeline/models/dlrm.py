"""DLRM: the raw features through bot_dnn and a ReLU layer of the embedding
width, pairwise dot products of that vector and every looked-up feature's
row, then top_dnn and one logit (Naumov et al. 2019)."""

import numpy as np
import tensorflow as tf

from mx_rec.pipeline.models.layers import dnn, logits
from mx_rec.pipeline.models.outputs import ModelOutputs


def dot_interaction(vectors):
    """[batch, n(n-1)/2]: the dot product of every pair of the n [batch, dim]
    vectors (the strict upper triangle of their Gram matrix)."""
    stacked = tf.stack(vectors, axis=1)
    gram = tf.matmul(stacked, stacked, transpose_b=True)
    n = len(vectors)
    rows, cols = np.triu_indices(n, k=1)
    return tf.gather(tf.reshape(gram, [-1, n * n]), (rows * n + cols).astype(np.int32), axis=1)


def build(config, inputs, num_class_of):
    model = config.model_config.dlrm
    rows = list(inputs.rows.values())
    dim = rows[0].shape[-1]
    with tf.compat.v1.variable_scope("dlrm"):
        bottom = dnn(tf.concat(list(inputs.raw.values()), axis=1),
                     list(model.bot_dnn.hidden_units) + [dim], "bot_dnn")
        top = dnn(tf.concat([bottom, dot_interaction([bottom] + rows)], axis=1),
                  model.top_dnn.hidden_units, "top_dnn")
        return ModelOutputs({"": logits(top, num_class_of[""])})
