"""Where an export's values come from: a TF checkpoint, or a live session.

A source gives each table's rows (every key it holds, with its embedding)
and restores the dense variables of the serving graph. Neither touches the
model's checkpoints: exporting from a session saves nothing (an incremental
checkpoint chain and its change tracking stay as they were).
"""

import re

import numpy as np
import tensorflow as tf

from mx_rec.checkpoint import manifest as mf
from mx_rec.libasc import _libasc
from mx_rec.util.initialize import tables_in_graph

# Keys read per session run when exporting a live table.
_READ_BATCH = 1 << 20


class CheckpointSource:
    """Values of TF checkpoint `prefix` (tables from their table checkpoints)."""

    def __init__(self, prefix):
        self.prefix = prefix

    def rows(self, table):
        """(keys int64 [n], embedding float32 [n, dim]) of `table`."""
        entries = mf.table_entries(self.prefix)
        entry = entries.get(table.name)
        if entry is None:
            raise ValueError(f"checkpoint '{self.prefix}' holds no table '{table.name}' (it "
                             f"holds {sorted(entries) or 'no mx_rec table'}): export from a "
                             "checkpoint of the model that trained it")
        directory = mf.table_dir(self.prefix, entry)
        try:
            return _libasc.read_table_checkpoint(directory, table.name, table.key_dtype.name,
                                                 table.dim, _expected_rows(directory))
        except RuntimeError:
            self._check_still_there()
            raise

    def restore(self, sess, variables):
        saver = tf.compat.v1.train.Saver(variables, sharded=True)
        try:
            saver.restore(sess, self.prefix)
        except tf.errors.NotFoundError as e:
            self._check_still_there()
            missing = re.search(r"Key (\S+) not found in checkpoint", e.message)
            raise ValueError(
                f"checkpoint '{self.prefix}' has no variable "
                f"{missing.group(1) if missing else '(see below)'} of the serving graph: "
                "model_fn must build the trained model's variables under the same names "
                f"(auto-named layers too)\n{e.message}") from None

    def _check_still_there(self):
        if not tf.io.gfile.exists(self.prefix + ".index"):
            raise ValueError(f"checkpoint '{self.prefix}' was removed while exporting (e.g. "
                             "pruned by a training job's keep_checkpoint_max): export a "
                             "checkpoint that is kept, or retry with the newest")


def _expected_rows(directory):
    """Rows of a table checkpoint and the chain it builds on (an upper bound
    for a delta), 0 when a manifest is unreadable (the reader then reports it)."""
    try:
        manifest = mf.read_manifest(directory)
        chain = [mf.read_manifest(d) for d in mf.chain_dirs(directory, manifest)]
    except ValueError:
        return 0
    return sum(m["rows"] for m in chain + [manifest])


class SessionSource:
    """Values a session holds now. Read while no training step runs, or rows
    moved between tiers meanwhile may be missed; a checkpoint is consistent."""

    def __init__(self, sess):
        if not isinstance(sess, tf.compat.v1.Session):
            raise TypeError(f"sess must be a tf.compat.v1.Session, got {sess!r}")
        self.sess = sess

    def rows(self, table):
        table = self._trained(table)
        keys = table.export_slots(self.sess)[0].astype(np.int64)
        embedding = np.empty([len(keys), table.dim], np.float32)
        key_type = table.key_dtype.as_numpy_dtype
        for start in range(0, len(keys), _READ_BATCH):
            chunk = keys[start:start + _READ_BATCH]
            embedding[start:start + len(chunk)] = table.read_rows(chunk.astype(key_type),
                                                                  self.sess)
        return keys, embedding

    def _trained(self, table):
        """The table of the session's graph with `table`'s name (a model_fn may
        create its own tables, as in an Estimator)."""
        trained = tables_in_graph(self.sess.graph).get(table.name)
        if trained is None:
            raise ValueError(f"the session's graph holds no table '{table.name}': export from "
                             "the session that trained it")
        if (trained.dim, trained.key_dtype) != (table.dim, table.key_dtype):
            raise ValueError(
                f"table '{table.name}': the serving graph's table has dim {table.dim} and keys "
                f"{table.key_dtype.name}, the session's dim {trained.dim} and keys "
                f"{trained.key_dtype.name}")
        return trained

    def restore(self, sess, variables):
        trained = {v.op.name: v for v in
                   self.sess.graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)}
        missing = sorted(v.op.name for v in variables if v.op.name not in trained)
        if missing:
            raise ValueError(f"the session's graph has no variable {missing[0]} of the serving "
                             "graph (model_fn must build the trained model's variables)")
        values = self.sess.run({v.op.name: trained[v.op.name] for v in variables})
        for variable in variables:
            variable.load(values[variable.op.name], sess)
