"""Asset files of an export."""

import tensorflow as tf


def register(path, name=None):
    """A string constant naming `path`, registered as an asset: the SavedModel
    copies the file into its assets/ and feeds the copy's path at load time."""
    tensor = tf.constant(path, name=name)
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, tensor)
    return tensor
