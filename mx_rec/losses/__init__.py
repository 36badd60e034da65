"""Losses with EasyRec's loss types, definitions and parameter defaults.

build_loss(loss_type, labels, predictions, ...) computes one loss;
build_losses(losses, ...) the weighted sum of EasyRec's repeated `losses`
(Loss entries). The families, each usable on its own:
  pointwise: CLASSIFICATION, L2_LOSS, SIGMOID_L2_LOSS, CROSS_ENTROPY_LOSS
  pairwise: PAIR_WISE_LOSS
  f1_reweighted: F1_REWEIGHTED_LOSS
  metric_learning: CIRCLE_LOSS, MULTI_SIMILARITY_LOSS
  negative_mining: SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING
"""

from mx_rec.losses.builder import (  # noqa: F401
    LOSS_TYPES, Loss, WeightedLosses, build_loss, build_losses)
from mx_rec.losses.f1_reweighted import F1ReweighedLoss  # noqa: F401
from mx_rec.losses.metric_learning import CircleLoss, MultiSimilarityLoss  # noqa: F401
from mx_rec.losses.negative_mining import SoftmaxCrossEntropyWithNegativeMining  # noqa: F401
from mx_rec.losses.pairwise import PairwiseLoss  # noqa: F401
