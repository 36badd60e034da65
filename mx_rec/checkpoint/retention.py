"""Which table directories a checkpoint directory must keep.

A TF checkpoint <prefix> names, per table, one directory
"<prefix>.mx_rec/<entry>"; a delta there needs its chain (the full
checkpoint and the deltas before it, possibly under older prefixes). A table
directory no kept checkpoint needs is garbage:
  - sweep(prefix), once a Saver committed <prefix>, removes the ones under
    <prefix> (left by an earlier save to the same prefix, e.g. a session
    that restored <prefix> and saved again at its step);
  - prune(prefix), after a Saver pruned <prefix> (keep_checkpoint_max),
    removes the ones under it and under older pruned prefixes: a delta's base
    outlives its own TF checkpoint for as long as a kept version builds on it.
Directories being written ("<entry>.tmp-<pid>") are left alone while their
process lives.
"""

import glob
import json
import os
import re
import shutil

from mx_rec.checkpoint.manifest import SPARSE_SUFFIX, indexed_prefixes, step_of, table_of_tensor


def _step(prefix):
    step = step_of(prefix)
    return -1 if step is None else step


def needed(prefix):
    """Relative paths ("<name>.mx_rec/<entry>") of every table directory the
    TF checkpoint at `prefix` needs, chains included."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    reader = tf.train.load_checkpoint(prefix)
    root = os.path.dirname(prefix)
    paths = set()
    for name in reader.get_variable_to_shape_map():
        if table_of_tensor(name) is None:
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


def _live(root):
    """Every table directory a checkpoint in `root` needs."""
    live = set()
    for prefix in indexed_prefixes(root):
        live |= needed(prefix)
    return live


def _being_written(entry):
    """Whether `entry` is a temporary directory of a live process."""
    match = re.search(r"\.tmp-(\d+)$", entry)
    if not match:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _drop_unneeded(sparse, live):
    for entry in os.listdir(sparse):
        if _being_written(entry) or f"{os.path.basename(sparse)}/{entry}" in live:
            continue
        shutil.rmtree(os.path.join(sparse, entry), ignore_errors=True)
    if not os.listdir(sparse):
        os.rmdir(sparse)


def sweep(saved_prefix):
    """Removes the table directories under `saved_prefix` (just committed)
    that no kept checkpoint needs."""
    sparse = saved_prefix + SPARSE_SUFFIX
    if os.path.isdir(sparse):
        _drop_unneeded(sparse, _live(os.path.dirname(saved_prefix) or "."))


def prune(removed_prefix):
    """Removes the table directories of checkpoints at or before
    `removed_prefix` (just removed by a Saver) that no kept checkpoint needs."""
    root = os.path.dirname(removed_prefix) or "."
    live = _live(root)
    limit = _step(removed_prefix)
    for sparse in glob.glob(os.path.join(glob.escape(root), "*" + SPARSE_SUFFIX)):
        prefix = sparse[:-len(SPARSE_SUFFIX)]
        if os.path.exists(prefix + ".index") or (_step(prefix) > limit and
                                                 prefix != removed_prefix):
            continue  # a kept checkpoint, or a newer one possibly being written
        _drop_unneeded(sparse, live)
