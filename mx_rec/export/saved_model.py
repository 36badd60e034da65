"""export_saved_model / export_estimator: SavedModels that run on stock TensorFlow.

An export is written into its own "<export_dir_base>/temp-<pid>-<random>" and
renamed to a free "<export_dir_base>/<timestamp>" once whole, so a reader
never sees half an export, also with several exports running at once; the
temporary directory of an export killed midway is removed by the next export
into the same base. export_done_file is written after the rename.
"""

import errno
import os
import re
import shutil
import tempfile
import time

import tensorflow as tf

from mx_rec.export import assets, inputs, serving
from mx_rec.export.options import resolve
from mx_rec.export.sources import CheckpointSource, SessionSource

SIGNATURE = tf.compat.v1.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY


def export_saved_model(export_dir_base, model_fn, features, checkpoint_path=None, sess=None,
                       options=None, **option_kwargs):
    """Exports a model with mx_rec tables as a stock-TF SavedModel.

    Args:
      export_dir_base: directory receiving the export in a new subdirectory
        named by the time (seconds).
      model_fn: builds the serving graph: model_fn(features) -> {output name:
        tensor} (or one tensor, output "output"), with the same create_table,
        sparse_lookup and variable names as the trained model (e.g. the
        training model function in eval mode). Tables are frozen (see
        mx_rec.export.frozen_table); dense variables are restored.
      features: {feature name: tf.TensorSpec of one row} in input order.
      checkpoint_path: a TF checkpoint prefix, or a checkpoint directory (its
        latest checkpoint; restore_model_version applies).
      sess: instead of a checkpoint, a session holding the trained model (its
        graph may be finalized): its current values are exported, and nothing
        is saved (incremental checkpoints are not disturbed). Export while no
        step runs: a checkpoint is the consistent choice under training.
      options / option_kwargs: ExportOptions (batch_size, multi_placeholder,
        placeholder_named_by_input, separator, asset_files, fp16,
        export_done_file, clear_export).

    Returns:
      The export directory.
    """
    options = resolve(options, **option_kwargs)
    inputs.check_features(features)
    if not callable(model_fn):
        raise TypeError(f"model_fn must be callable (features -> outputs), got {model_fn!r}")
    if (checkpoint_path is None) == (sess is None):
        raise ValueError("give exactly one of checkpoint_path (a TF checkpoint prefix or "
                         "directory) and sess (a session holding the trained model)")
    source = SessionSource(sess) if sess is not None else \
        CheckpointSource(checkpoint_prefix(checkpoint_path))
    return _export(export_dir_base, model_fn, features, source, options)


def export_estimator(estimator, export_dir_base, features, checkpoint_path=None, options=None,
                     **option_kwargs):
    """Estimator.export_saved_model with mx_rec's ExportOptions: serving inputs
    from `features`, clear_export before and export_done_file after. (A plain
    estimator.export_saved_model also freezes the tables, with default
    options.) Returns the export directory."""
    options = resolve(options, **option_kwargs)
    if not isinstance(estimator, tf.estimator.Estimator):
        raise TypeError(f"estimator must be a tf.estimator.Estimator, got {estimator!r}")
    base = _prepare_base(export_dir_base, options, estimator.model_dir)
    with serving.estimator_options(options):
        path = estimator.export_saved_model(base, inputs.receiver_fn(features, options),
                                            checkpoint_path=checkpoint_path)
    path = path.decode() if isinstance(path, bytes) else path
    _mark_done(path, options)
    return path


def serving_input_receiver_fn(features, options=None, **option_kwargs):
    """A serving_input_receiver_fn for Estimator.export_saved_model and exporters:
    placeholders for `features` ({name: tf.TensorSpec of one row}) laid out
    as `options` say (batch_size, multi_placeholder, placeholder_named_by_input,
    separator, asset_files)."""
    return inputs.receiver_fn(features, resolve(options, **option_kwargs))


def checkpoint_prefix(checkpoint_path):
    """The TF checkpoint prefix a path names: itself, or a directory's latest."""
    if not isinstance(checkpoint_path, (str, os.PathLike)):
        raise TypeError(f"checkpoint_path must be a path, got {checkpoint_path!r}")
    path = os.fspath(checkpoint_path)
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise ValueError(f"checkpoint_path: directory '{path}' holds no TF checkpoint")
        return prefix
    if not tf.io.gfile.exists(path + ".index"):
        raise ValueError(f"checkpoint_path: '{path}' is neither a checkpoint directory nor a TF "
                         f"checkpoint prefix (no '{path}.index')")
    return path


def _prepare_base(export_dir_base, options, protected=None):
    """The export base directory, made (and emptied first with clear_export,
    unless it holds `protected`, the checkpoint being exported)."""
    if not isinstance(export_dir_base, (str, os.PathLike)):
        raise TypeError(f"export_dir_base must be a path, got {export_dir_base!r}")
    base = os.path.abspath(os.fspath(export_dir_base))
    if options.clear_export and os.path.exists(base):
        if protected and os.path.commonpath([base, os.path.abspath(protected)]) == base:
            raise ValueError(f"clear_export would remove '{base}', which holds the checkpoint "
                             f"being exported ('{protected}'): export into another directory")
        shutil.rmtree(base)
    os.makedirs(base, exist_ok=True)
    _sweep_abandoned(base)
    return base


def _sweep_abandoned(base):
    """Removes the temporary directories of exports whose process is gone
    (killed mid-export); exports of live processes are left alone."""
    for name in os.listdir(base):
        match = re.fullmatch(r"temp-(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _export(export_dir_base, model_fn, features, source, options):
    base = _prepare_base(export_dir_base, options, getattr(source, "prefix", None))
    # A directory of this export alone (exports may run concurrently), renamed
    # to a free <timestamp> once whole.
    temp = tempfile.mkdtemp(prefix=f"temp-{os.getpid()}-", dir=base)
    try:
        export_dir = os.path.join(temp, "export")
        builder = tf.compat.v1.saved_model.Builder(export_dir)
        with tf.Graph().as_default() as graph, \
                serving.exporting(source, export_dir, options):
            model_features, receiver = inputs.placeholders(features, options)
            outputs = _check_outputs(model_fn(model_features))
            for path in options.asset_files:
                assets.register(path)
            _write(graph, builder, source, receiver, outputs)
        final = _publish(export_dir, base)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _mark_done(final, options)
    return final


def _publish(export_dir, base):
    """Makes export_dir durable, then renames it to base/<seconds now>, or the
    next free number: a published export survives a crash whole."""
    _fsync_tree(export_dir)
    stamp = int(time.time())
    while True:
        final = os.path.join(base, str(stamp))
        try:
            os.rename(export_dir, final)  # atomic; fails on another export's directory
            _fsync(base)
            return final
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            stamp += 1


def _fsync_tree(root):
    for directory, _, files in os.walk(root):
        for name in files:
            _fsync(os.path.join(directory, name))
        _fsync(directory)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check_outputs(outputs):
    if tf.is_tensor(outputs):
        outputs = {"output": outputs}
    if not isinstance(outputs, dict) or not outputs or \
            not all(isinstance(k, str) and tf.is_tensor(v) for k, v in outputs.items()):
        raise TypeError("model_fn must return a tensor or a non-empty dict {output name: tensor}, "
                        f"got {outputs!r}")
    return outputs


def _write(graph, builder, source, receiver, outputs):
    variables = tf.compat.v1.global_variables()
    saver = tf.compat.v1.train.Saver(variables, sharded=True) if variables else None
    with tf.compat.v1.Session(graph=graph) as sess:
        if variables:
            source.restore(sess, variables)
        signature = tf.compat.v1.saved_model.predict_signature_def(receiver, outputs)
        builder.add_meta_graph_and_variables(
            sess, [tf.saved_model.SERVING], signature_def_map={SIGNATURE: signature},
            assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
            main_op=tf.compat.v1.train.Scaffold.default_local_init_op(), saver=saver,
            strip_default_attrs=True)
        builder.save()


def _mark_done(directory, options):
    if options.export_done_file:
        with open(os.path.join(directory, options.export_done_file), "w") as f:
            f.write(f"{int(time.time())}\n")
