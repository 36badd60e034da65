"""Metric-learning losses on a batch of embeddings (EasyRec's CIRCLE_LOSS and
MULTI_SIMILARITY_LOSS, used by its CoMetricLearningI2I model).

Samples i != j are a positive pair when their labels are equal (and their
session ids, when given); every other pair i != j is a negative pair.
Similarities are cosines: embeddings are L2-normalised first unless
embed_normed says they already are.
"""

import dataclasses

import tensorflow as tf

from mx_rec.losses.inputs import batch_matrix, batch_vector, same_shape
from mx_rec.util.validation import check_bool, check_real

# Added to the logits of pairs outside a mask so that logsumexp ignores them.
_MASKED_LOGIT = 1e12


@dataclasses.dataclass(frozen=True)
class CircleLoss:
    """Parameters of CIRCLE_LOSS (EasyRec's `circle_loss` block).

    margin: the relaxation m in [0, 1]: positives aim above 1 - m,
      negatives below m. Default 0.25.
    gamma: the scale of the similarities, > 0. Default 32.
    """

    margin: float = 0.25
    gamma: float = 32.0

    def __post_init__(self):
        check_real("margin", self.margin, lambda v: 0 <= v <= 1, "in [0, 1]")
        check_real("gamma", self.gamma, lambda v: v > 0, "a finite number > 0")


@dataclasses.dataclass(frozen=True)
class MultiSimilarityLoss:
    """Parameters of MULTI_SIMILARITY_LOSS (EasyRec's `multi_simi_loss` block).

    alpha: scale of the positive pairs' term, > 0. Default 2.
    beta: scale of the negative pairs' term, > 0. Default 50.
    lamb: the similarity threshold lambda, finite. Default 1.
    eps: the mining margin, >= 0; used only with ms_mining. Default 0.1.
    ms_mining: keep only the hard pairs: positives less similar than the
      anchor's most similar negative + eps, negatives more similar than its
      least similar positive - eps. Default False, as in EasyRec, whose
      config has no switch for it.
    """

    alpha: float = 2.0
    beta: float = 50.0
    lamb: float = 1.0
    eps: float = 0.1
    ms_mining: bool = False

    def __post_init__(self):
        check_real("alpha", self.alpha, lambda v: v > 0, "a finite number > 0")
        check_real("beta", self.beta, lambda v: v > 0, "a finite number > 0")
        check_real("lamb", self.lamb, lambda v: True, "a finite number")
        check_real("eps", self.eps, lambda v: v >= 0, "a finite number >= 0")
        check_bool("ms_mining", self.ms_mining)


def pair_masks(labels, session_ids=None):
    """(positive, negative) float32 [batch, batch] masks of the pairs i != j."""
    labels = batch_vector("labels", labels, dtype=None)
    same = tf.equal(labels[:, None], labels[None, :])
    if session_ids is not None:
        session_ids = batch_vector("session_ids", session_ids, dtype=None)
        same_shape("session_ids", session_ids, "labels", labels)
        same = tf.logical_and(same, tf.equal(session_ids[:, None], session_ids[None, :]))
    distinct = 1.0 - tf.eye(tf.size(labels))
    positive = tf.cast(same, tf.float32) * distinct
    return positive, distinct - positive


def cosine_similarities(labels, embeddings, embed_normed):
    """[batch, batch] cosine similarities of the embeddings' rows."""
    embeddings = batch_matrix("embeddings", embeddings)
    same_shape("labels", batch_vector("labels", labels, dtype=None), "the batch of embeddings",
               embeddings[:, 0])
    if not check_bool("embed_normed", embed_normed):
        embeddings = tf.nn.l2_normalize(embeddings, axis=-1)
    return tf.matmul(embeddings, embeddings, transpose_b=True)


def circle_loss(labels, embeddings, margin=0.25, gamma=32.0, session_ids=None,
                embed_normed=False):
    """Circle loss (Sun et al. 2020), averaged over the anchors.

    With s the cosine similarities, per anchor i:
      softplus(logsumexp_n [a_n gamma (s_in - m)] + logsumexp_p [-a_p gamma (s_ip - (1 - m))])
    over its negatives n and positives p, where a_p = relu(1 + m - s_ip)
    and a_n = relu(s_in + m) are constants (no gradient flows through them).
    An anchor without positives (or negatives) contributes ~0.

    labels, session_ids: [batch]; embeddings: [batch, dim].
    """
    config = CircleLoss(margin, gamma)
    m = config.margin
    sim = cosine_similarities(labels, embeddings, embed_normed)
    positive, negative = pair_masks(labels, session_ids)
    a_p = tf.nn.relu(1.0 + m - tf.stop_gradient(sim * positive))
    a_n = tf.nn.relu(tf.stop_gradient(sim * negative) + m)
    logit_p = (-a_p * (sim - (1.0 - m)) * config.gamma * positive
               - (1.0 - positive) * _MASKED_LOGIT)
    logit_n = a_n * (sim - m) * config.gamma * negative - (1.0 - negative) * _MASKED_LOGIT
    per_anchor = tf.nn.softplus(tf.reduce_logsumexp(logit_n, axis=1)
                                + tf.reduce_logsumexp(logit_p, axis=1))
    return tf.reduce_mean(per_anchor)


def multi_similarity_loss(labels, embeddings, alpha=2.0, beta=50.0, lamb=1.0, eps=0.1,
                          ms_mining=False, session_ids=None, embed_normed=False):
    """Multi-similarity loss (Wang et al. 2019), averaged over the anchors.

    With s = max(cosine similarity, 0), per anchor i:
      log(1 + sum_p exp(-alpha (s_ip - lamb))) / alpha
      + log(1 + sum_n exp(beta (s_in - lamb))) / beta
    over its positives p and negatives n (only the hard ones with ms_mining,
    see MultiSimilarityLoss).

    labels, session_ids: [batch]; embeddings: [batch, dim].
    """
    config = MultiSimilarityLoss(alpha, beta, lamb, eps, ms_mining)
    sim = tf.maximum(cosine_similarities(labels, embeddings, embed_normed), 0.0)
    positive, negative = pair_masks(labels, session_ids)
    pos_sim = sim * positive
    neg_sim = sim * negative
    if config.ms_mining:
        hardest_neg = tf.reduce_max(neg_sim, axis=1, keepdims=True)
        # The least similar positive; rows without positives give 0.
        max_pos = tf.reduce_max(pos_sim, axis=1, keepdims=True)
        easiest_pos = tf.reduce_min((sim - max_pos) * positive, axis=1, keepdims=True) + max_pos
        positive *= tf.cast(pos_sim < hardest_neg + config.eps, tf.float32)
        negative *= tf.cast(neg_sim > easiest_pos - config.eps, tf.float32)
    pos_exp = tf.where(positive > 0, tf.exp(-config.alpha * (pos_sim - config.lamb)),
                       tf.zeros_like(sim))
    neg_exp = tf.where(negative > 0, tf.exp(config.beta * (neg_sim - config.lamb)),
                       tf.zeros_like(sim))
    per_anchor = (tf.math.log1p(tf.reduce_sum(pos_exp, axis=1)) / config.alpha
                  + tf.math.log1p(tf.reduce_sum(neg_exp, axis=1)) / config.beta)
    return tf.reduce_mean(per_anchor)
