"""Public table API: create_table() and sparse_lookup(), named as in mxRec."""

import numbers
import os
import re

import numpy as np
import tensorflow as tf

from mx_rec.core import lookup, multi_hot
from mx_rec.core.asc import admission, key_batch, pending
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.key_batch import dedup_keys, pad_to
from mx_rec.core.sparse_table import SparseTable
from mx_rec.export import serving
from mx_rec.libasc import _libasc
from mx_rec.util import tf_internals
from mx_rec.util.initialize import get_config
from mx_rec.util.validation import check_bool, check_int

_KEY_DTYPES = (tf.int32, tf.int64)
# Device rows hot_embedding=True may pin when hot_vocabulary_size is not given.
# bench/hot_bench.py on Zipf ids (BENCHMARKS.md): swaps -6/-12/-16/-18% at
# 0.25/0.5/0.75/0.9; 0.75 keeps a quarter of the rows for the LRU part.
HOT_DEFAULT_FRACTION = 0.75
# Table names become TF op and variable names (mx_rec/<name>/...).
_NAME_PATTERN = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-]*(/[A-Za-z0-9_.][A-Za-z0-9_.\-]*)*")
# Largest send_count (unique ids of one lookup in static-shape mode): its
# padded keys, and the initial-row block some initializers draw, are
# allocated every step.
MAX_SEND_COUNT = 2**22


def _check_graph_mode(what):
    if tf.executing_eagerly():
        raise RuntimeError(f"{what}: mx_rec tables run in graph mode; call "
                           "tf.compat.v1.disable_eager_execution() first (as in mxRec scripts)")


def _as_key_dtype(key_dtype):
    try:
        dtype = tf.as_dtype(key_dtype)
    except TypeError:
        dtype = None
    if dtype not in _KEY_DTYPES:
        raise TypeError(f"key_dtype must be tf.int32 or tf.int64, got {key_dtype!r}")
    return dtype


def _as_int(name, value):
    """value as a Python int; TypeError naming the argument otherwise. Ranges are
    checked once, by TableOptions.validate()."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if not -2**63 <= value < 2**63:
        raise ValueError(f"{name} must be a 64-bit integer, got {value}")
    return value


def _check_name(name):
    if not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name):
        raise ValueError(
            "name must start with a letter, digit or '.' and hold only letters, digits, '_', "
            f"'.', '-' and '/' between non-empty parts (it names TF ops), got {name!r}")
    return name


def _check_initializer(emb_initializer):
    if emb_initializer is None:
        return tf.compat.v1.truncated_normal_initializer(stddev=0.05)
    if not callable(emb_initializer):
        raise TypeError("emb_initializer must be a TF initializer (callable taking shape and "
                        f"dtype), got {emb_initializer!r}")
    return emb_initializer


def _check_default_value(default_value, dim):
    try:
        value = np.asarray(default_value, dtype=np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"default_value must be a number or a [dim] vector of numbers, got "
                        f"{default_value!r}") from None
    if not np.all(np.isfinite(value)):
        raise ValueError(f"default_value must be finite, got {default_value!r}")
    if value.ndim == 0:
        return np.full([dim], value, np.float32)
    if value.shape != (dim,):
        raise ValueError(f"default_value must be a scalar or have shape [{dim}] (dim), "
                         f"got shape {list(value.shape)}")
    return value


def _ssd_paths(ssd_data_path):
    """ssd_data_path as a list of absolute paths ([] when None); checked by validate()."""
    if ssd_data_path is None:
        return []
    paths = [ssd_data_path] if isinstance(ssd_data_path, (str, os.PathLike)) else ssd_data_path
    try:
        paths = [os.path.abspath(os.fspath(p)) for p in paths]
    except TypeError:
        raise TypeError("ssd_data_path must be a directory path or a list of them, got "
                        f"{ssd_data_path!r}") from None
    if not paths:
        raise ValueError("ssd_data_path must name at least one directory")
    return paths


def _hot_options(hot_embedding, hot_vocabulary_size, hot_refresh_steps, device_vocabulary_size):
    """(hot rows, refresh steps); hot rows 0: hot embedding off. Ranges: validate()."""
    check_bool("hot_embedding", hot_embedding)
    if not hot_embedding:
        for arg, value in (("hot_vocabulary_size", hot_vocabulary_size),
                           ("hot_refresh_steps", hot_refresh_steps)):
            if value is not None:
                raise ValueError(f"{arg} is only used with hot_embedding=True")
        return 0, _libasc.HOT_REFRESH_STEPS
    # Hot keys may take at most device_vocabulary_size - 1 rows (one stays for
    # the rest), so hot embedding needs two device rows.
    if device_vocabulary_size < 2:
        raise ValueError("hot_embedding=True needs device_vocabulary_size >= 2: hot keys may "
                         "take at most device_vocabulary_size - 1 rows")
    if hot_vocabulary_size is None:
        rows = max(1, int(device_vocabulary_size * HOT_DEFAULT_FRACTION))
    else:
        rows = check_int("hot_vocabulary_size", hot_vocabulary_size, 1, device_vocabulary_size - 1)
    refresh = _libasc.HOT_REFRESH_STEPS if hot_refresh_steps is None else \
        _as_int("hot_refresh_steps", hot_refresh_steps)
    return rows, refresh


def create_table(key_dtype, dim, name, emb_initializer=None, device_vocabulary_size=None,
                 host_vocabulary_size=0, ssd_vocabulary_size=0, ssd_data_path=None,
                 default_value=0.0, cache_policy="LRU", hot_embedding=False,
                 hot_vocabulary_size=None, hot_refresh_steps=None):
    """Creates an embedding table whose vocabulary is not fixed in advance.

    Args:
      key_dtype: tf.int64 or tf.int32, the dtype of the ids users feed.
      dim: embedding width, 1..8192.
      name: table name, unique within a graph; letters, digits, '_', '.', '-'
        and '/' (it names the table's TF ops and variables).
      emb_initializer: any TF initializer; new keys' rows are drawn from it
        when the key is first seen in training.
      device_vocabulary_size: rows of the device tier (HBM mode: the whole
        table). Without dynamic expansion (init(use_dynamic_expansion=...))
        inserting more keys is an error naming the table and sizes.
      host_vocabulary_size: rows of the host (DDR) tier. When > 0 the device
        tier becomes a fixed-size LRU cache over all the table's keys (dynamic
        expansion does not apply); rows move between the tiers together with
        their hash optimizer state. Hash optimizers may be created before or
        after the table, as long as it is before the table's first step.
      ssd_vocabulary_size: rows of the SSD tier below the host tier (needs
        host_vocabulary_size > 0). Host rows are demoted to it by LFU when the
        host tier fills, and come back to the device when looked up.
      ssd_data_path: directory (or list of directories, used in order as free
        space runs out) holding the SSD tier's RocksDB files; each table uses
        its own new directory under each (mx_rec_ssd.<name>.XXXXXX), removed
        when the session owning the table closes.
      cache_policy: which device row gives way when a key needs one (DDR/SSD
        modes): "LRU" (least recently used) or "LFU" (least frequently used,
        sampled). Rows used by the current step never give way.
      hot_embedding: DDR/SSD modes: when True, the most looked-up keys are
        pinned in the device tier ("hot"): the cache policy never picks their
        rows, so bursts of rarer keys cannot push them out. A key becomes hot
        when it is looked up with a lookup count (counted since the key was
        first seen, across tiers) at or above a threshold while the hot set
        has room; every hot_refresh_steps steps the threshold is reset to
        the count of the hot_vocabulary_size-th most looked-up key on the
        device, and hot keys below it or not looked up in those steps leave
        the set (not the device). Only when one step needs more rows than the
        other rows can give do hot rows give way, so a step that fits the
        device always runs. Requires host_vocabulary_size > 0. table.stats() reports "hot_keys"
        (current size of the set) and "hot_hits" (looked-up keys found hot);
        mx_rec.core.tier_stats.hit_rates(stats) gives the hot hit rate
        hot_hits / (hits + misses), which add_summaries() writes as
        "hot_hit_rate".
      hot_vocabulary_size: with hot_embedding=True, the most device rows hot
        keys may hold, in [1, device_vocabulary_size - 1]; default
        HOT_DEFAULT_FRACTION (3/4) of device_vocabulary_size. Meant for
        cache_policy="LRU": LFU already keeps frequent keys, so there it saves
        little and slows victim sampling (BENCHMARKS.md).
      hot_refresh_steps: with hot_embedding=True, steps between refreshes of
        the hot set, which is also how long a hot key may go unused, in
        [1, 2**30]; default 300. Shorter follows a changing id distribution
        faster but lets go of keys looked up less often than that.
      default_value: what eval lookups (is_train=False) read for keys the table
        does not hold: a scalar or a [dim] vector.

    Returns:
      A SparseTable to pass to sparse_lookup(). Its state (keys, rows in
      every tier, admission records) belongs to each session that runs it,
      like a variable's value: the global variables initializer empties it.
    """
    _check_graph_mode("create_table")
    config = get_config()
    dtype = _as_key_dtype(key_dtype)
    if device_vocabulary_size is None:
        raise ValueError("device_vocabulary_size is required: the number of device rows, "
                         f"in [1, {_libasc.MAX_CAPACITY}]")
    options = _libasc.TableOptions()
    options.name = _check_name(name)
    options.key_dtype = dtype.name
    options.dim = _as_int("dim", dim)
    options.device_vocabulary_size = _as_int("device_vocabulary_size", device_vocabulary_size)
    options.host_vocabulary_size = _as_int("host_vocabulary_size", host_vocabulary_size)
    options.ssd_vocabulary_size = _as_int("ssd_vocabulary_size", ssd_vocabulary_size)
    options.ssd_data_path = _ssd_paths(ssd_data_path)
    if not isinstance(cache_policy, str):
        raise TypeError(f"cache_policy must be 'LRU' or 'LFU', got {cache_policy!r}")
    options.cache_policy = cache_policy
    options.dynamic_expansion = config.use_dynamic_expansion and not host_vocabulary_size
    options.hot_vocabulary_size, options.hot_refresh_steps = _hot_options(
        hot_embedding, hot_vocabulary_size, hot_refresh_steps, options.device_vocabulary_size)
    options.validate()
    table = SparseTable(options, dtype, _check_initializer(emb_initializer),
                        _check_default_value(default_value, options.dim), config.graph_tables)
    if serving.active() is None:  # an export's graph holds frozen tables only
        table.in_graph()  # its variables exist from now on (unique name per graph)
    config.tables.append(table)
    return table


def sparse_lookup(table, ids, send_count=None, is_train=True, name=None, modify_graph=False,
                  batch=None, access_and_evict_config=None, dim=None, combiner=None,
                  weights=None):
    """Looks ids up in `table`: the result has shape ids.shape + [dim], or
    [batch, dim] for multi-hot ids (each sample's rows combined).

    Training lookups (is_train=True) insert unseen ids and initialise their
    rows; eval lookups read `default_value` for them and insert nothing. A table
    may be looked up several times per step.

    Three ways to feed keys, with identical results:
      in-step:      sparse_lookup(table, ids_tensor) - the key work runs in the
                    step.
      FeatureSpec:  sparse_lookup(table, spec, batch=batch) where batch comes
                    from a dataset mapped with get_asc_insert_func([spec, ...]):
                    the stateless key work ran ahead in tf.data.
      modify_graph: sparse_lookup(table, batch["ids"], modify_graph=True) and,
                    once the graph is built, modify_graph_and_start_emb_cache()
                    (mx_rec.graph.modifier) moves the key work into the dataset
                    feeding batch["ids"].

    Multi-hot ids (several per sample): a 2-D tf.SparseTensor or
    tf.RaggedTensor, directly or as the FeatureSpec's batch entry; each
    sample's rows are combined as tf.nn.safe_embedding_lookup_sparse does
    (see core/multi_hot.py: ids < 0 are keys here, not dropped).

    Args:
      table: a SparseTable from create_table().
      ids: integer tensor of any shape (int32 or int64), a 2-D tf.SparseTensor
        or tf.RaggedTensor of int32/int64 ids (multi-hot), or a FeatureSpec.
      send_count: static-shape mode (init(use_dynamic=False)) only: the number
        of unique ids one batch of this lookup may hold; unique ids are padded
        to it. Required there, ignored in dynamic mode.
      is_train: training (insert + gradients) or eval (read only): a Python
        bool, or a scalar tf.bool tensor (e.g. a train_phase placeholder); when
        it is false at run time the lookup is exactly an eval lookup (no key is
        inserted, counted or stamped). A training lookup cannot be built inside
        tf.cond / tf.while_loop / tf.function (ValueError naming it): look up
        outside and choose between the results.
      name: name scope of the lookup's ops.
      modify_graph: automatic graph modification (see above).
      batch: the batch dict the ids come from; required with a FeatureSpec.
        Its timestamp (FeatureSpec(is_timestamp=True)) is the lookup's time.
      access_and_evict_config: feature admission for a tensor-ids lookup:
        {"access_threshold": int, "eviction_threshold": int (optional),
         "faae_coefficient": int (optional)}; see core/asc/admission.py. With a
        FeatureSpec the thresholds come from the spec.
      dim: optional; must equal the table's dim (mxRec scripts pass it).
      combiner: multi-hot ids only: "sum", "mean" or "sqrtn" (None: "mean",
        as in TF); a sample without ids gives zeros.
      weights: multi-hot ids only, optional: float weights of the ids, a
        SparseTensor with the ids' indices or a RaggedTensor with their row
        splits. With "mean" and "sqrtn", ids of weight <= 0 count as absent.
    """
    _check_graph_mode("sparse_lookup")
    config = get_config()
    if not isinstance(table, SparseTable):
        raise TypeError(f"table must be a SparseTable from create_table(), got {table!r}")
    table.check_usable()
    scope = name or f"{table.name}_lookup"
    if serving.active() is not None:
        with tf.compat.v1.name_scope(name, default_name=f"{table.name}_lookup"):
            ids = _serving_ids(table, ids, batch)
            multi = multi_hot.parse(ids, combiner, weights, scope)
            if multi is None:
                return serving.lookup(table, _check_ids(ids))
            return multi.combine(serving.lookup(table, multi.values))
    is_train = _check_is_train(is_train)
    if not isinstance(modify_graph, bool):
        raise TypeError(f"modify_graph must be a bool, got {modify_graph!r}")
    if dim is not None and dim != table.dim:
        raise ValueError(f"dim={dim!r} differs from table '{table.name}' dim={table.dim}")
    static_count = _static_count(config, table, send_count)
    if is_train is not False:
        where = tf_internals.control_flow_kind()
        if where is not None:
            raise ValueError(
                f"sparse_lookup '{scope}' (table '{table.name}') is a training lookup inside "
                f"{where}; mx_rec cannot update rows read conditionally. Look the ids up outside "
                "the control flow and choose between the results there (tf.where / tf.cond over "
                "the embeddings), or use is_train=False for a read-only lookup")
    with tf.compat.v1.name_scope(name, default_name=f"{table.name}_lookup"):
        if isinstance(ids, FeatureSpec):
            keys, thresholds, coefficient = _feature_spec_keys(config, table, ids, batch,
                                                               modify_graph,
                                                               access_and_evict_config)
            multi = multi_hot.parse(_feature_ids(ids, batch, combiner, weights), combiner,
                                    weights, scope)
            checks = [] if multi is None else [multi.check_keys(keys, scope)]
        else:
            multi = multi_hot.parse(ids, combiner, weights, scope)
            ids = _check_ids(ids if multi is None else multi.values)
            thresholds, coefficient = admission.from_config(access_and_evict_config)
            if modify_graph:
                keys = dedup_keys(ids)
                pending.record(ids, keys, scope)
            else:
                keys = dedup_keys(ids, static_count)
            checks = []
        if static_count and keys.unique.shape[0] != static_count:
            keys = pad_to(keys, static_count)
        access = None if is_train is False else \
            _feature_access(table, thresholds, coefficient, batch)
        with tf.control_dependencies(checks):
            rows = lookup.build(table, keys, static_count, is_train, access,
                                trained=None if multi is None else multi.trained(keys))
        return rows if multi is None else multi.combine(rows)


def _serving_ids(table, ids, batch):
    """The ids of a lookup in an export's graph, dense or multi-hot (a
    FeatureSpec reads its index_key from the batch of serving features)."""
    if not isinstance(ids, FeatureSpec):
        return ids
    if not isinstance(batch, dict) or ids.index_key not in batch:
        raise ValueError(
            f"feature '{ids.name}' (table '{table.name}'): exporting, the lookup reads the raw "
            f"ids batch['{ids.index_key}'] of the serving features; got "
            f"{sorted(batch) if isinstance(batch, dict) else batch!r}")
    return batch[ids.index_key]


def _feature_ids(spec, batch, combiner, weights):
    """The raw ids of a FeatureSpec lookup when they are multi-hot (the lookup
    combines them), else None."""
    ids = batch.get(spec.index_key)
    if multi_hot.is_multi_hot(ids):
        return ids
    if combiner is not None or weights is not None:
        raise ValueError(
            f"feature '{spec.name}': combiner and weights need the batch's multi-hot ids "
            f"batch['{spec.index_key}'] (a 2-D SparseTensor or RaggedTensor), got "
            f"{multi_hot.kind(ids) if ids is not None else 'no such entry'}")
    return None


def _check_is_train(is_train):
    """A Python bool, or a scalar tf.bool tensor."""
    if isinstance(is_train, bool):
        return is_train
    if isinstance(is_train, (np.bool_,)):
        return bool(is_train)
    if tf.is_tensor(is_train) and is_train.dtype == tf.bool and is_train.shape.rank in (0, None):
        return tf.reshape(is_train, [])
    raise TypeError(f"is_train must be a bool or a scalar tf.bool tensor, got {is_train!r}")


def _static_count(config, table, send_count):
    """send_count of a static-shape lookup (0 in dynamic mode, where it is only
    checked). At most MAX_SEND_COUNT, and, unless the table can grow, its
    device rows (one step's unique keys must fit the device tier)."""
    bound = MAX_SEND_COUNT
    if not table.dynamic_expansion:
        bound = min(bound, table.device_vocabulary_size)
    if not config.use_dynamic:
        if send_count is None:
            raise ValueError("send_count is required in static shape mode "
                             "(init(use_dynamic=False)): the most unique ids one batch holds, "
                             f"in [1, {bound}]")
        return check_int("send_count", send_count, 1, bound)
    if send_count is not None:
        check_int("send_count", send_count, 1, bound)
    return 0


def _check_ids(ids):
    """Dense ids as an int32/int64 tensor."""
    if ids is None or isinstance(ids, dict):
        raise TypeError("ids must be an int32/int64 tensor (any shape), a 2-D SparseTensor / "
                        f"RaggedTensor or a FeatureSpec, got {type(ids).__name__}: pass one "
                        "feature, e.g. batch['user_ids']")
    ids = tf.convert_to_tensor(ids)
    if ids.dtype not in (tf.int32, tf.int64):
        raise TypeError(f"ids must be an int32 or int64 tensor or a FeatureSpec, "
                        f"got {ids.dtype.name}")
    # int64 ids on an int32 table are checked per key when the step runs: one
    # beyond int32 range fails the step with InvalidArgumentError.
    return ids


def _feature_spec_keys(config, table, spec, batch, modify_graph, access_and_evict_config):
    if modify_graph:
        raise ValueError("modify_graph=True takes the ids tensor (batch['...']), not a FeatureSpec")
    if access_and_evict_config is not None:
        raise ValueError(f"feature '{spec.name}': with a FeatureSpec the thresholds come from the "
                         "spec; access_and_evict_config must be None")
    if spec.is_timestamp:
        raise ValueError(f"feature '{spec.name}' is a timestamp feature and cannot be looked up")
    if spec.table_name is not None and spec.table_name != table.name:
        raise ValueError(f"feature '{spec.name}' names table_name='{spec.table_name}' but is "
                         f"looked up in table '{table.name}'")
    keys = key_batch.from_batch(batch, spec.name)
    if keys is None:
        raise ValueError(
            f"feature '{spec.name}': batch must be the dict from an iterator over a dataset "
            f"mapped with get_asc_insert_func([...FeatureSpec('{spec.name}', ...)]); got "
            f"{'None' if batch is None else type(batch).__name__} without the feature's keys")
    config.looked_up_features[spec.name] = table
    return keys, spec.thresholds, spec.faae_coefficient


def _feature_access(table, thresholds, coefficient, batch):
    """The FeatureAccess of a training lookup, None when the table admits every key."""
    if thresholds is not None:
        if table.thresholds is None and table.has_unfiltered_lookup:
            raise ValueError(
                f"table '{table.name}' was already looked up in training without admission "
                "thresholds; give every training lookup of the table the same thresholds")
        admission.configure_table(table, thresholds)
    elif table.thresholds is None:
        table.has_unfiltered_lookup = True
        return None
    return admission.FeatureAccess(coefficient, admission.lookup_time(batch))
