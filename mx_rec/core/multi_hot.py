"""Multi-hot lookups: several ids per sample, combined into one row per sample.

sparse_lookup(table, ids, combiner=..., weights=...) with 2-D tf.SparseTensor
or tf.RaggedTensor ids looks up their values (a 1-D batch of keys, through the
ordinary lookup: dedup, tiers, admission) and combines each sample's rows as
tf.nn.safe_embedding_lookup_sparse does on a dense table:

  sum:   sum_i w_i * row_i
  mean:  sum_i w_i * row_i / sum_i w_i
  sqrtn: sum_i w_i * row_i / sqrt(sum_i w_i ** 2)

(w_i = 1 without weights). A sample without ids gives zeros. For mean and
sqrtn, entries of weight <= 0 count as absent, as TF prunes them: they add
nothing to the result or its normaliser, and their keys take no update from
them. The differences from TF: ids < 0 are keys like any other (TF drops
them), and every id present is looked up (in training: inserted and counted
by feature admission), also one whose weight makes it count as absent.
"""

import tensorflow as tf

COMBINERS = ("sum", "mean", "sqrtn")
_KINDS = (tf.SparseTensor, tf.compat.v1.SparseTensorValue, tf.RaggedTensor)


def kind(value):
    """What value is, for messages: "SparseTensor", "RaggedTensor", "dense tensor", ..."""
    return "dense tensor" if tf.is_tensor(value) and not is_multi_hot(value) \
        else type(value).__name__


def is_multi_hot(ids):
    """Whether ids are a SparseTensor (or its value) or a RaggedTensor."""
    return isinstance(ids, _KINDS)


def key_values(ids, feature):
    """The 1-D ids whose keys a lookup of `ids` reads: the values of 2-D
    sparse/ragged ids, dense ids as they are. `feature` names them in errors."""
    if not is_multi_hot(ids):
        return ids
    return _as_multi_hot(ids, f"feature '{feature}'").values


class MultiHot:
    """2-D sparse or ragged ids (and their weights) of one lookup.

    values: the 1-D ids looked up, in the ids' order.
    row_ids: the sample (row) of each value.
    n_rows: number of samples (the result's first dimension).
    weights: float32 per value, or None (all 1).
    combiner: "sum", "mean" or "sqrtn".
    """

    def __init__(self, ids, combiner, weights, lookup):
        ids = _as_multi_hot(ids, f"lookup '{lookup}'")
        self.combiner = "mean" if combiner is None else combiner
        self.values = ids.values
        if isinstance(ids, tf.SparseTensor):
            self.row_ids, self.n_rows = ids.indices[:, 0], ids.dense_shape[0]
        else:
            self.row_ids, self.n_rows = ids.value_rowids(), ids.nrows()
        self._static_rows = ids.shape[0]
        self.weights = None if weights is None else _weight_values(ids, weights, lookup)
        if self.weights is not None and self.combiner != "sum":
            # TF prunes entries of weight <= 0 unless it sums.
            self.weights = tf.where(self.weights > 0, self.weights, tf.zeros_like(self.weights))

    def trained(self, keys):
        """bool [unique keys of `keys`]: the keys that take an update, when some
        may not (a weighted mean/sqrtn lookup: keys whose every entry has weight
        <= 0); None when all do. keys: the KeyBatch of self.values."""
        if self.weights is None or self.combiner == "sum":
            return None
        positive = tf.cast(self.weights > 0, tf.int32)
        return tf.math.unsorted_segment_max(positive, keys.restore, tf.size(keys.unique)) > 0

    def check_keys(self, keys, lookup):
        """An op failing the step when a KeyBatch from the key pipeline does not
        cover self.values (its dataset gave the feature another value)."""
        return tf.debugging.assert_equal(
            tf.size(keys.restore), tf.size(self.values),
            message=f"lookup '{lookup}': the key pipeline's keys do not match the batch's ids "
                    "(the feature changed after get_asc_insert_func ran)")

    def combine(self, rows):
        """[n_rows, dim] from the rows of self.values ([n_values, dim])."""
        weights = self.weights
        if weights is not None:
            rows *= weights[:, None]
        total = tf.math.unsorted_segment_sum(rows, self.row_ids, self.n_rows)
        if self.combiner != "sum":
            if weights is None:
                weights = tf.ones_like(self.values, tf.float32)
            norm = weights if self.combiner == "mean" else tf.square(weights)
            norm = tf.math.unsorted_segment_sum(norm, self.row_ids, self.n_rows)
            if self.combiner == "sqrtn":
                norm = tf.sqrt(norm)
            total = tf.math.divide_no_nan(total, norm[:, None])
        total.set_shape([self._static_rows, rows.shape[1]])
        return total


def parse(ids, combiner, weights, lookup):
    """A MultiHot of sparse/ragged ids; None for dense ids, which take neither
    a combiner nor weights. `lookup` names the lookup in errors."""
    if combiner is not None and combiner not in COMBINERS:
        raise ValueError(f"lookup '{lookup}': combiner must be one of {', '.join(COMBINERS)} "
                         f"(or None: 'mean' for sparse/ragged ids), got {combiner!r}")
    if is_multi_hot(ids):
        return MultiHot(ids, combiner, weights, lookup)
    for arg, value in (("combiner", combiner), ("weights", weights)):
        if value is not None:
            raise ValueError(
                f"lookup '{lookup}': {arg} applies to multi-hot ids (a 2-D tf.SparseTensor or "
                "tf.RaggedTensor); these ids are dense, one row per id. For a dense [batch, k] "
                "block of ids per sample, pass tf.RaggedTensor.from_tensor(ids, padding=PAD)")
    return None


def _as_multi_hot(ids, where):
    """ids as a SparseTensor / RaggedTensor of rank 2 with integer values.
    `where` starts error messages (e.g. "lookup 'user_tags'")."""
    if isinstance(ids, tf.compat.v1.SparseTensorValue):
        ids = tf.SparseTensor.from_value(ids)
    if ids.dtype not in (tf.int32, tf.int64):
        raise TypeError(f"{where}: {kind(ids)} ids must hold int32 or int64 values, "
                        f"got {ids.dtype.name}")
    rank = ids.shape.rank
    if isinstance(ids, tf.RaggedTensor) and rank is None:
        raise ValueError(f"{where}: the RaggedTensor ids' rank is unknown; multi-hot ids "
                         "must be 2-D ([batch, (ids per sample)])")
    if rank is not None and rank != 2:
        raise ValueError(f"{where}: multi-hot ids must be 2-D ([batch, ids per sample]), got "
                         f"a {rank}-D {kind(ids)}; reshape it to 2-D first (e.g. tf.sparse.reshape "
                         "or RaggedTensor.merge_dims)")
    if rank is None:  # a SparseTensor whose rank is known at run time only
        check = tf.debugging.assert_equal(
            tf.size(ids.dense_shape), 2, message=f"{where}: multi-hot ids must be a 2-D "
                                                 "SparseTensor")
        with tf.control_dependencies([check]):
            ids = tf.SparseTensor(ids.indices, tf.identity(ids.values), ids.dense_shape)
    return ids


def _weight_values(ids, weights, lookup):
    """float32 [n_values]: weights of the same kind and layout as ids."""
    if isinstance(weights, tf.compat.v1.SparseTensorValue):
        weights = tf.SparseTensor.from_value(weights)
    if type(weights) is not type(ids):  # pylint: disable=unidiomatic-typecheck
        raise TypeError(f"lookup '{lookup}': weights must be a {kind(ids)} like the ids (same "
                        f"indices), got {kind(weights)}")
    if not weights.dtype.is_floating:
        raise TypeError(f"lookup '{lookup}': weights must be floating point, "
                        f"got {weights.dtype.name}")
    if isinstance(ids, tf.SparseTensor):
        pairs = [("indices", ids.indices, weights.indices),
                 ("dense_shape", ids.dense_shape, weights.dense_shape)]
    else:
        if weights.ragged_rank != ids.ragged_rank:
            raise ValueError(f"lookup '{lookup}': weights must be a 2-D RaggedTensor like the "
                             f"ids, got ragged_rank {weights.ragged_rank}")
        pairs = [("row_splits", ids.row_splits, weights.row_splits)]
    checks = []
    for field, of_ids, of_weights in pairs:
        if not of_ids.shape.is_compatible_with(of_weights.shape):
            raise ValueError(f"lookup '{lookup}': weights.{field} must equal the ids' "
                             f"{field}; shapes {of_ids.shape} and {of_weights.shape} differ")
        message = f"lookup '{lookup}': weights.{field} must equal the ids' {field}"
        same_shape = tf.debugging.assert_equal(tf.shape(of_ids), tf.shape(of_weights),
                                               message=message)
        with tf.control_dependencies([same_shape]):
            checks.append(tf.debugging.assert_equal(
                tf.cast(of_ids, tf.int64), tf.cast(of_weights, tf.int64), message=message))
    with tf.control_dependencies(checks):
        return tf.cast(tf.identity(weights.values), tf.float32)
