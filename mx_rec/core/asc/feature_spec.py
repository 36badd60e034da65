"""FeatureSpec: one ID feature of the input batches, and how its keys are admitted."""

from mx_rec.core.asc import admission
from mx_rec.util.validation import check_bool, check_int


class FeatureSpec:
    """Describes one feature of a batch dict for the key pipeline.

    Args:
      name: the feature's name, unique among the specs of one insert function.
      table_name: the table the feature is looked up in (checked by
        sparse_lookup when given).
      index_key: the batch dict entry holding the feature's ids; defaults to
        `name`.
      access_threshold: admit a key once its weighted occurrence count reaches
        this (see core/asc/admission.py); None: every key is admitted.
      eviction_threshold: remove keys not seen for more than this many time
        units (seconds with a timestamp feature, else global steps) when
        EvictHook runs; needs access_threshold.
      is_timestamp: this feature is the batch's int timestamp in seconds (a
        scalar or one value per sample; the batch's time is its maximum). It
        is not looked up.
      batch_size: samples per batch, when known (informational).
      faae_coefficient: weight of one occurrence of this feature's keys in
        their table's counts, >= 1.
    """

    def __init__(self, name, table_name=None, index_key=None, access_threshold=None,
                 eviction_threshold=None, is_timestamp=None, batch_size=None,
                 faae_coefficient=1):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        for arg, value in (("table_name", table_name), ("index_key", index_key)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{arg} must be a non-empty string or None, got {value!r}")
        self.name = name
        self.table_name = table_name
        self.index_key = index_key or name
        self.is_timestamp = bool(is_timestamp) if is_timestamp is None else \
            check_bool("is_timestamp", is_timestamp)
        if self.is_timestamp and (access_threshold is not None or eviction_threshold is not None):
            raise ValueError(f"feature '{name}': a timestamp feature (is_timestamp=True) takes no "
                             "access_threshold / eviction_threshold")
        self.batch_size = None if batch_size is None else check_int("batch_size", batch_size, 1)
        self.thresholds, self.faae_coefficient = admission.check_thresholds(
            access_threshold, eviction_threshold, faae_coefficient)

    @property
    def access_threshold(self):
        return self.thresholds.access_threshold if self.thresholds else None

    @property
    def eviction_threshold(self):
        return self.thresholds.eviction_threshold if self.thresholds else None

    def __repr__(self):
        return (f"FeatureSpec(name={self.name!r}, table_name={self.table_name!r}, "
                f"index_key={self.index_key!r}, access_threshold={self.access_threshold}, "
                f"eviction_threshold={self.eviction_threshold}, is_timestamp={self.is_timestamp}, "
                f"faae_coefficient={self.faae_coefficient})")
