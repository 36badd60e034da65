"""Asset files of an export."""

import os

import tensorflow as tf


def register(path, name=None):
    """A string constant naming `path`, registered as an asset: the SavedModel
    copies the file into its assets/ and feeds the copy's path at load time.
    Assets are found by file name there, so two files of one name are an error
    (TF would rename one silently)."""
    for tensor in tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS):
        other = tf.get_static_value(tensor)
        other = None if other is None else os.fsdecode(other.item())
        if other is not None and other != path and \
                os.path.basename(other) == os.path.basename(path):
            raise ValueError(f"asset_files: '{path}' and '{other}' have the same file name; "
                             "an export's assets/ holds one file per name (table rows are "
                             "'<table>.keys' and '<table>.rows')")
    tensor = tf.constant(path, name=name)
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, tensor)
    return tensor
