"""The state of the Momentum, RMSProp and AdamW hash rules is saved and restored
by name with its rows.

The two-table model of model_harness in DDR mode, with device tiers far
smaller than the keys (rows and state keep moving between the tiers): N
steps, save, M more steps; a new session restored from the save runs the same
M steps with the same losses, which momentum, mean squares or Adam moments
reset to their initial values would not give.
"""

import numpy as np
import pytest
import tensorflow as tf

import model_harness as mh
from mx_rec.checkpoint import manifest
from mx_rec.core.embedding import create_table, sparse_lookup
from mx_rec.optimizers import adam_w, momentum, rms_prop

N, M = 10, 10
RULES = {
    "momentum": (lambda: momentum.create_hash_optimizer(0.1, use_nesterov=True),
                 ["MomentumHash/momentum"]),
    "rms_prop": (lambda: rms_prop.create_hash_optimizer(0.01, momentum=0.5, centered=True),
                 ["RMSPropHash/rms", "RMSPropHash/momentum", "RMSPropHash/mg"]),
    "adam_w": (lambda: adam_w.create_hash_optimizer(0.02, weight_decay=0.01),
               ["AdamWHash/m", "AdamWHash/v"]),
}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_restored_hash_state_continues_training_exactly(mx, tmp_path, rule):
    make_optimizer, blocks = RULES[rule]
    ph = mh.placeholders()
    # Constant initial rows: a new key's row does not depend on the random
    # stream, which restarts in every session.
    tables = [create_table(dtype, mh.DIM, name, tf.compat.v1.constant_initializer(0.05),
                           device_vocabulary_size=device, host_vocabulary_size=1000)
              for dtype, name, device in ((tf.int64, "a", 160), (tf.int32, "b", 60))]
    e1, e2, e3 = (sparse_lookup(t, ph[f]) for t, f in zip((tables[0], tables[0], tables[1]),
                                                          ("f1", "f2", "f3")))
    loss = mh.head(e1, e2, e3, ph["label"])
    train = tf.group(make_optimizer().minimize(loss),
                     tf.compat.v1.train.GradientDescentOptimizer(0.05).minimize(loss))
    saver = tf.compat.v1.train.Saver()
    batches = mh.make_data(N + M, vocab_a=400, vocab_b=150, seed=3)[2]

    def run(sess, steps):
        return [sess.run([loss, train], {ph[k]: b[k] for k in ("f1", "f2", "f3", "label")})[0]
                for b in steps]

    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        run(sess, batches[:N])
        assert tables[0].stats(sess)["host_keys"] > 0, "rows and state must leave the device"
        path = saver.save(sess, str(tmp_path / "model.ckpt"))
        reference = run(sess, batches[N:])
    for table in tables:
        entry = manifest.table_entries(path)[table.name]
        schema = manifest.read_manifest(manifest.table_dir(path, entry))["schema"]
        assert [b["name"] for b in schema["blocks"]][1:] == blocks
    with tf.compat.v1.Session() as sess:
        saver.restore(sess, path)
        restored = run(sess, batches[N:])
    np.testing.assert_allclose(restored, reference, rtol=0, atol=1e-6)
