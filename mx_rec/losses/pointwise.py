"""Pointwise losses: one term per sample, averaged over the samples.

EasyRec's CLASSIFICATION, L2_LOSS, SIGMOID_L2_LOSS and CROSS_ENTROPY_LOSS.
Every loss here is TF's v1 loss of the same name (nothing is added to the
LOSSES collection) with reduction SUM_BY_NONZERO_WEIGHTS:
sum(weight * term) / count(weight != 0), 0 for an empty batch.
"""

import tensorflow as tf

from mx_rec.losses.inputs import batch_vector, same_shape, sample_weights
from mx_rec.util.validation import check_int

v1_losses = tf.compat.v1.losses


def classification_loss(labels, logits, num_class=1, sample_weight=None):
    """Cross entropy on logits (EasyRec CLASSIFICATION).

    num_class == 1: sigmoid cross entropy; labels [batch] in [0, 1], logits
      [batch] (or [batch, 1]).
    num_class > 1: softmax cross entropy; labels [batch] integer class ids in
      [0, num_class), logits [batch, num_class].
    sample_weight: None, a scalar, or one weight per sample.
    """
    num_class = check_int("num_class", num_class, 1)
    if num_class == 1:
        labels, logits = binary_inputs(labels, logits)
        return v1_losses.sigmoid_cross_entropy(labels, logits,
                                               sample_weights(sample_weight, logits),
                                               loss_collection=None)
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2 or not logits.shape[1:].is_compatible_with([num_class]):
        raise ValueError(f"logits must have shape [batch, num_class={num_class}] when "
                         f"num_class > 1, got {logits.shape}")
    labels = batch_vector("labels", labels, dtype=None)
    if not labels.dtype.is_integer:
        raise TypeError("labels must be integer class ids in [0, num_class) when num_class > 1, "
                        f"got {labels.dtype.name}")
    same_shape("labels", labels, "the batch of logits", logits[:, 0])
    return v1_losses.sparse_softmax_cross_entropy(
        labels, tf.cast(logits, tf.float32), sample_weights(sample_weight, logits),
        loss_collection=None)


def l2_loss(labels, predictions, sample_weight=None):
    """Mean squared error (labels - predictions)^2 (EasyRec L2_LOSS)."""
    labels, predictions = binary_inputs(labels, predictions, "predictions")
    return v1_losses.mean_squared_error(labels, predictions,
                                        sample_weights(sample_weight, predictions),
                                        loss_collection=None)


def sigmoid_l2_loss(labels, logits, sample_weight=None):
    """Mean squared error (labels - sigmoid(logits))^2 (EasyRec SIGMOID_L2_LOSS,
    whose models apply the sigmoid before the squared error)."""
    labels, logits = binary_inputs(labels, logits)
    return l2_loss(labels, tf.sigmoid(logits), sample_weight)


def cross_entropy_loss(labels, probabilities, sample_weight=None):
    """Log loss on probabilities (EasyRec CROSS_ENTROPY_LOSS):
    -y log(p + 1e-7) - (1 - y) log(1 - p + 1e-7)."""
    labels, probabilities = binary_inputs(labels, probabilities, "probabilities")
    return v1_losses.log_loss(labels, probabilities,
                              sample_weights(sample_weight, probabilities),
                              loss_collection=None)


def binary_inputs(labels, predictions, name="logits"):
    """(labels, predictions) as float32 [batch] tensors of equal shape."""
    labels = batch_vector("labels", labels)
    predictions = batch_vector(name, predictions)
    same_shape("labels", labels, name, predictions)
    return labels, predictions
