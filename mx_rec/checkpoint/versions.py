"""Model versions: the checkpoints of a checkpoint directory, by global step.

Every TF checkpoint "<dir>/<name>-<step>" is one version: its dense variables
plus, per table, a full checkpoint or a delta with its chain, so restoring
version V gives the state at step V exactly. Which one a restore uses:
  - init(restore_model_version=V): every restore from a checkpoint directory
    (MonitoredTrainingSession, Estimator train / evaluate / predict,
    tf.train.latest_checkpoint) picks version V instead of the newest; a
    directory with checkpoints but not V is a ValueError listing them;
  - tf.compat.v1.train.Saver().restore(sess, version_path(dir, V)), or
    Estimator.evaluate / predict(checkpoint_path=version_path(dir, V)).
"""

import os

import tensorflow as tf

from mx_rec.checkpoint import manifest
from mx_rec.util import initialize


def versions(checkpoint_dir):
    """{global step: prefix} of every complete checkpoint in checkpoint_dir."""
    if not os.path.isdir(checkpoint_dir):
        raise ValueError(f"checkpoint_dir: '{checkpoint_dir}' is not a directory")
    # (Not manifest.find_versions: that reads the state file, whose readers
    # this module's chosen_state serves.)
    steps = {manifest.step_of(p): p for p in manifest.indexed_prefixes(checkpoint_dir)}
    return dict(sorted((s, p) for s, p in steps.items() if s is not None))


def chosen_state(checkpoint_dir, state):
    """The CheckpointState of checkpoint_dir that restores see: `state`, with
    version init(restore_model_version=V) as the one to restore."""
    version = initialize.get_config().restore_model_version \
        if initialize.is_initialized() else None
    if version is None or state is None:
        return state
    chosen = type(state)()
    chosen.CopyFrom(state)
    chosen.model_checkpoint_path = version_path(checkpoint_dir, version)
    newest = max(versions(checkpoint_dir))
    if newest > version and (checkpoint_dir, version) not in _WARNED:
        _WARNED.add((checkpoint_dir, version))
        tf.compat.v1.logging.warning(
            "mx_rec: restore_model_version=%d: restoring step %d of '%s', which holds newer "
            "versions (up to %d); training from here saves over the versions of the same "
            "steps, and every restore from this directory in this process picks step %d",
            version, version, checkpoint_dir, newest, version)
    return chosen


_WARNED = set()


def version_path(checkpoint_dir, version=None):
    """Prefix of the checkpoint of global step `version` in checkpoint_dir
    (default: init(restore_model_version=...), else the newest)."""
    argument = "version"
    if version is None and initialize.is_initialized():
        version = initialize.get_config().restore_model_version
        argument = "restore_model_version"
    if version is None:
        latest = tf.train.latest_checkpoint(checkpoint_dir)
        if latest is None:
            raise ValueError(f"checkpoint_dir: '{checkpoint_dir}' holds no checkpoint")
        return latest
    available = versions(checkpoint_dir)
    if version not in available:
        raise ValueError(f"{argument}: no checkpoint of global step {version} in "
                         f"'{checkpoint_dir}'; versions there: {sorted(available) or 'none'}")
    return available[version]


def saver_hook(checkpoint_dir, saver=None, **kwargs):
    """A CheckpointSaverHook saving every init(save_delta_checkpoints_secs=...)
    seconds (default 600): with incremental checkpoints, each save is a delta
    unless a full one is due."""
    if "save_secs" not in kwargs and "save_steps" not in kwargs:
        secs = initialize.get_config().save_delta_checkpoints_secs
        kwargs["save_secs"] = secs or 600
    return tf.compat.v1.train.CheckpointSaverHook(checkpoint_dir, saver=saver, **kwargs)
