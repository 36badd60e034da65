"""Checks and conversions of loss inputs; every error names the argument."""

import tensorflow as tf


def batch_vector(name, tensor, dtype=tf.float32):
    """`tensor` as a [batch] tensor of `dtype` (None keeps its dtype).

    [batch, 1] is accepted and squeezed; any other rank, or an unknown rank,
    is a ValueError naming `name`.
    """
    tensor = tf.convert_to_tensor(tensor)
    shape = tensor.shape
    if shape.rank == 2 and shape[1] == 1:
        tensor = tf.squeeze(tensor, axis=1)
    elif shape.rank != 1:
        raise ValueError(f"{name} must have shape [batch] or [batch, 1], got {shape}")
    return tensor if dtype is None else tf.cast(tensor, dtype)


def batch_matrix(name, tensor):
    """`tensor` as a float32 [batch, dim] tensor; another rank is a ValueError."""
    tensor = tf.convert_to_tensor(tensor)
    if tensor.shape.rank != 2:
        raise ValueError(f"{name} must have shape [batch, dim], got {tensor.shape}")
    return tf.cast(tensor, tf.float32)


def same_shape(name_a, a, name_b, b):
    """ValueError unless the static shapes of a and b can be equal."""
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"{name_a} and {name_b} must have the same shape, got {a.shape} and "
                         f"{b.shape}")


def sample_weights(sample_weight, batch):
    """None -> 1.0; a scalar stays a scalar; [batch] or [batch, 1] -> float32 [batch].

    `batch` is a [batch, ...] tensor of the same samples (its first dimension
    is checked against the weights' when both are known).
    """
    if sample_weight is None:
        return 1.0
    weights = tf.convert_to_tensor(sample_weight, tf.float32)
    if weights.shape.rank == 0:
        return weights
    weights = batch_vector("sample_weight", weights)
    if not weights.shape.is_compatible_with(batch.shape[:1]):
        raise ValueError(f"sample_weight must be a scalar or have one value per sample "
                         f"({batch.shape[0]}), got shape {weights.shape}")
    return weights
