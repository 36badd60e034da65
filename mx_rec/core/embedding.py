"""Public table API: create_table() and sparse_lookup(), named as in mxRec."""

import os

import numpy as np
import tensorflow as tf

from mx_rec.core import lookup
from mx_rec.core.asc import admission, key_batch
from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.asc.key_batch import dedup_keys, pad_to
from mx_rec.core.sparse_table import SparseTable
from mx_rec.graph import pending
from mx_rec.libasc import _libasc
from mx_rec.util.initialize import get_config
from mx_rec.util.validation import check_bool, check_int

_KEY_DTYPES = (tf.int32, tf.int64)
# Device rows hot_embedding=True may pin when hot_vocabulary_size is not given.
# bench/hot_bench.py on Zipf ids (BENCHMARKS.md): swaps -6/-12/-16/-18% at
# 0.25/0.5/0.75/0.9; 0.75 keeps a quarter of the rows for the LRU part.
HOT_DEFAULT_FRACTION = 0.75


def _as_key_dtype(key_dtype):
    try:
        dtype = tf.as_dtype(key_dtype)
    except TypeError:
        dtype = None
    if dtype not in _KEY_DTYPES:
        raise TypeError(f"key_dtype must be tf.int32 or tf.int64, got {key_dtype!r}")
    return dtype


def _check_initializer(emb_initializer):
    if emb_initializer is None:
        return tf.compat.v1.truncated_normal_initializer(stddev=0.05)
    if not callable(emb_initializer):
        raise TypeError("emb_initializer must be a TF initializer (callable taking shape and "
                        f"dtype), got {emb_initializer!r}")
    return emb_initializer


def _check_default_value(default_value, dim):
    value = np.asarray(default_value, dtype=np.float32)
    if value.ndim == 0:
        return np.full([dim], value, np.float32)
    if value.shape != (dim,):
        raise ValueError(f"default_value must be a scalar or have shape [{dim}] (dim), "
                         f"got shape {list(value.shape)}")
    return value


def _check_ssd(ssd_vocabulary_size, ssd_data_path, host_vocabulary_size):
    """The SSD directories as a list ([] without an SSD tier)."""
    if not ssd_vocabulary_size:
        if ssd_data_path is not None:
            raise ValueError("ssd_data_path is only used with ssd_vocabulary_size > 0")
        return []
    if not host_vocabulary_size:
        raise ValueError("ssd_vocabulary_size > 0 needs a host tier: host_vocabulary_size must be "
                         "> 0 too")
    if ssd_data_path is None:
        raise ValueError("ssd_data_path is required when ssd_vocabulary_size > 0: one directory, "
                         "or a list tried in order as free space runs out")
    paths = [ssd_data_path] if isinstance(ssd_data_path, (str, os.PathLike)) else list(ssd_data_path)
    if not paths:
        raise ValueError("ssd_data_path must name at least one directory")
    for path in paths:
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise ValueError(f"ssd_data_path: '{path}' is not an existing directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"ssd_data_path: '{path}' is not writable")
    return [os.path.abspath(os.fspath(p)) for p in paths]


def _check_hot(hot_embedding, hot_vocabulary_size, hot_refresh_steps, device_vocabulary_size,
               host_vocabulary_size):
    """(hot rows, refresh steps) of the table; hot rows 0: hot embedding off."""
    check_bool("hot_embedding", hot_embedding)
    if not hot_embedding:
        for arg, value in (("hot_vocabulary_size", hot_vocabulary_size),
                           ("hot_refresh_steps", hot_refresh_steps)):
            if value is not None:
                raise ValueError(f"{arg} is only used with hot_embedding=True")
        return 0, _libasc.HOT_REFRESH_STEPS
    if not host_vocabulary_size:
        raise ValueError("hot_embedding=True needs a host tier: host_vocabulary_size must be > 0 "
                         "(without one every key stays on the device)")
    if device_vocabulary_size < 2:
        raise ValueError("hot_embedding=True needs device_vocabulary_size >= 2: hot keys may "
                         "take at most device_vocabulary_size - 1 rows")
    if hot_vocabulary_size is None:
        rows = max(1, int(device_vocabulary_size * HOT_DEFAULT_FRACTION))
    else:
        rows = check_int("hot_vocabulary_size", hot_vocabulary_size, 1, device_vocabulary_size - 1)
    if hot_refresh_steps is None:
        return rows, _libasc.HOT_REFRESH_STEPS
    return rows, check_int("hot_refresh_steps", hot_refresh_steps, 1,
                           _libasc.MAX_HOT_REFRESH_STEPS)


def create_table(key_dtype, dim, name, emb_initializer=None, device_vocabulary_size=None,
                 host_vocabulary_size=0, ssd_vocabulary_size=0, ssd_data_path=None,
                 default_value=0.0, cache_policy="LRU", hot_embedding=False,
                 hot_vocabulary_size=None, hot_refresh_steps=None):
    """Creates an embedding table whose vocabulary is not fixed in advance.

    Args:
      key_dtype: tf.int64 or tf.int32, the dtype of the ids users feed.
      dim: embedding width, 1..8192.
      name: unique table name.
      emb_initializer: any TF initializer; new keys' rows are drawn from it
        when the key is first seen in training.
      device_vocabulary_size: rows of the device tier (HBM mode: the whole
        table). Without dynamic expansion (init(use_dynamic_expansion=...))
        inserting more keys is an error naming the table and sizes.
      host_vocabulary_size: rows of the host (DDR) tier. When > 0 the device
        tier becomes a fixed-size LRU cache over all the table's keys (dynamic
        expansion does not apply), and every hash optimizer that will train the
        table must be created before it: its state moves with the rows.
      ssd_vocabulary_size: rows of the SSD tier below the host tier (needs
        host_vocabulary_size > 0). Host rows are demoted to it by LFU when the
        host tier fills, and come back to the device when looked up.
      ssd_data_path: directory (or list of directories, used in order as free
        space runs out) holding the SSD tier's RocksDB files; each table uses
        its own sub-directory, removed when the table is released.
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
      A SparseTable to pass to sparse_lookup().
    """
    config = get_config()
    dtype = _as_key_dtype(key_dtype)
    dim = check_int("dim", dim, 1, _libasc.MAX_DIM)
    if device_vocabulary_size is None:
        raise ValueError("device_vocabulary_size is required: the number of device rows, "
                         f"in [1, {_libasc.MAX_CAPACITY}]")
    device_vocabulary_size = check_int("device_vocabulary_size", device_vocabulary_size, 1,
                                       _libasc.MAX_CAPACITY)
    host_vocabulary_size = check_int("host_vocabulary_size", host_vocabulary_size, 0,
                                     _libasc.MAX_CAPACITY)
    ssd_vocabulary_size = check_int("ssd_vocabulary_size", ssd_vocabulary_size, 0,
                                    _libasc.MAX_CAPACITY)
    ssd_paths = _check_ssd(ssd_vocabulary_size, ssd_data_path, host_vocabulary_size)
    if not isinstance(cache_policy, str) or cache_policy.upper() not in ("LRU", "LFU"):
        raise ValueError(f"cache_policy must be 'LRU' or 'LFU', got {cache_policy!r}")
    hot_vocabulary_size, hot_refresh_steps = _check_hot(
        hot_embedding, hot_vocabulary_size, hot_refresh_steps, device_vocabulary_size,
        host_vocabulary_size)
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if name in config.tables and not config.tables[name].released:
        raise ValueError(f"name: a table named '{name}' already exists")
    table = SparseTable(name=name, key_dtype=dtype, dim=dim,
                        initializer=_check_initializer(emb_initializer),
                        device_vocabulary_size=device_vocabulary_size,
                        dynamic_expansion=config.use_dynamic_expansion,
                        default_value=_check_default_value(default_value, dim),
                        host_vocabulary_size=host_vocabulary_size,
                        ssd_vocabulary_size=ssd_vocabulary_size, ssd_paths=ssd_paths,
                        cache_policy=cache_policy.lower(),
                        hot_vocabulary_size=hot_vocabulary_size,
                        hot_refresh_steps=hot_refresh_steps,
                        hash_optimizers=config.hash_optimizers)
    config.tables[name] = table
    return table


def sparse_lookup(table, ids, send_count=None, is_train=True, name=None, modify_graph=False,
                  batch=None, access_and_evict_config=None, dim=None):
    """Looks ids up in `table`: the result has shape ids.shape + [dim].

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

    Args:
      table: a SparseTable from create_table().
      ids: integer tensor of any shape (int32 or int64), or a FeatureSpec.
      send_count: static-shape mode (init(use_dynamic=False)) only: the number
        of unique ids one batch of this lookup may hold; unique ids are padded
        to it. Required there, ignored in dynamic mode.
      is_train: training (insert + gradients) or eval (read only).
      name: name scope of the lookup's ops.
      modify_graph: automatic graph modification (see above).
      batch: the batch dict the ids come from; required with a FeatureSpec.
        Its timestamp (FeatureSpec(is_timestamp=True)) is the lookup's time.
      access_and_evict_config: feature admission for a tensor-ids lookup:
        {"access_threshold": int, "eviction_threshold": int (optional),
         "faae_coefficient": int (optional)}; see core/asc/admission.py. With a
        FeatureSpec the thresholds come from the spec.
      dim: optional; must equal the table's dim (mxRec scripts pass it).
    """
    config = get_config()
    if not isinstance(table, SparseTable):
        raise TypeError(f"table must be a SparseTable from create_table(), got {table!r}")
    table.check_usable()
    if not isinstance(is_train, bool):
        raise TypeError(f"is_train must be a bool, got {is_train!r}")
    if not isinstance(modify_graph, bool):
        raise TypeError(f"modify_graph must be a bool, got {modify_graph!r}")
    if dim is not None and dim != table.dim:
        raise ValueError(f"dim={dim!r} differs from table '{table.name}' dim={table.dim}")
    static_count = _static_count(config, send_count)
    scope = name or f"{table.name}_lookup"
    with tf.compat.v1.name_scope(name, default_name=f"{table.name}_lookup"):
        if isinstance(ids, FeatureSpec):
            keys, thresholds, coefficient = _feature_spec_keys(config, table, ids, batch,
                                                               modify_graph,
                                                               access_and_evict_config)
        else:
            ids = _check_ids(ids)
            thresholds, coefficient = admission.from_config(access_and_evict_config)
            if modify_graph:
                keys = dedup_keys(ids)
                pending.record(ids, keys, scope)
            else:
                keys = dedup_keys(ids, static_count)
        if static_count and keys.unique.shape[0] != static_count:
            keys = pad_to(keys, static_count)
        access = _feature_access(table, thresholds, coefficient, batch) if is_train else None
        return lookup.build(table, keys, static_count, is_train, access)


def _static_count(config, send_count):
    if not config.use_dynamic:
        if send_count is None:
            raise ValueError("send_count is required in static shape mode "
                             "(init(use_dynamic=False)): the most unique ids one batch holds")
        return check_int("send_count", send_count, 1, 2**31 - 1)
    if send_count is not None:
        check_int("send_count", send_count, 1, 2**31 - 1)
    return 0


def _check_ids(ids):
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
