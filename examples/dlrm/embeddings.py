"""The 26 categorical features of DLRM as mx_rec embedding tables.

Each feature C1..C26 gets its own table (named after it), except in
multi-lookup mode, where the two features in ``SHARED_FEATURES`` live in one
table that is looked up twice in the same step (one ``sparse_lookup`` call
per feature). Keys are the raw int64 ids from ``criteo.py``.
"""
import atexit
import shutil
import tempfile

import tensorflow as tf

from mx_rec.core.asc.feature_spec import FeatureSpec
from mx_rec.core.embedding import create_table, sparse_lookup

from criteo import SPARSE_NAMES

# Features that share one table when multi-lookup is on.
SHARED_FEATURES = ("C1", "C2")


def table_layout(multi_lookup):
    """Map feature name -> table name."""
    layout = {name: name for name in SPARSE_NAMES}
    if multi_lookup:
        shared = "_".join(SHARED_FEATURES)
        for name in SHARED_FEATURES:
            layout[name] = shared
    return layout


def create_tables(dim, device_vocabulary_size, multi_lookup=False,
                  init_stddev=0.05, host_vocabulary_size=0,
                  ssd_vocabulary_size=0, ssd_data_path=None):
    """Create the tables; returns dict feature name -> table handle.

    A shared table gets room for all the features it holds. With
    host_vocabulary_size > 0 (DDR mode) the device rows are a cache over the
    host tier; the sparse optimizer must exist already. With
    ssd_vocabulary_size > 0 the host tier spills to RocksDB under
    ssd_data_path (a temporary directory when None).
    """
    if ssd_vocabulary_size and ssd_data_path is None:
        ssd_data_path = tempfile.mkdtemp(prefix="mx_rec_dlrm_ssd_")
        atexit.register(shutil.rmtree, ssd_data_path, ignore_errors=True)
    layout = table_layout(multi_lookup)
    users = {}
    for feature, table_name in layout.items():
        users.setdefault(table_name, []).append(feature)
    tables = {}
    for table_name, features in users.items():
        table = create_table(
            key_dtype=tf.int64,
            dim=dim,
            name=table_name,
            emb_initializer=tf.compat.v1.truncated_normal_initializer(
                stddev=init_stddev),
            device_vocabulary_size=device_vocabulary_size * len(features),
            host_vocabulary_size=host_vocabulary_size * len(features),
            ssd_vocabulary_size=ssd_vocabulary_size * len(features),
            ssd_data_path=ssd_data_path if ssd_vocabulary_size else None)
        for feature in features:
            tables[feature] = table
    return tables


def feature_specs(tables, access_threshold=None, eviction_threshold=None):
    """One FeatureSpec per feature (FeatureSpec mode), with FAAE thresholds."""
    return {feature: FeatureSpec(feature, table_name=table.name,
                                 access_threshold=access_threshold,
                                 eviction_threshold=eviction_threshold)
            for feature, table in tables.items()}


def lookup_all(tables, batch, is_train, use_dynamic, batch_size,
               key_mode="feature_spec", specs=None):
    """Look up every feature of a batch dict (one int64 [B] entry each).

    key_mode: "feature_spec" (the batch was mapped with get_asc_insert_func
    over ``specs``), "modify_graph" (plain ids; modify_graph_and_start_emb_cache
    moves the key work into the dataset later) or "in_step". Returns a list of
    26 tensors [B, dim] in C1..C26 order. In static shape mode ``send_count``
    is the batch size: one id per row and lookup bounds its unique ids.
    """
    send_count = None if use_dynamic else batch_size
    mode = "train" if is_train else "eval"
    embs = []
    for feature in SPARSE_NAMES:
        spec = specs[feature] if specs else None
        config = None
        if spec is not None and spec.access_threshold is not None:
            config = {"access_threshold": spec.access_threshold,
                      "eviction_threshold": spec.eviction_threshold}
        if key_mode == "feature_spec":
            ids, extra = spec, {"batch": batch}
        else:
            ids = batch[feature]
            extra = {"modify_graph": key_mode == "modify_graph",
                     "access_and_evict_config": config}
        embs.append(sparse_lookup(
            tables[feature], ids, send_count=send_count, is_train=is_train,
            name="%s_%s_lookup" % (feature, mode), **extra))
    return embs
