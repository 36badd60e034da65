"""mx_rec.losses against NumPy computations of EasyRec's formulas.

Each loss is checked on fixed inputs for its value and for its gradients
(tf.gradients against central finite differences of the float64 NumPy
formula), then the weighted sum of several losses and the errors.
"""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.losses import (CircleLoss, F1ReweighedLoss, Loss, MultiSimilarityLoss, PairwiseLoss,
                           SoftmaxCrossEntropyWithNegativeMining, build_loss, build_losses)
from mx_rec.losses.negative_mining import support_vector_guided_softmax_loss

RNG = np.random.RandomState(11)
LABELS = np.array([1, 0, 0, 1, 0, 1, 0, 0], np.float32)
LOGITS = RNG.normal(0, 1.5, 8).astype(np.float32)
WEIGHTS = np.array([1.0, 0.5, 2.0, 0.0, 1.0, 1.5, 0.25, 1.0], np.float32)
CLASSES = np.array([2, 0, 1, 1, 0, 2, 2, 1], np.int64)
CLASS_LOGITS = RNG.normal(0, 1.0, (8, 3)).astype(np.float32)
EMBEDDINGS = RNG.normal(0, 1.0, (8, 4)).astype(np.float32)
EMB_LABELS = np.array([3, 1, 3, 2, 1, 1, 2, 4], np.int64)
SESSIONS = np.array([7, 7, 7, 8, 8, 8, 8, 9], np.int64)


# ---- NumPy formulas (float64) --------------------------------------------------------

def weighted_mean(terms, weights=1.0):
    """TF's SUM_BY_NONZERO_WEIGHTS: sum(w * t) / count(w != 0), 0 if none."""
    weights = np.broadcast_to(np.asarray(weights, np.float64), np.shape(terms))
    count = np.count_nonzero(weights)
    return float(np.sum(weights * terms) / count) if count else 0.0


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def sigmoid_xent(y, x):
    return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))


def softmax_xent(labels, logits):
    top = logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(logits - top).sum(axis=1)) + top[:, 0]
    return lse - logits[np.arange(len(labels)), labels]


def np_pairwise(y, x, margin=0.0, sessions=None, w=1.0):
    terms, weights = [], []
    w = np.broadcast_to(w, y.shape)
    for i, j in itertools.product(range(len(y)), repeat=2):
        if y[i] > y[j] and (sessions is None or sessions[i] == sessions[j]):
            terms.append(sigmoid_xent(1.0, x[i] - x[j] - margin))
            weights.append(w[i])
    return weighted_mean(np.array(terms), np.array(weights)) if terms else 0.0


def np_f1(y, x, beta_square=1.0, smoothing=0.0, w=1.0):
    p = sigmoid(x)
    n, pos, tp = len(y), y.sum(), p.sum()
    neg_weight = tp / (beta_square * pos + (n - pos) - (n - tp) + 1e-8)
    weights = np.where(y == 1, 1.0, neg_weight) * w
    return weighted_mean(sigmoid_xent(y * (1 - smoothing) + 0.5 * smoothing, x), weights)


def l2_normalize(e):
    return e / np.sqrt(np.maximum((e * e).sum(axis=1, keepdims=True), 1e-12))


def np_masks(labels, sessions=None):
    same = labels[:, None] == labels[None, :]
    if sessions is not None:
        same &= sessions[:, None] == sessions[None, :]
    distinct = ~np.eye(len(labels), dtype=bool)
    return same & distinct, ~same & distinct


def logsumexp(v):
    top = v.max()
    return top + np.log(np.exp(v - top).sum())


def np_circle(labels, emb, margin=0.25, gamma=32.0, sessions=None, frozen_sim=None):
    """frozen_sim: the similarities a_p and a_n are computed from (their
    gradient is stopped in the loss), default the current ones."""
    sim = l2_normalize(emb) @ l2_normalize(emb).T
    anchor = sim if frozen_sim is None else frozen_sim
    pos, neg = np_masks(labels, sessions)
    total = 0.0
    for i in range(len(labels)):
        a_p = np.maximum(1 + margin - anchor[i, pos[i]], 0)
        a_n = np.maximum(anchor[i, neg[i]] + margin, 0)
        lp = logsumexp(-a_p * (sim[i, pos[i]] - (1 - margin)) * gamma) if pos[i].any() else -1e12
        ln = logsumexp(a_n * (sim[i, neg[i]] - margin) * gamma) if neg[i].any() else -1e12
        total += np.logaddexp(0.0, lp + ln)
    return total / len(labels)


def np_multi_similarity(labels, emb, alpha=2.0, beta=50.0, lamb=1.0, eps=0.1, mining=False,
                        sessions=None):
    sim = np.maximum(l2_normalize(emb) @ l2_normalize(emb).T, 0.0)
    pos, neg = np_masks(labels, sessions)
    total = 0.0
    for i in range(len(labels)):
        p, n = sim[i, pos[i]], sim[i, neg[i]]
        if mining:
            hardest_neg = n.max() if n.size else 0.0
            easiest_pos = p.min() if p.size else 0.0
            p, n = p[p < hardest_neg + eps], n[n > easiest_pos - eps]
        total += (np.log1p(np.exp(-alpha * (p - lamb)).sum()) / alpha
                  + np.log1p(np.exp(beta * (n - lamb)).sum()) / beta)
    return total / len(labels)


def np_svg_softmax(pos, neg, margin=0.0, gamma=1.0, t=1.0, w=1.0):
    pos = pos - margin
    neg = np.where(neg > pos, neg * t + t - 1, neg)
    logits = np.concatenate([pos, neg], axis=1) * gamma
    return weighted_mean(softmax_xent(np.zeros(len(pos), np.int64), logits), w)


def np_negative_mining(labels, user, item, shifts, margin=0.0, gamma=1.0, t=1.0, w=1.0):
    user, item = l2_normalize(user), l2_normalize(item)
    items = np.stack([item] + [np.roll(item, s, axis=0) for s in shifts], axis=1)
    scores = np.einsum("bd,bkd->bk", user, items)[labels > 0]
    w = np.broadcast_to(w, labels.shape)[labels > 0]
    return np_svg_softmax(scores[:, :1], scores[:, 1:], margin, gamma, t, w)


def numeric_gradient(f, x, h=1e-6):
    x = np.asarray(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


# ---- helpers --------------------------------------------------------------------------

def value_and_gradients(loss, wrt):
    grads = tf.gradients(loss, wrt)
    with tf.compat.v1.Session() as sess:
        return sess.run([loss, grads])


def check(build, reference, inputs, rtol=1e-5, grad_rtol=2e-4, grad_atol=2e-6):
    """build(*tensors) -> TF loss; reference(*float64 arrays) -> float.
    Compares the value and the gradient with respect to every input."""
    tensors = [tf.constant(x) for x in inputs]
    value, grads = value_and_gradients(build(*tensors), tensors)
    arrays = [np.asarray(x, np.float64) for x in inputs]
    np.testing.assert_allclose(value, reference(*arrays), rtol=rtol, atol=1e-6)
    for k, grad in enumerate(grads):
        def moved(x, k=k):
            return reference(*(arrays[:k] + [x] + arrays[k + 1:]))
        np.testing.assert_allclose(grad, numeric_gradient(moved, arrays[k]),
                                   rtol=grad_rtol, atol=grad_atol)


# ---- each loss: value and gradients -------------------------------------------------

@pytest.mark.parametrize("weights", [None, 2.0, WEIGHTS])
def test_classification_is_sigmoid_cross_entropy(weights):
    w = 1.0 if weights is None else weights
    check(lambda x: build_loss("CLASSIFICATION", LABELS, x, sample_weight=weights),
          lambda x: weighted_mean(sigmoid_xent(LABELS, x), w), [LOGITS])


def test_classification_with_classes_is_softmax_cross_entropy():
    check(lambda x: build_loss("CLASSIFICATION", CLASSES, x, num_class=3, sample_weight=WEIGHTS),
          lambda x: weighted_mean(softmax_xent(CLASSES, x), WEIGHTS), [CLASS_LOGITS])


def test_l2_loss_is_mean_squared_error():
    check(lambda x: build_loss("L2_LOSS", LABELS * 3.0, x[:, None], sample_weight=WEIGHTS),
          lambda x: weighted_mean((LABELS * 3.0 - x) ** 2, WEIGHTS), [LOGITS])


def test_sigmoid_l2_loss_squares_the_sigmoid_error():
    check(lambda x: build_loss("SIGMOID_L2_LOSS", LABELS, x),
          lambda x: weighted_mean((LABELS - sigmoid(x)) ** 2), [LOGITS])


def test_cross_entropy_loss_is_log_loss_of_probabilities():
    probs = sigmoid(LOGITS.astype(np.float64)).astype(np.float32)
    check(lambda p: build_loss("CROSS_ENTROPY_LOSS", LABELS, p, sample_weight=WEIGHTS),
          lambda p: weighted_mean(-LABELS * np.log(p + 1e-7)
                                  - (1 - LABELS) * np.log(1 - p + 1e-7), WEIGHTS), [probs])


@pytest.mark.parametrize("margin,sessions,weights", [(0.0, None, None), (0.3, None, WEIGHTS),
                                                     (-0.2, SESSIONS, None),
                                                     (0.1, SESSIONS, WEIGHTS)])
def test_pair_wise_loss(margin, sessions, weights):
    w = 1.0 if weights is None else weights
    graded = LABELS + (np.arange(8) % 3 == 0)  # several grades: more ordered pairs
    check(lambda x: build_loss("PAIR_WISE_LOSS", graded, x, margin=margin, session_ids=sessions,
                               sample_weight=weights),
          lambda x: np_pairwise(graded, x, margin, sessions, w), [LOGITS])


def test_pair_wise_loss_is_zero_without_ordered_pairs():
    x = tf.constant(LOGITS)
    value, (grad,) = value_and_gradients(build_loss("PAIR_WISE_LOSS", np.ones(8, np.float32), x),
                                         [x])
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros(8))


@pytest.mark.parametrize("beta_square,smoothing,weights", [(1.0, 0.0, None),
                                                            (0.5625, 0.0, WEIGHTS),
                                                            (4.0, 0.2, None)])
def test_f1_reweighted_loss(beta_square, smoothing, weights):
    w = 1.0 if weights is None else weights
    check(lambda x: build_loss("F1_REWEIGHTED_LOSS", LABELS, x, f1_beta_square=beta_square,
                               label_smoothing=smoothing, sample_weight=weights),
          lambda x: np_f1(LABELS, x, beta_square, smoothing, w), [LOGITS])


@pytest.mark.parametrize("margin,gamma,sessions", [(0.25, 32.0, None), (0.4, 8.0, SESSIONS)])
def test_circle_loss(margin, gamma, sessions):
    emb = tf.constant(EMBEDDINGS)
    loss = build_loss("CIRCLE_LOSS", EMB_LABELS, emb, loss_param=CircleLoss(margin, gamma),
                      session_ids=sessions)
    value, (grad,) = value_and_gradients(loss, [emb])
    x = EMBEDDINGS.astype(np.float64)
    np.testing.assert_allclose(value, np_circle(EMB_LABELS, x, margin, gamma, sessions),
                               rtol=1e-5)
    # a_p and a_n are constants for the gradient: freeze them at x.
    frozen = l2_normalize(x) @ l2_normalize(x).T
    expected = numeric_gradient(
        lambda e: np_circle(EMB_LABELS, e, margin, gamma, sessions, frozen_sim=frozen), x)
    np.testing.assert_allclose(grad, expected, rtol=2e-4, atol=2e-5)


def test_circle_loss_on_normalised_embeddings_skips_normalising():
    emb = l2_normalize(EMBEDDINGS.astype(np.float64)).astype(np.float32)
    with tf.compat.v1.Session() as sess:
        normed, raw = sess.run([build_loss("CIRCLE_LOSS", EMB_LABELS, emb, embed_normed=True),
                                build_loss("CIRCLE_LOSS", EMB_LABELS, EMBEDDINGS * 3.0)])
    np.testing.assert_allclose(normed, raw, rtol=1e-5)


@pytest.mark.parametrize("params,sessions", [({}, None),
                                             ({"alpha": 1.5, "beta": 10.0, "lamb": 0.5}, SESSIONS),
                                             ({"ms_mining": True, "eps": 0.2, "lamb": 0.5}, None)])
def test_multi_similarity_loss(params, sessions):
    check(lambda e: build_loss("MULTI_SIMILARITY_LOSS", EMB_LABELS, e, session_ids=sessions,
                               **params),
          lambda e: np_multi_similarity(EMB_LABELS, e, sessions=sessions,
                                        **{("mining" if k == "ms_mining" else k): v
                                           for k, v in params.items()}),
          [EMBEDDINGS])


def test_multi_similarity_mining_drops_easy_pairs():
    """With mining some pairs leave the sums: the loss is smaller."""
    with tf.compat.v1.Session() as sess:
        plain, mined = sess.run([
            build_loss("MULTI_SIMILARITY_LOSS", EMB_LABELS, EMBEDDINGS, lamb=0.5),
            build_loss("MULTI_SIMILARITY_LOSS", EMB_LABELS, EMBEDDINGS, lamb=0.5, eps=0.0,
                       ms_mining=True)])
    assert mined < plain


def test_support_vector_guided_softmax():
    pos = RNG.uniform(-1, 1, (6, 1)).astype(np.float32)
    neg = RNG.uniform(-1, 1, (6, 4)).astype(np.float32)
    check(lambda p, n: support_vector_guided_softmax_loss(p, n, 0.1, 2.0, 1.5, WEIGHTS[:6]),
          lambda p, n: np_svg_softmax(p, n, 0.1, 2.0, 1.5, WEIGHTS[:6]), [pos, neg])


def test_softmax_with_negative_mining_two_samples():
    """With a batch of 2 the only shift is 1: the loss is deterministic."""
    user = RNG.normal(0, 1, (2, 3)).astype(np.float32)
    item = RNG.normal(0, 1, (2, 3)).astype(np.float32)
    config = SoftmaxCrossEntropyWithNegativeMining(1, margin=0.1, gamma=3.0,
                                                   coefficient_of_support_vector=1.5)
    labels = np.array([1.0, 1.0], np.float32)
    check(lambda u, i: build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", labels, (u, i),
                                  loss_param=config, sample_weight=[2.0, 0.5]),
          lambda u, i: np_negative_mining(labels, u, i, [1], 0.1, 3.0, 1.5, [2.0, 0.5]),
          [user, item])


def test_softmax_with_negative_mining_uses_other_samples_items():
    """Batch 5, 3 negatives: the value is that of some shifts in [1, 5)."""
    user = RNG.normal(0, 1, (5, 3)).astype(np.float32)
    item = RNG.normal(0, 1, (5, 3)).astype(np.float32)
    labels = np.array([1, 0, 1, 1, 0], np.float32)
    loss = build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", labels, (user, item),
                      num_negative_samples=3, margin=0.05, coefficient_of_support_vector=1.2)
    candidates = np.array([np_negative_mining(labels, user.astype(np.float64),
                                              item.astype(np.float64), shifts, 0.05, 1.0, 1.2)
                           for shifts in itertools.product(range(1, 5), repeat=3)])
    with tf.compat.v1.Session() as sess:
        for _ in range(5):
            assert np.min(np.abs(candidates - sess.run(loss))) < 1e-5


def test_softmax_with_negative_mining_needs_more_samples_than_negatives():
    loss = build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", [1.0, 0.0],
                      (EMBEDDINGS[:2], EMBEDDINGS[2:4]), num_negative_samples=2)
    with tf.compat.v1.Session() as sess, \
            pytest.raises(tf.errors.InvalidArgumentError, match="num_negative_samples"):
        sess.run(loss)


# ---- several losses -----------------------------------------------------------------

def test_weighted_sum_of_losses():
    losses = [Loss("F1_REWEIGHTED_LOSS", 1.0, f1_reweighted_loss=F1ReweighedLoss(0.5625)),
              Loss("PAIR_WISE_LOSS", 0.5, pairwise_loss=PairwiseLoss(0.2, "user")),
              Loss("CLASSIFICATION", 2.0),
              Loss("PAIR_WISE_LOSS", 0.25)]
    x = tf.constant(LOGITS)
    summed = build_losses(losses, LABELS, x, sample_weight=WEIGHTS,
                          session_ids={"user": SESSIONS})
    assert list(summed.terms) == ["f1_reweighted_loss", "pair_wise_loss", "classification",
                                  "pair_wise_loss_1"]
    assert not tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)

    def reference(logits):
        return (np_f1(LABELS, logits, 0.5625, 0.0, WEIGHTS)
                + 0.5 * np_pairwise(LABELS, logits, 0.2, SESSIONS, WEIGHTS)
                + 2.0 * weighted_mean(sigmoid_xent(LABELS, logits), WEIGHTS)
                + 0.25 * np_pairwise(LABELS, logits, 0.0, None, WEIGHTS))

    total, (grad,) = value_and_gradients(summed.total, [x])
    with tf.compat.v1.Session() as sess:
        terms = sess.run(summed.terms)
    np.testing.assert_allclose(total, reference(LOGITS.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(total, sum(terms.values()), rtol=1e-6)
    np.testing.assert_allclose(terms["classification"],
                               2.0 * weighted_mean(sigmoid_xent(LABELS, LOGITS), WEIGHTS),
                               rtol=1e-5)
    np.testing.assert_allclose(grad, numeric_gradient(reference, LOGITS), rtol=2e-4, atol=2e-6)


def test_loss_defaults_are_easyrec_defaults():
    assert Loss("PAIR_WISE_LOSS").weight == 1.0
    assert Loss("PAIR_WISE_LOSS").loss_param == PairwiseLoss(margin=0.0, session_name="")
    assert Loss("F1_REWEIGHTED_LOSS").loss_param == F1ReweighedLoss(1.0, 0.0)
    assert Loss("CIRCLE_LOSS").loss_param == CircleLoss(margin=0.25, gamma=32.0)
    assert Loss("MULTI_SIMILARITY_LOSS").loss_param == MultiSimilarityLoss(2.0, 50.0, 1.0, 0.1)
    assert SoftmaxCrossEntropyWithNegativeMining(4) == SoftmaxCrossEntropyWithNegativeMining(
        4, margin=0.0, gamma=1.0, coefficient_of_support_vector=1.0)
    assert Loss("L2_LOSS").loss_param is None


# ---- errors ----------------------------------------------------------------------------

@pytest.mark.parametrize("call,error,match", [
    (lambda: build_loss("FOCAL", LABELS, LOGITS), ValueError,
     "unknown loss_type 'FOCAL'.*PAIR_WISE"),
    (lambda: build_loss("F1_REWEIGHTED_LOSS", LABELS, CLASS_LOGITS), ValueError,
     r"logits must have shape \[batch\] or \[batch, 1\]"),
    (lambda: build_loss("L2_LOSS", LABELS[:5], LOGITS), ValueError,
     "labels and predictions must have the same shape"),
    (lambda: build_loss("CLASSIFICATION", LABELS, LOGITS, sample_weight=WEIGHTS[:3]), ValueError,
     "sample_weight must be a scalar or have one value per sample"),
    (lambda: build_loss("CLASSIFICATION", LABELS, CLASS_LOGITS, num_class=3), TypeError,
     "labels must be integer class ids"),
    (lambda: build_loss("CLASSIFICATION", CLASSES, CLASS_LOGITS, num_class=4), ValueError,
     r"logits must have shape \[batch, num_class=4\]"),
    (lambda: build_loss("F1_REWEIGHTED_LOSS", LABELS, LOGITS, f1_beta_square=0.0), ValueError,
     "f1_beta_square must be a finite number > 0, got 0.0"),
    (lambda: build_loss("F1_REWEIGHTED_LOSS", LABELS, LOGITS, label_smoothing=1.5), ValueError,
     r"label_smoothing must be in \[0, 1\]"),
    (lambda: build_loss("CIRCLE_LOSS", EMB_LABELS, EMBEDDINGS, gamma=-1.0), ValueError,
     "gamma must be a finite number > 0"),
    (lambda: build_loss("MULTI_SIMILARITY_LOSS", EMB_LABELS, EMBEDDINGS, alpha=float("nan")),
     ValueError, "alpha must be a finite number > 0"),
    (lambda: build_loss("PAIR_WISE_LOSS", LABELS, LOGITS, marign=0.1), TypeError,
     "unknown PAIR_WISE_LOSS parameter.*marign.*margin, session_name"),
    (lambda: build_loss("L2_LOSS", LABELS, LOGITS, margin=0.1), TypeError,
     "L2_LOSS takes no parameters"),
    (lambda: build_loss("L2_LOSS", LABELS, LOGITS, session_ids=SESSIONS), TypeError,
     "L2_LOSS does not take session_ids"),
    (lambda: build_loss("CIRCLE_LOSS", EMB_LABELS, EMBEDDINGS, sample_weight=WEIGHTS), TypeError,
     "CIRCLE_LOSS does not take sample_weight"),
    (lambda: build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", LABELS, EMBEDDINGS),
     ValueError, "needs num_negative_samples"),
    (lambda: build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", LABELS, EMBEDDINGS,
                        num_negative_samples=2), TypeError, r"\(user_emb, item_emb\)"),
    (lambda: build_loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", LABELS,
                        (EMBEDDINGS, EMBEDDINGS), num_negative_samples=0), ValueError,
     r"num_negative_samples must be in \[1, inf\]"),
    (lambda: build_loss("CIRCLE_LOSS", EMB_LABELS, EMBEDDINGS, loss_param=PairwiseLoss()),
     TypeError, r"CIRCLE_LOSS takes loss_param=CircleLoss\(...\)"),
    (lambda: build_loss("CIRCLE_LOSS", EMB_LABELS, LOGITS), ValueError,
     r"embeddings must have shape \[batch, dim\]"),
    (lambda: Loss("PAIR_WISE_LOSS", weight=-1.0), ValueError,
     "weight must be a finite number >= 0"),
    (lambda: Loss("PAIR_WISE_LOSS", circle_loss=CircleLoss()), ValueError,
     "`circle_loss` does not go with loss_type PAIR_WISE_LOSS.*`pairwise_loss`"),
    (lambda: Loss("L2_LOSS", pairwise_loss=PairwiseLoss()), ValueError,
     "does not go with loss_type L2_LOSS.*none"),
    (lambda: Loss("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING"), ValueError,
     "needs num_negative_samples.*softmax_loss"),
    (lambda: build_losses(Loss("L2_LOSS"), LABELS, LOGITS), TypeError,
     "losses must be a non-empty list of Loss"),
    (lambda: build_losses([Loss("PAIR_WISE_LOSS", pairwise_loss=PairwiseLoss(session_name="u"))],
                          LABELS, LOGITS, session_ids={"user": SESSIONS}), ValueError,
     "session_name 'u' is not a key of session_ids.*user"),
])
def test_errors_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()
