"""Feature admission and eviction (FAAE) settings of tables and lookups.

Thresholds belong to the table (libasc keeps one count and one last-seen time
per key); every feature or lookup naming thresholds for a table must agree.
The coefficient belongs to the feature: a table's key counts grow by
occurrences x faae_coefficient of the feature that saw them.

Semantics:
  access_threshold    a key is admitted once its weighted count reaches it
                      (>= access_threshold); before that its lookups read the
                      table's default value, it gets no row and no update.
  eviction_threshold  a key whose last-seen time is more than this many time
                      units before the table's latest time is removed from
                      every tier when eviction runs (EvictHook). Time units are
                      the batch timestamp's (seconds) with a timestamp
                      feature, else global steps.
"""

import dataclasses
from typing import Optional

import tensorflow as tf

from mx_rec.core.asc.key_batch import PIPELINE_PREFIX
from mx_rec.util.validation import check_int

_MAX_THRESHOLD = 2**62
_MAX_COEFFICIENT = 2**31 - 1
# Entry of a batch dict holding the batch's timestamp (max of the timestamp feature).
TIME_ENTRY = f"{PIPELINE_PREFIX}/timestamp"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    access_threshold: int
    eviction_threshold: Optional[int]


def op_attrs(thresholds):
    """The access_threshold / eviction_threshold attrs of table ops for
    `thresholds` (None: no admission, both 0)."""
    if thresholds is None:
        return dict(access_threshold=0, eviction_threshold=0)
    return dict(access_threshold=thresholds.access_threshold,
                eviction_threshold=thresholds.eviction_threshold or 0)


def check_thresholds(access_threshold, eviction_threshold, faae_coefficient):
    """Validated (Thresholds or None, coefficient); ValueError/TypeError naming the argument."""
    coefficient = check_int("faae_coefficient", faae_coefficient, 1, _MAX_COEFFICIENT)
    if access_threshold is None:
        if eviction_threshold is not None:
            raise ValueError("eviction_threshold needs access_threshold: set access_threshold "
                             f"(in [1, {_MAX_THRESHOLD}]) too, e.g. 1 to admit every key")
        return None, coefficient
    access = check_int("access_threshold", access_threshold, 1, _MAX_THRESHOLD)
    evict = None if eviction_threshold is None else \
        check_int("eviction_threshold", eviction_threshold, 1, _MAX_THRESHOLD)
    return Thresholds(access, evict), coefficient


def from_config(config):
    """(Thresholds or None, coefficient) from sparse_lookup's access_and_evict_config."""
    if config is None:
        return None, 1
    if not isinstance(config, dict):
        raise TypeError("access_and_evict_config must be a dict with keys access_threshold, "
                        f"eviction_threshold, faae_coefficient; got {config!r}")
    allowed = {"access_threshold", "eviction_threshold", "faae_coefficient"}
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"access_and_evict_config: unknown keys {sorted(unknown)}; allowed: "
                         f"{sorted(allowed)}")
    thresholds, coefficient = check_thresholds(config.get("access_threshold"),
                                               config.get("eviction_threshold"),
                                               config.get("faae_coefficient", 1))
    if thresholds is None:
        raise ValueError("access_and_evict_config needs access_threshold "
                         f"(in [1, {_MAX_THRESHOLD}])")
    return thresholds, coefficient


def configure_table(table, thresholds):
    """Turns admission on for `table` with `thresholds`; same again is a no-op.
    (The thresholds reach libasc as attrs of the table's lookup and eviction ops.)"""
    have = table.thresholds
    if have is not None and have != thresholds:
        raise ValueError(
            f"table '{table.name}' already uses access_threshold={have.access_threshold}, "
            f"eviction_threshold={have.eviction_threshold}; a feature or lookup of it asks for "
            f"access_threshold={thresholds.access_threshold}, "
            f"eviction_threshold={thresholds.eviction_threshold}: thresholds are per table")
    table.thresholds = thresholds


@dataclasses.dataclass(frozen=True)
class FeatureAccess:
    """What a training lookup on an FAAE table passes to AscLookup."""

    coefficient: int
    time: tf.Tensor  # int64 scalar; < 0: the table counts its own steps


def lookup_time(batch=None):
    """The time of this step: the batch timestamp if the pipeline added one,
    else the global step if the graph has one, else -1 (libasc counts steps)."""
    if isinstance(batch, dict) and TIME_ENTRY in batch:
        return tf.cast(batch[TIME_ENTRY], tf.int64)
    step = tf.compat.v1.train.get_global_step()
    if step is not None:
        return tf.cast(step, tf.int64)
    return tf.constant(-1, tf.int64)
