"""PAIR_WISE_LOSS: a rank loss over the pairs a batch orders (EasyRec's
pairwise_loss), aimed at the AUC of the whole batch or, with session ids,
at the AUC within each session (GAUC)."""

import dataclasses

import tensorflow as tf

from mx_rec.losses.inputs import batch_vector, same_shape, sample_weights
from mx_rec.losses.pointwise import binary_inputs
from mx_rec.util.validation import check_real


@dataclasses.dataclass(frozen=True)
class PairwiseLoss:
    """Parameters of PAIR_WISE_LOSS (EasyRec's `pairwise_loss` block).

    margin: how far the positive's logit must exceed the negative's before
      the pair stops contributing much; any finite number, default 0.
    session_name: the input column holding session ids (e.g. a user id);
      pairs are then formed only within a session. Default "": the whole
      batch. build_losses reads that column from its `session_ids` mapping;
      build_loss and pairwise_loss take the tensor itself.
    """

    margin: float = 0.0
    session_name: str = ""

    def __post_init__(self):
        check_real("margin", self.margin, lambda v: True, "a finite number")
        if not isinstance(self.session_name, str):
            raise TypeError(f"session_name must be a string, got {self.session_name!r}")


def pairwise_loss(labels, logits, margin=0.0, session_ids=None, sample_weight=None):
    """Mean over ordered pairs (i, j), labels[i] > labels[j] (and the same
    session when session_ids is given), of
    sigmoid_cross_entropy(1, logits[i] - logits[j] - margin), each pair
    weighted by sample_weight[i]. 0 when the batch has no such pair.

    labels, logits, session_ids: [batch] (or [batch, 1]).
    sample_weight: None, a scalar, or one weight per sample.
    """
    labels, logits = binary_inputs(labels, logits)
    margin = PairwiseLoss(margin=margin).margin
    pair_logits = logits[:, None] - logits[None, :] - margin
    ordered = labels[:, None] - labels[None, :] > 0
    if session_ids is not None:
        session_ids = batch_vector("session_ids", session_ids, dtype=None)
        same_shape("session_ids", session_ids, "logits", logits)
        ordered = tf.logical_and(ordered, tf.equal(session_ids[:, None], session_ids[None, :]))
    pair_logits = tf.boolean_mask(pair_logits, ordered)
    weights = sample_weights(sample_weight, logits)
    if tf.is_tensor(weights) and weights.shape.rank == 1:
        weights = tf.boolean_mask(tf.broadcast_to(weights[:, None], tf.shape(ordered)), ordered)
    return tf.compat.v1.losses.sigmoid_cross_entropy(tf.ones_like(pair_logits), pair_logits,
                                                     weights, loss_collection=None)
