#!/usr/bin/env python3
"""Cost of the stateless key work of one dlrm_bench step, run in-step.

26 features x 4096 Zipf(1.05) ids, each through dedup_keys (AscDedup + the
restore reshape), one TF thread. The outputs are reduced to one fetched
scalar: ops that only feed a control edge may be pruned by grappler, and
fetching ~100 tensors would time the fetch instead. This is the most the key
pipeline (FeatureSpec mode) can take off the step in bench/dlrm_bench.py.

Usage: python bench/key_work_cost.py [--ids-per-feature K]   # K ids per feature and sample
"""
import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mx_rec.core.asc.key_batch import dedup_keys  # noqa: E402  pylint: disable=wrong-import-position

FEATURES, BATCH, REPEATS = 26, 4096, 200


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ids-per-feature", type=int, default=1)
    k = ap.parse_args().ids_per_feature
    tf.compat.v1.disable_eager_execution()
    rng = np.random.RandomState(0)
    raw = (rng.zipf(1.05, size=(BATCH, FEATURES, k)) * 2654435761).astype(np.int64)
    # A variable, not a constant: constant inputs would be folded away.
    ids = tf.compat.v1.Variable(raw, use_resource=True).read_value()
    keys = [dedup_keys(ids[:, t]).tensors() for t in range(FEATURES)]
    total = tf.add_n([tf.reduce_sum(tf.cast(x, tf.float32)) for k in keys for x in k])
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1,
                                   inter_op_parallelism_threads=1)
    with tf.compat.v1.Session(config=cfg) as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        sess.run(total)
        start = time.perf_counter()
        for _ in range(REPEATS):
            sess.run(total)
        ms = (time.perf_counter() - start) / REPEATS * 1e3
    print("%d x %d-key KeyBatches in-step: %.2f ms per step" % (FEATURES, BATCH * k, ms))


if __name__ == "__main__":
    main()
