"""build_loss and build_losses: EasyRec's `loss_type` and repeated `losses`
configuration on mx_rec's loss functions."""

import collections
import dataclasses
from collections.abc import Callable, Sequence
from typing import NamedTuple

import tensorflow as tf

from mx_rec.losses import metric_learning, negative_mining, pairwise, pointwise
from mx_rec.losses.f1_reweighted import F1ReweighedLoss, f1_reweighted_loss
from mx_rec.losses.metric_learning import CircleLoss, MultiSimilarityLoss
from mx_rec.losses.negative_mining import SoftmaxCrossEntropyWithNegativeMining
from mx_rec.losses.pairwise import PairwiseLoss
from mx_rec.util.validation import check_real


@dataclasses.dataclass(frozen=True)
class _LossSpec:
    """How build_loss runs one loss type."""

    compute: Callable  # (labels, predictions, param, **inputs) -> scalar loss
    inputs: tuple[str, ...]  # the optional inputs (build_loss keywords) it reads
    param_class: type | None = None  # its parameters' class; None: it has none
    param_field: str = ""  # the Loss field (EasyRec's oneof loss_param) holding them


def _user_item(predictions):
    """(user_emb, item_emb) from the predictions of the negative-mining loss."""
    if not isinstance(predictions, (tuple, list)) or len(predictions) != 2:
        raise TypeError("SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING takes predictions = "
                        f"(user_emb, item_emb), got {predictions!r}")
    return predictions


_SPECS = {
    "CLASSIFICATION": _LossSpec(
        lambda y, p, _, **kw: pointwise.classification_loss(y, p, **kw),
        ("num_class", "sample_weight")),
    "L2_LOSS": _LossSpec(lambda y, p, _, **kw: pointwise.l2_loss(y, p, **kw), ("sample_weight",)),
    "SIGMOID_L2_LOSS": _LossSpec(lambda y, p, _, **kw: pointwise.sigmoid_l2_loss(y, p, **kw),
                                 ("sample_weight",)),
    "CROSS_ENTROPY_LOSS": _LossSpec(
        lambda y, p, _, **kw: pointwise.cross_entropy_loss(y, p, **kw), ("sample_weight",)),
    "CIRCLE_LOSS": _LossSpec(
        lambda y, p, c, **kw: metric_learning.circle_loss(y, p, c.margin, c.gamma, **kw),
        ("session_ids", "embed_normed"), CircleLoss, "circle_loss"),
    "MULTI_SIMILARITY_LOSS": _LossSpec(
        lambda y, p, c, **kw: metric_learning.multi_similarity_loss(
            y, p, **dataclasses.asdict(c), **kw),
        ("session_ids", "embed_normed"), MultiSimilarityLoss, "multi_simi_loss"),
    "SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING": _LossSpec(
        lambda y, p, c, **kw: negative_mining.softmax_loss_with_negative_mining(
            y, *_user_item(p), **dataclasses.asdict(c), **kw),
        ("embed_normed", "sample_weight"), SoftmaxCrossEntropyWithNegativeMining, "softmax_loss"),
    "PAIR_WISE_LOSS": _LossSpec(
        lambda y, p, c, **kw: pairwise.pairwise_loss(y, p, c.margin, **kw),
        ("session_ids", "sample_weight"), PairwiseLoss, "pairwise_loss"),
    "F1_REWEIGHTED_LOSS": _LossSpec(
        lambda y, p, c, **kw: f1_reweighted_loss(y, p, c.f1_beta_square, c.label_smoothing, **kw),
        ("sample_weight",), F1ReweighedLoss, "f1_reweighted_loss"),
}

LOSS_TYPES = tuple(_SPECS)
"""EasyRec loss_type names that mx_rec implements."""


def loss_spec(loss_type):
    """The _LossSpec of an EasyRec loss type name; errors list the supported ones."""
    if not isinstance(loss_type, str):
        raise TypeError(f"loss_type must be a loss type name, got {loss_type!r}")
    if loss_type not in _SPECS:
        raise ValueError(f"unknown loss_type {loss_type!r}; mx_rec implements "
                         f"{', '.join(LOSS_TYPES)}")
    return _SPECS[loss_type]


def resolve_param(loss_type, loss_param=None, params=None):
    """The parameters `loss_type` runs with: loss_param, or its class built
    from `params` (keywords), or its defaults; None for a loss without any."""
    spec, params = loss_spec(loss_type), params or {}
    if spec.param_class is None:
        if loss_param is not None or params:
            raise TypeError(f"{loss_type} takes no parameters, got "
                            f"{loss_param if loss_param is not None else params!r}")
        return None
    if loss_param is not None:
        if params:
            raise TypeError("give loss_param or the parameters as keywords, not both")
        if not isinstance(loss_param, spec.param_class):
            raise TypeError(f"{loss_type} takes loss_param={spec.param_class.__name__}(...), "
                            f"got {loss_param!r}")
        return loss_param
    fields = dataclasses.fields(spec.param_class)
    unknown = sorted(set(params) - {f.name for f in fields})
    if unknown:
        raise TypeError(f"unknown {loss_type} parameter(s) {', '.join(unknown)}; its parameters "
                        f"are {', '.join(f.name for f in fields)}")
    missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in params]
    if missing:
        raise ValueError(f"{loss_type} needs {', '.join(missing)} (config block "
                         f"`{spec.param_field}`)")
    return spec.param_class(**params)


def build_loss(loss_type, labels, predictions, *, sample_weight=None, num_class=None,
               session_ids=None, embed_normed=None, loss_param=None, **params):
    """The scalar loss `loss_type` (an EasyRec loss type name) of one batch.

    What `predictions` holds, per loss type:
      CLASSIFICATION: logits, [batch] (num_class 1: sigmoid cross entropy) or
        [batch, num_class] (num_class > 1: softmax cross entropy, integer labels).
      L2_LOSS: the predicted values, [batch]: mean squared error.
      SIGMOID_L2_LOSS: logits, [batch]: mean squared error of their sigmoid.
      CROSS_ENTROPY_LOSS: probabilities, [batch]: log loss.
      PAIR_WISE_LOSS, F1_REWEIGHTED_LOSS: logits, [batch].
      CIRCLE_LOSS, MULTI_SIMILARITY_LOSS: embeddings, [batch, dim].
      SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING: (user_emb, item_emb), each
        [batch, dim].
    [batch, 1] is accepted wherever [batch] is. labels: [batch].

    Optional inputs (None: not given); a loss that does not read one it is
    given raises TypeError:
      sample_weight: a scalar or one weight per sample; every loss but
        CIRCLE_LOSS and MULTI_SIMILARITY_LOSS.
      num_class: CLASSIFICATION only, default 1.
      session_ids: [batch] session ids; PAIR_WISE_LOSS, CIRCLE_LOSS and
        MULTI_SIMILARITY_LOSS then pair samples of one session only.
      embed_normed: the embeddings are already L2-normalised (default
        False); CIRCLE_LOSS, MULTI_SIMILARITY_LOSS and
        SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING.

    Parameters: loss_param (its class: PairwiseLoss, F1ReweighedLoss,
    CircleLoss, MultiSimilarityLoss, SoftmaxCrossEntropyWithNegativeMining),
    or their fields as keywords, e.g. f1_beta_square=0.5625; unset fields
    take EasyRec's defaults.

    Example:
      loss = build_loss("F1_REWEIGHTED_LOSS", labels, logits, f1_beta_square=0.5625)
    """
    spec = loss_spec(loss_type)
    param = resolve_param(loss_type, loss_param, params)
    given = {name: value for name, value in (("sample_weight", sample_weight),
                                             ("num_class", num_class),
                                             ("session_ids", session_ids),
                                             ("embed_normed", embed_normed))
             if value is not None}
    unread = [name for name in given if name not in spec.inputs]
    if unread:
        raise TypeError(f"{loss_type} does not take {', '.join(unread)}; its optional inputs are "
                        f"{', '.join(spec.inputs)}")
    with tf.compat.v1.name_scope(loss_type.lower()):
        return spec.compute(labels, predictions, param, **given)


_PARAM_FIELDS = tuple(spec.param_field for spec in _SPECS.values() if spec.param_field)


@dataclasses.dataclass(frozen=True)
class Loss:
    """One entry of EasyRec's repeated `losses` (message Loss).

    loss_type: a name in LOSS_TYPES. Required.
    weight: the loss's factor in the sum, a finite number >= 0. Default 1.
    f1_reweighted_loss, softmax_loss, circle_loss, multi_simi_loss,
      pairwise_loss: the parameters of the matching loss type (at most one,
      EasyRec's oneof loss_param); unset: that type's defaults.
      SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING needs softmax_loss.
    """

    loss_type: str
    weight: float = 1.0
    f1_reweighted_loss: F1ReweighedLoss | None = None
    softmax_loss: SoftmaxCrossEntropyWithNegativeMining | None = None
    circle_loss: CircleLoss | None = None
    multi_simi_loss: MultiSimilarityLoss | None = None
    pairwise_loss: PairwiseLoss | None = None

    def __post_init__(self):
        spec = loss_spec(self.loss_type)
        check_real("weight", self.weight, lambda v: v >= 0, "a finite number >= 0")
        given = [name for name in _PARAM_FIELDS if getattr(self, name) is not None]
        if len(given) > 1:
            raise ValueError(f"a Loss takes at most one parameter block, got {', '.join(given)}")
        if given and given[0] != spec.param_field:
            takes = f"`{spec.param_field}`" if spec.param_field else "none"
            raise ValueError(f"`{given[0]}` does not go with loss_type {self.loss_type} "
                             f"(its parameter block: {takes})")
        # A type with required parameters (softmax_loss) fails here, not when built.
        resolve_param(self.loss_type, getattr(self, given[0]) if given else None)

    @property
    def loss_param(self):
        """The parameters this loss runs with (None for a type without any)."""
        spec = loss_spec(self.loss_type)
        return resolve_param(self.loss_type,
                             getattr(self, spec.param_field) if spec.param_field else None)


class WeightedLosses(NamedTuple):
    """total: the training loss, sum of weight * loss; terms: each weighted
    loss by name (its loss_type in lower case, `_<k>` added to the k-th
    repeat of a type), for summaries."""

    total: tf.Tensor
    terms: dict[str, tf.Tensor]


def build_losses(losses, labels, predictions, *, sample_weight=None, num_class=None,
                 session_ids=None, embed_normed=None):
    """The weighted sum of several losses on the same labels and predictions.

    losses: a non-empty sequence of Loss.
    predictions: what every loss reads (see build_loss), or a function
      loss_type -> that loss's predictions, for losses that read different
      ones (CROSS_ENTROPY_LOSS probabilities beside CLASSIFICATION logits).
    sample_weight, num_class, embed_normed: as in build_loss, handed to each
      loss that reads them.
    session_ids: None or a mapping {column name: [batch] tensor}; a
      PAIR_WISE_LOSS whose pairwise_loss.session_name is set pairs samples
      within the sessions of that column.
    """
    if isinstance(losses, (Loss, str)) or not isinstance(losses, Sequence) or not losses:
        raise TypeError(f"losses must be a non-empty list of Loss, got {losses!r}")
    terms, repeats = {}, collections.Counter()
    for loss in losses:
        if not isinstance(loss, Loss):
            raise TypeError(f"losses must hold Loss entries, got {loss!r}")
        spec = loss_spec(loss.loss_type)
        shared = {"sample_weight": sample_weight, "num_class": num_class,
                  "embed_normed": embed_normed,
                  "session_ids": _named_session_ids(loss.loss_param, session_ids)}
        inputs = {name: value for name, value in shared.items() if name in spec.inputs}
        read = predictions(loss.loss_type) if callable(predictions) else predictions
        value = build_loss(loss.loss_type, labels, read, loss_param=loss.loss_param, **inputs)
        name = loss.loss_type.lower()
        repeats[name] += 1
        if repeats[name] > 1:
            name = f"{name}_{repeats[name] - 1}"
        terms[name] = loss.weight * value
    return WeightedLosses(tf.add_n(list(terms.values()), name="total_loss"), terms)


def _named_session_ids(param, session_ids):
    """The session ids column a loss's parameters name, or None."""
    name = getattr(param, "session_name", "")
    if not name:
        return None
    if session_ids is None or name not in session_ids:
        available = ", ".join(sorted(session_ids or ())) or "none"
        raise ValueError(f"pairwise_loss.session_name '{name}' is not a key of session_ids "
                         f"(given: {available})")
    return session_ids[name]
