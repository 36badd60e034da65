"""MMoE: num_expert experts (expert_dnn each) over every feature; per task a
softmax gate mixes the experts' outputs into the input of the task's tower
(dnn, then its logits) (Ma et al. 2018)."""

import tensorflow as tf

from mx_rec.pipeline.models.layers import dnn, logits
from mx_rec.pipeline.models.outputs import ModelOutputs


def build(config, inputs, num_class_of):
    model = config.model_config.mmoe
    everything = inputs.concat()
    out = {}
    with tf.compat.v1.variable_scope("mmoe"):
        experts = tf.stack([dnn(everything, model.expert_dnn.hidden_units, f"expert_{i}")
                            for i in range(model.num_expert)], axis=1)
        for tower in model.task_towers:
            with tf.compat.v1.variable_scope(tower.tower_name):
                gate = tf.nn.softmax(tf.compat.v1.layers.dense(everything, model.num_expert,
                                                               name="gate"))
                mixed = tf.reduce_sum(experts * gate[:, :, None], axis=1)
                hidden = dnn(mixed, tower.dnn.hidden_units, "tower")
                out[tower.tower_name] = logits(hidden, num_class_of[tower.tower_name])
    return ModelOutputs(out)
