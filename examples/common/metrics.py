"""Exact ROC AUC and log loss in numpy (ties get their average rank)."""
import numpy as np


def roc_auc(labels, scores):
    labels = np.asarray(labels).ravel() > 0.5
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes (pos=%d, neg=%d)"
                         % (n_pos, n_neg))
    _, inverse, counts = np.unique(scores, return_inverse=True,
                                   return_counts=True)
    # 1-based rank of each distinct score, averaged over its ties.
    avg_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = avg_rank[inverse]
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0)
                 / (n_pos * n_neg))


def log_loss(labels, probs, eps=1e-7):
    labels = np.asarray(labels, dtype=np.float64).ravel()
    probs = np.clip(np.asarray(probs, dtype=np.float64).ravel(), eps, 1 - eps)
    return float(-np.mean(labels * np.log(probs)
                          + (1 - labels) * np.log(1 - probs)))
