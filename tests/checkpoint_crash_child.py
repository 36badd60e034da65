"""Trains and saves until killed: the process test_checkpoint_crash SIGKILLs.

    python checkpoint_crash_child.py MODE WORKDIR INCREMENTAL

Builds table_scenarios.Model in MODE (sizes: crash_sizes() below) with a
global step, then for i = 1, 2, ...: one SGD step on batch(i) (which also
sets the global step to i), then Saver(max_to_keep=3).save(WORKDIR/ckpt/
model.ckpt, global_step=i). It prints and flushes "saving i" before and
"saved i" after each save, so the parent knows which saves completed and can
aim its kill inside one. INCREMENTAL=1: init(is_incremental_checkpoint=True,
save_checkpoint_due_time=1), so saves are deltas with a full one every
second. It stops by itself after MAX_STEPS steps (the parent always kills it
long before).
"""

import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table_scenarios as ts  # noqa: E402

# Keys are drawn from [0, UNIVERSE); BATCH keys per step (with repeats).
UNIVERSE = 100_000
BATCH = 20_000
MAX_STEPS = 200
CKPT = "ckpt/model.ckpt"


def batch(i):
    """The keys of step i (i >= 1)."""
    return np.random.RandomState(i).randint(0, UNIVERSE, BATCH).astype(np.int64)


def crash_sizes():
    """Model(**kwargs) tier sizes: a batch fits the device tier, the universe
    the table (DDR: most keys on the host tier; SSD: on the SSD tier)."""
    return dict(device=BATCH + 1024, host=UNIVERSE + 1024, ssd=UNIVERSE + 1024)


def build(mode, workdir):
    """(model, global step, train op setting the step) in the default graph."""
    model = ts.Model(mode, pathlib.Path(workdir), **crash_sizes())
    step = tf.compat.v1.train.get_or_create_global_step()
    with tf.control_dependencies([model.train]):
        train = tf.compat.v1.assign_add(step, 1)
    return model, step, train


def main(mode, workdir, incremental):
    tf.compat.v1.disable_eager_execution()
    from mx_rec.util import initialize  # pylint: disable=import-outside-toplevel
    if incremental == "1":
        initialize.init(is_incremental_checkpoint=True, save_checkpoint_due_time=1)
    else:
        initialize.init()
    model, _, train = build(mode, workdir)
    saver = tf.compat.v1.train.Saver(max_to_keep=3)
    prefix = os.path.join(workdir, CKPT)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        print("ready", os.getpid(), flush=True)
        for i in range(1, MAX_STEPS + 1):
            sess.run(train, {model.ids: batch(i)})
            print("saving", i, flush=True)
            saver.save(sess, prefix, global_step=i)
            print("saved", i, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
