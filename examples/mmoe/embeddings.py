"""Where the categorical columns' embedding rows live: one mx_rec table, or
(the plain-TF reference) one ordinary variable.

census.py gives every column its own id range, so one table holds every
category. Each example's rows are summed into the MMoE's ``sparse`` input
(model.py). The table is looked up once a step for all 32 columns or, in
multi-lookup mode, twice: once for the person's own columns and once for
the household and migration ones (``LOOKUP_GROUPS``). The sum is the same,
so both modes train the same model.

``MxRecEmbeddings`` and ``DenseEmbeddings`` offer the same four calls the
training script needs: ``insert_func`` (for the dataset), ``sparse_sum``
(the [B, dim] input of a batch), ``minimize`` and ``finish_graph``.
"""
import atexit
import shutil
import tempfile

import tensorflow as tf

import schema

TABLE_NAME = "census"
HOUSEHOLD_COLUMNS = (
    "detailed_household_and_family_stat", "detailed_household_summary_in_household",
    "migration_code_change_in_msa", "migration_code_change_in_reg",
    "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "family_members_under_18",
    "region_of_previous_residence", "state_of_previous_residence")
LOOKUP_GROUPS = {
    "person_ids": tuple(c for c in schema.CATEGORICAL if c not in HOUSEHOLD_COLUMNS),
    "household_ids": HOUSEHOLD_COLUMNS,
}


def id_groups(multi_lookup):
    """Lookup name -> categorical columns it reads (the dataset's id blocks)."""
    return dict(LOOKUP_GROUPS) if multi_lookup else {"census_ids": schema.CATEGORICAL}


def initializer(stddev, seed):
    """Initial rows: N(0, stddev) truncated at 2 stddev; all zeros for stddev 0."""
    if stddev == 0:
        return tf.compat.v1.zeros_initializer()
    return tf.compat.v1.truncated_normal_initializer(stddev=stddev, seed=seed)


class DenseEmbeddings(object):
    """The plain-TF reference: a [vocabulary_size, dim] variable read with
    tf.nn.embedding_lookup, trained with the dense layers' optimizer."""

    def __init__(self, vocabulary_size, dim, emb_initializer, groups):
        self.groups = groups
        self.variable = tf.compat.v1.get_variable(TABLE_NAME, [vocabulary_size, dim],
                                                  tf.float32, initializer=emb_initializer)

    def insert_func(self, is_training):
        return None

    def sparse_sum(self, batch, is_train, batch_size):
        return tf.add_n([tf.reduce_sum(tf.nn.embedding_lookup(self.variable, batch[name]), axis=1)
                         for name in self.groups])

    def minimize(self, loss, dense_optimizer, global_step):
        return dense_optimizer.minimize(loss, global_step=global_step)

    def finish_graph(self):
        pass


class MxRecEmbeddings(object):
    """The rows in an mx_rec table, trained by lazy Adam (touched rows only).

    Args:
      groups: id_groups().
      dim, emb_initializer: the table's width and initial rows.
      lr: learning rate of the hash optimizer.
      device_vocabulary_size, host_vocabulary_size, ssd_vocabulary_size:
        rows per tier (host > 0: DDR mode, the device rows cache the host
        tier; ssd > 0 too: SSD mode, the host tier spills to RocksDB under
        ssd_data_path, a temporary directory removed at exit when None).
      key_mode: "feature_spec" (key work in tf.data through FeatureSpecs),
        "modify_graph" (plain lookups, moved into tf.data by the graph
        modifier) or "in_step".
      send_cap: None (dynamic shapes), or the number of ids there are:
        static shapes, with send_count = min(batch * columns of the lookup,
        send_cap), the most unique ids a batch can hold.
      access_threshold, eviction_threshold: feature admission and eviction
        (None: off).
    """

    def __init__(self, groups, dim, emb_initializer, lr, device_vocabulary_size,
                 host_vocabulary_size=0, ssd_vocabulary_size=0, ssd_data_path=None,
                 key_mode="feature_spec", send_cap=None,
                 access_threshold=None, eviction_threshold=None):
        from mx_rec.core.asc.feature_spec import FeatureSpec
        from mx_rec.core.embedding import create_table
        from mx_rec.optimizers import lazy_adam
        self.groups, self.key_mode = groups, key_mode
        self.send_cap = send_cap
        self.hash_optimizer = lazy_adam.create_hash_optimizer(learning_rate=lr)
        if ssd_vocabulary_size and ssd_data_path is None:
            ssd_data_path = tempfile.mkdtemp(prefix="mx_rec_mmoe_ssd_")
            atexit.register(shutil.rmtree, ssd_data_path, ignore_errors=True)
        self.table = create_table(key_dtype=tf.int64, dim=dim, name=TABLE_NAME,
                                  emb_initializer=emb_initializer,
                                  device_vocabulary_size=device_vocabulary_size,
                                  host_vocabulary_size=host_vocabulary_size,
                                  ssd_vocabulary_size=ssd_vocabulary_size,
                                  ssd_data_path=ssd_data_path if ssd_vocabulary_size else None)
        self.specs = {name: FeatureSpec(name, table_name=TABLE_NAME,
                                        access_threshold=access_threshold,
                                        eviction_threshold=eviction_threshold)
                      for name in groups}

    def insert_func(self, is_training):
        """get_asc_insert_func for the dataset in FeatureSpec mode, else None."""
        if self.key_mode != "feature_spec":
            return None
        from mx_rec.core.asc.helper import get_asc_insert_func
        return get_asc_insert_func(list(self.specs.values()), is_training=is_training)

    def sparse_sum(self, batch, is_train, batch_size):
        """Sum of every column's row per example, [B, dim]."""
        from mx_rec.core.embedding import sparse_lookup
        total = []
        for name, columns in self.groups.items():
            spec = self.specs[name]
            if self.key_mode == "feature_spec":
                ids, extra = spec, {"batch": batch}
            else:
                config = None
                if spec.access_threshold is not None:
                    config = {"access_threshold": spec.access_threshold,
                              "eviction_threshold": spec.eviction_threshold}
                ids, extra = batch[name], {"modify_graph": self.key_mode == "modify_graph",
                                           "access_and_evict_config": config}
            send_count = None if self.send_cap is None else \
                min(batch_size * len(columns), self.send_cap)
            rows = sparse_lookup(self.table, ids, send_count=send_count, is_train=is_train,
                                 name="%s_%s" % (name, "train" if is_train else "eval"), **extra)
            total.append(tf.reduce_sum(rows, axis=1))
        return tf.add_n(total)

    def minimize(self, loss, dense_optimizer, global_step):
        """One backward pass for the dense layers and the table rows."""
        from mx_rec.optimizers import minimize
        return minimize(loss, dense_optimizer, self.hash_optimizer, global_step=global_step)

    def finish_graph(self):
        """After the whole graph is built: start the key pipeline."""
        if self.key_mode == "modify_graph":
            from mx_rec.graph.modifier import modify_graph_and_start_emb_cache
            modify_graph_and_start_emb_cache()
        elif self.key_mode == "feature_spec":
            from mx_rec.core.asc.manager import start_asc_pipeline
            start_asc_pipeline()
