"""DSSM two-tower retrieval: each tower's features through its dnn (the
last layer linear) give user_emb and item_emb; their cosine (both
L2-normalised, simi_func COSINE) or inner product, optionally with a learned
scale and bias (scale_simi), is the click logit. Dense variables live under
user_tower/, item_tower/ and dssm/, tables are each tower's own, and the
outputs are named user_emb / item_emb, so python -m mx_rec.tools.split_model
splits an export into a user model and an item model."""

import tensorflow as tf

from mx_rec.config.protos.model_pb2 import DSSM
from mx_rec.pipeline.models.layers import dnn
from mx_rec.pipeline.models.outputs import ModelOutputs


def _tower(inputs, tower, name, normalise):
    vector = dnn(inputs.concat(set(tower.feature_names)), tower.dnn.hidden_units, name,
                 last_relu=False)
    return tf.math.l2_normalize(vector, axis=1) if normalise else vector


def build(config, inputs, num_class_of):
    num_class = num_class_of[""]
    if num_class != 1:
        raise ValueError("model_config.num_class: DSSM scores a pair with one logit; got "
                         f"{num_class}")
    model = config.model_config.dssm
    cosine = model.simi_func == DSSM.COSINE
    user = _tower(inputs, model.user_tower, "user_tower", cosine)
    item = _tower(inputs, model.item_tower, "item_tower", cosine)
    similarity = tf.reduce_sum(user * item, axis=1)
    if model.scale_simi:
        with tf.compat.v1.variable_scope("dssm"):
            scale = tf.compat.v1.get_variable("scale", [], initializer=tf.ones_initializer())
            bias = tf.compat.v1.get_variable("bias", [], initializer=tf.zeros_initializer())
        similarity = tf.abs(scale) * similarity + bias
    return ModelOutputs({"": similarity}, {"user_emb": user, "item_emb": item})
