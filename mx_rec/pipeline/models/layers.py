"""The dense layers the models share."""

import tensorflow as tf


def dnn(inputs, hidden_units, name, last_relu=True):
    """Dense layers of `hidden_units` widths in variable scope `name`
    (kernels dnn_<i>/kernel), ReLU after each, or after all but the last
    with last_relu=False. No units: `inputs` unchanged."""
    x = inputs
    with tf.compat.v1.variable_scope(name):
        for i, units in enumerate(hidden_units):
            relu = last_relu or i + 1 < len(hidden_units)
            x = tf.compat.v1.layers.dense(x, units, tf.nn.relu if relu else None,
                                          name=f"dnn_{i}")
    return x


def logits(inputs, num_class, name="logits"):
    """A linear layer to num_class outputs: [batch] for 1, else [batch, num_class]."""
    out = tf.compat.v1.layers.dense(inputs, num_class, name=name)
    return out[:, 0] if num_class == 1 else out
