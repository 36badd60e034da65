"""A small two-table CTR model, buildable on mx_rec tables or on dense variables.

Table "a" (int64 keys) is looked up twice per sample (features f1 and f2:
multi-lookup), table "b" (int32 keys) once (f3). Both versions share the dense
layer's initial weights and data, so their losses can be compared step by step.
"""

import numpy as np
import tensorflow as tf

DIM = 8
BATCH = 64
F1, F2, F3 = 3, 2, 1  # ids per sample


def make_data(steps, vocab_a=300, vocab_b=120, seed=0, zipf=1.05):
    """Zipf-distributed raw ids (unbounded int64 / int32 values) and labels."""
    rng = np.random.RandomState(seed)
    keys_a = rng.randint(-2**62, 2**62, size=vocab_a, dtype=np.int64)
    keys_b = rng.randint(-2**31, 2**31 - 1, size=vocab_b, dtype=np.int64).astype(np.int32)

    def draw(vocab, shape):
        ranks = np.minimum(rng.zipf(zipf, size=shape) - 1, vocab - 1)
        return ranks

    batches = []
    for _ in range(steps):
        ra1, ra2, rb = draw(vocab_a, (BATCH, F1)), draw(vocab_a, (BATCH, F2)), draw(vocab_b, (BATCH, F3))
        label = ((ra1[:, 0] + rb[:, 0]) % 2).astype(np.float32)[:, None]
        batches.append(dict(f1=keys_a[ra1], f2=keys_a[ra2], f3=keys_b[rb], label=label,
                            r1=ra1, r2=ra2, r3=rb))
    return keys_a, keys_b, batches


def placeholders():
    return dict(f1=tf.compat.v1.placeholder(tf.int64, [None, F1]),
                f2=tf.compat.v1.placeholder(tf.int64, [None, F2]),
                f3=tf.compat.v1.placeholder(tf.int32, [None, F3]),
                label=tf.compat.v1.placeholder(tf.float32, [None, 1]))


def head(e1, e2, e3, label):
    """Dense part: identical initial weights in every variant."""
    x = tf.concat([tf.reduce_mean(e1, 1), tf.reduce_mean(e2, 1), tf.reduce_mean(e3, 1)], 1)
    w0 = np.random.RandomState(42).normal(0, 0.3, size=(3 * DIM, 1)).astype(np.float32)
    w = tf.compat.v1.get_variable("head_w", initializer=w0)
    b = tf.compat.v1.get_variable("head_b", initializer=np.zeros([1], np.float32))
    logits = tf.matmul(x, w) + b
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=logits))
