"""Which table directories a checkpoint directory must keep.

A TF checkpoint <prefix> names, per table, one directory
"<prefix>.mx_rec/<entry>"; a delta there needs its chain (the full
checkpoint and the deltas before it, possibly under older prefixes). When a
Saver prunes a checkpoint (keep_checkpoint_max), prune() removes every table
directory under it and under older pruned prefixes that no remaining
checkpoint needs: a delta's base outlives its own TF checkpoint for as long
as a kept version builds on it.
"""

import glob
import json
import os
import re
import shutil

from mx_rec.checkpoint.saveable import SPARSE_SUFFIX


def _step(prefix):
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else -1


def needed(prefix):
    """Relative paths ("<name>.mx_rec/<entry>") of every table directory the
    TF checkpoint at `prefix` needs, chains included."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    reader = tf.train.load_checkpoint(prefix)
    root = os.path.dirname(prefix)
    paths = set()
    for name in reader.get_variable_to_shape_map():
        if not (name.startswith("mx_rec/") and name.endswith("/checkpoint")):
            continue
        entry = reader.get_tensor(name).decode()
        relative = f"{os.path.basename(prefix)}{SPARSE_SUFFIX}/{entry}"
        paths.add(relative)
        try:
            with open(os.path.join(root, relative, "manifest.json")) as f:
                paths.update(json.load(f).get("chain", []))
        except (OSError, ValueError):
            pass  # a broken directory is kept for verify to report
    return paths


def prune(removed_prefix):
    """Removes the table directories of checkpoints at or before
    `removed_prefix` (just removed by a Saver) that no kept checkpoint needs."""
    root = os.path.dirname(removed_prefix) or "."
    live = set()
    for index in glob.glob(os.path.join(glob.escape(root), "*.index")):
        live |= needed(index[:-len(".index")])
    limit = _step(removed_prefix)
    for sparse in glob.glob(os.path.join(glob.escape(root), "*" + SPARSE_SUFFIX)):
        prefix = sparse[:-len(SPARSE_SUFFIX)]
        if os.path.exists(prefix + ".index") or (_step(prefix) > limit and
                                                 prefix != removed_prefix):
            continue  # a kept checkpoint, or a newer one possibly being written
        for entry in os.listdir(sparse):
            if f"{os.path.basename(sparse)}/{entry}" not in live:
                shutil.rmtree(os.path.join(sparse, entry), ignore_errors=True)
        if not os.listdir(sparse):
            os.rmdir(sparse)
