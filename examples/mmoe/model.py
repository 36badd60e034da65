"""MMoE math: experts, gates, task towers and the loss (plain TensorFlow).

The model of the seed (PaddleRec's MMoE on Census-Income, as migrated to
mxRec): 8 experts of 16 ReLU units, one softmax gate over the experts per
task, a tower of 8 ReLU units and one output per task (income, marital),
loss = the mean of the two tasks' log losses.

In PaddleRec every expert and gate is one linear layer over all inputs,
numeric values and one-hot categories alike. Here, as in the seed, the
linear layers see only the numeric features, and the categorical part of
their pre-activations comes in as ``sparse`` [B, EMBEDDING_DIM]: the sum of
the rows of every category of the example in one embedding table of width
8 x 16 + 2 x 8 = 144 (expert 0's 16 units first, ..., then gate 0's 8
logits, gate 1's). A linear layer over one-hot columns is exactly such a
sum, so this is the same model; the table is what mx_rec stores.

Each task ends in one logit and a sigmoid: the same as the seed's softmax
over two outputs, which depends only on their difference.
"""
import tensorflow as tf

NUM_EXPERTS = 8
EXPERT_SIZE = 16
TOWER_SIZE = 8
TASKS = ("income", "marital")
EMBEDDING_DIM = NUM_EXPERTS * EXPERT_SIZE + len(TASKS) * NUM_EXPERTS


def _linear(name, in_dim, out_dim, seed):
    """Variables (kernel, bias) of a dense layer: Glorot-uniform kernel, zero bias."""
    with tf.compat.v1.variable_scope(name):
        kernel = tf.compat.v1.get_variable(
            "kernel", [in_dim, out_dim], tf.float32,
            initializer=tf.compat.v1.glorot_uniform_initializer(seed=seed))
        bias = tf.compat.v1.get_variable(
            "bias", [out_dim], tf.float32, initializer=tf.compat.v1.zeros_initializer())
    return kernel, bias


class MMoE(object):
    """Variables are made once, here; every call of ``logits`` shares them
    (train and eval graphs)."""

    def __init__(self, num_dense, seed):
        with tf.compat.v1.variable_scope("mmoe"):
            # Expert i and gate t: linear layers over the numeric features.
            self.experts = [_linear("expert_%d" % i, num_dense, EXPERT_SIZE, seed + i)
                            for i in range(NUM_EXPERTS)]
            self.gates = [_linear("gate_%s" % task, num_dense, NUM_EXPERTS, seed + 100 + t)
                          for t, task in enumerate(TASKS)]
            self.towers = [_linear("tower_%s" % task, EXPERT_SIZE, TOWER_SIZE, seed + 200 + t)
                           for t, task in enumerate(TASKS)]
            self.outputs = [_linear("output_%s" % task, TOWER_SIZE, 1, seed + 300 + t)
                            for t, task in enumerate(TASKS)]

    def logits(self, dense, sparse):
        """dense [B, num_dense], sparse [B, EMBEDDING_DIM] -> {task: logits [B]}."""
        layers = self.experts + self.gates
        pre = tf.concat([tf.matmul(dense, w) + b for w, b in layers], axis=1) + sparse
        experts = tf.reshape(tf.nn.relu(pre[:, :NUM_EXPERTS * EXPERT_SIZE]),
                             [-1, NUM_EXPERTS, EXPERT_SIZE])
        out = {}
        for t, task in enumerate(TASKS):
            start = NUM_EXPERTS * EXPERT_SIZE + t * NUM_EXPERTS
            gate = tf.nn.softmax(pre[:, start:start + NUM_EXPERTS])
            mixed = tf.reduce_sum(experts * gate[:, :, None], axis=1)     # [B, EXPERT_SIZE]
            (tw, tb), (ow, ob) = self.towers[t], self.outputs[t]
            tower = tf.nn.relu(tf.matmul(mixed, tw) + tb)
            out[task] = tf.squeeze(tf.matmul(tower, ow) + ob, axis=1)
        return out


def loss_fn(logits, labels):
    """Mean over the tasks of each task's mean log loss; labels {task: [B]}."""
    losses = [tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.cast(labels[task], tf.float32), logits=logits[task])) for task in TASKS]
    return tf.add_n(losses) / len(TASKS)
