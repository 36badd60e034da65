"""F1_REWEIGHTED_LOSS: sigmoid cross entropy whose negatives are reweighted
so that minimising it trades recall against precision like an F-beta score
(EasyRec's f1_reweight_sigmoid_cross_entropy, after "Adaptive Scaling for
Sparse Detection in Information Extraction")."""

import dataclasses

import tensorflow as tf

from mx_rec.losses.inputs import sample_weights
from mx_rec.losses.pointwise import binary_inputs
from mx_rec.util.validation import check_real


@dataclasses.dataclass(frozen=True)
class F1ReweighedLoss:
    """Parameters of F1_REWEIGHTED_LOSS (EasyRec's `f1_reweighted_loss` block;
    the class keeps the proto message's name).

    f1_beta_square: beta^2 of the F-beta score, > 0; above 1 favours recall,
      below 1 precision. Default 1.0 (F1).
    label_smoothing: in [0, 1]; labels become y (1 - s) + s / 2. Default 0.
    """

    f1_beta_square: float = 1.0
    label_smoothing: float = 0.0

    def __post_init__(self):
        check_real("f1_beta_square", self.f1_beta_square, lambda v: v > 0, "a finite number > 0")
        check_real("label_smoothing", self.label_smoothing, lambda v: 0 <= v <= 1, "in [0, 1]")


def f1_reweighted_loss(labels, logits, f1_beta_square=1.0, label_smoothing=0.0,
                       sample_weight=None):
    """Weighted sigmoid cross entropy over the batch.

    With p = sigmoid(logits), B the batch size, P = sum(labels) and
    T = sum(p) over the whole batch, positives (label == 1) weigh 1 and the
    others T / (f1_beta_square * P + T - P + 1e-8), times sample_weight;
    the result is sum(weight * term) / count(weight != 0). Gradients flow
    through the negatives' weight too.

    labels, logits: [batch] (or [batch, 1]); labels in {0, 1}.
    sample_weight: None, a scalar, or one weight per sample.
    """
    config = F1ReweighedLoss(f1_beta_square, label_smoothing)
    labels, logits = binary_inputs(labels, logits)
    batch_size = tf.cast(tf.size(labels), tf.float32)
    num_pos = tf.reduce_sum(labels)
    prob_sum = tf.reduce_sum(tf.sigmoid(logits))
    # EasyRec's tp / (beta^2 * num_pos + num_neg - tn), num_neg - tn = tp - num_pos.
    neg_weight = prob_sum / (config.f1_beta_square * num_pos + (batch_size - num_pos)
                             - (batch_size - prob_sum) + 1e-8)
    weights = tf.where(tf.equal(labels, 1.0), tf.ones_like(labels),
                       neg_weight * tf.ones_like(labels))
    weights *= sample_weights(sample_weight, logits)
    return tf.compat.v1.losses.sigmoid_cross_entropy(
        labels, logits, weights, label_smoothing=config.label_smoothing, loss_collection=None)
