"""DeepFM: first-order terms (a linear layer over every feature), the
factorization machine's second-order interactions of the looked-up features'
rows, and dnn over every feature, summed into the logit (Guo et al. 2017)."""

import tensorflow as tf

from mx_rec.pipeline.models.layers import dnn, logits
from mx_rec.pipeline.models.outputs import ModelOutputs


def fm_interactions(rows):
    """[batch, 1]: sum over pairs i < j of <row_i, row_j>, in O(n dim)."""
    stacked = tf.stack(rows, axis=1)
    square_of_sum = tf.square(tf.reduce_sum(stacked, axis=1))
    sum_of_squares = tf.reduce_sum(tf.square(stacked), axis=1)
    return 0.5 * tf.reduce_sum(square_of_sum - sum_of_squares, axis=1, keepdims=True)


def build(config, inputs, num_class_of):
    everything, num_class = inputs.concat(), num_class_of[""]
    with tf.compat.v1.variable_scope("deepfm"):
        first_order = logits(everything, num_class, name="first_order")
        deep = logits(dnn(everything, config.model_config.deepfm.dnn.hidden_units, "dnn"),
                      num_class, name="deep_logits")
        second_order = fm_interactions(list(inputs.rows.values()))
        if num_class == 1:
            second_order = second_order[:, 0]
        return ModelOutputs({"": first_order + second_order + deep})
