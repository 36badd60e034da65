"""SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING: a softmax over each positive
user-item pair and items borrowed from the rest of the batch, with EasyRec's
support-vector-guided reweighting of the hard negatives (after "Support
Vector Guided Softmax Loss for Face Recognition", Wang et al. 2018)."""

import dataclasses

import tensorflow as tf

from mx_rec.losses.inputs import batch_matrix, batch_vector, same_shape, sample_weights
from mx_rec.util.validation import check_bool, check_int, check_real


@dataclasses.dataclass(frozen=True)
class SoftmaxCrossEntropyWithNegativeMining:
    """Parameters of SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING (EasyRec's
    `softmax_loss` block).

    num_negative_samples: negatives per positive, >= 1 and less than the
      batch size (checked when the loss runs). Required: EasyRec gives it no
      default.
    margin: subtracted from the positive's similarity, finite. Default 0.
    gamma: scale of the softmax logits, > 0. Default 1.
    coefficient_of_support_vector: t > 0; a hard negative's similarity s
      becomes t s + t - 1 (1 leaves it unchanged). Default 1.
    """

    num_negative_samples: int
    margin: float = 0.0
    gamma: float = 1.0
    coefficient_of_support_vector: float = 1.0

    def __post_init__(self):
        check_int("num_negative_samples", self.num_negative_samples, 1)
        check_real("margin", self.margin, lambda v: True, "a finite number")
        check_real("gamma", self.gamma, lambda v: v > 0, "a finite number > 0")
        check_real("coefficient_of_support_vector", self.coefficient_of_support_vector,
                   lambda v: v > 0, "a finite number > 0")


def support_vector_guided_softmax_loss(pos_score, neg_scores, margin=0.0, gamma=1.0,
                                       coefficient_of_support_vector=1.0, sample_weight=None):
    """Softmax cross entropy of each row's positive among its negatives.

    With p = pos_score - margin, a negative n is hard when n > p and then
    becomes t n + t - 1 (t = coefficient_of_support_vector); the logits
    gamma * [p, n_1', ..., n_k'] are scored against class 0. The mean is
    sum(weight * term) / count(weight != 0), 0 for no rows.

    pos_score: [rows, 1]; neg_scores: [rows, k]; sample_weight: None, a
    scalar, or one weight per row.
    """
    pos_score = batch_matrix("pos_score", pos_score)
    neg_scores = batch_matrix("neg_scores", neg_scores)
    if not pos_score.shape[1:].is_compatible_with([1]):
        raise ValueError(f"pos_score must have shape [rows, 1], got {pos_score.shape}")
    same_shape("the rows of pos_score", pos_score[:, 0], "the rows of neg_scores",
               neg_scores[:, 0])
    t = check_real("coefficient_of_support_vector", coefficient_of_support_vector,
                   lambda v: v > 0, "a finite number > 0")
    gamma = check_real("gamma", gamma, lambda v: v > 0, "a finite number > 0")
    pos_score = pos_score - check_real("margin", margin, lambda v: True, "a finite number")
    hard = neg_scores > pos_score
    neg_scores = tf.where(hard, neg_scores * t + t - 1.0, neg_scores)
    logits = tf.concat([pos_score, neg_scores], axis=1) * gamma
    return tf.compat.v1.losses.sparse_softmax_cross_entropy(
        tf.zeros_like(logits[:, 0], tf.int32), logits, sample_weights(sample_weight, logits),
        loss_collection=None)


def softmax_loss_with_negative_mining(labels, user_emb, item_emb, num_negative_samples,
                                      margin=0.0, gamma=1.0, coefficient_of_support_vector=1.0,
                                      embed_normed=False, sample_weight=None):
    """Support-vector-guided softmax over the batch's positive samples.

    Each of the num_negative_samples negatives rolls the batch's item
    embeddings by a random shift in [1, batch) (one shift per negative, so a
    sample never meets its own item). Scores are cosine similarities
    (dot products when embed_normed); only samples with label > 0 count,
    and a batch without one gives 0.

    labels: [batch]; user_emb, item_emb: [batch, dim]; sample_weight: None,
    a scalar, or one weight per sample.
    """
    config = SoftmaxCrossEntropyWithNegativeMining(num_negative_samples, margin, gamma,
                                                   coefficient_of_support_vector)
    user_emb = batch_matrix("user_emb", user_emb)
    item_emb = batch_matrix("item_emb", item_emb)
    same_shape("user_emb", user_emb, "item_emb", item_emb)
    labels = batch_vector("labels", labels)
    same_shape("labels", labels, "the batch of item_emb", item_emb[:, 0])
    weights = sample_weights(sample_weight, item_emb)
    batch_size = tf.shape(item_emb)[0]
    enough = tf.debugging.assert_less(
        config.num_negative_samples, batch_size,
        message="num_negative_samples must be less than the batch size: the negatives are "
                "the batch's other items")
    with tf.control_dependencies([enough]):
        if not check_bool("embed_normed", embed_normed):
            user_emb = tf.nn.l2_normalize(user_emb, axis=-1)
            item_emb = tf.nn.l2_normalize(item_emb, axis=-1)
        items = [item_emb] + [
            tf.roll(item_emb, tf.random.uniform([], 1, batch_size, dtype=tf.int32), axis=0)
            for _ in range(config.num_negative_samples)]
    positive = labels > 0
    scores = tf.reduce_sum(tf.boolean_mask(user_emb, positive)[:, None, :]
                           * tf.boolean_mask(tf.stack(items, axis=1), positive), axis=-1)
    if tf.is_tensor(weights) and weights.shape.rank == 1:
        weights = tf.boolean_mask(weights, positive)
    return support_vector_guided_softmax_loss(scores[:, :1], scores[:, 1:], config.margin,
                                              config.gamma,
                                              config.coefficient_of_support_vector, weights)
