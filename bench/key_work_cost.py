#!/usr/bin/env python3
"""Cost of the stateless key work of one dlrm_bench step, run in-step.

26 features x 4096 Zipf(1.05) ids, each through dedup_keys (AscDedup + the
restore reshape), one TF thread; the outputs are reduced to one scalar so
grappler cannot prune them. This is the most the key pipeline (FeatureSpec
mode) can take off the step in bench/dlrm_bench.py.

Usage: python bench/key_work_cost.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import time, numpy as np, tensorflow as tf
tf.compat.v1.disable_eager_execution()
from mx_rec.core.asc.key_batch import dedup_keys
rng = np.random.RandomState(0)
ids = tf.compat.v1.Variable((rng.zipf(1.05, size=(4096, 26)) * 2654435761).astype(np.int64), use_resource=True).read_value()
outs = [dedup_keys(ids[:, t]).tensors() for t in range(26)]
total = tf.add_n([tf.reduce_sum(tf.cast(x, tf.float32)) for o in outs for x in o])
cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
with tf.compat.v1.Session(config=cfg) as s:
    g = tf.group(*[x for o in outs for x in o])
    s.run(tf.compat.v1.global_variables_initializer()); s.run(g)
    t = time.perf_counter()
    for _ in range(200): s.run(total)
    print("26 x 4096-key KeyBatches in-step: %.2f ms" % ((time.perf_counter() - t) / 200 * 1e3))
