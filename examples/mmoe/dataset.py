"""tf.data batches of census.py's TFRecord files.

A batch is a dict: ``"dense"`` float32 [B, 7] (schema.NUMERIC order), one
int64 id block [B, k] per lookup (``id_groups``: lookup name -> the
categorical columns it reads, schema.CATEGORICAL names), and the labels
``"income"`` and ``"marital"`` int64 [B]. The id blocks are dataset outputs
so mx_rec's FeatureSpec insert function and automatic graph modification
can find them.
"""
import tensorflow as tf

import schema


def _parse(records):
    """Serialized examples [N] -> one dict of stacked columns [N, ...]."""
    batch = tf.io.parse_example(records, schema.parse_spec())
    row = {"dense": tf.stack([batch[name] for name in schema.NUMERIC], axis=1),
           "ids": tf.stack([batch[name] for name in schema.CATEGORICAL], axis=1)}
    row.update((name, batch[name]) for name in schema.LABEL_NAMES)
    return row


def make_dataset(path, batch_size, id_groups, shuffle=False, repeat=False, seed=None,
                 insert_func=None):
    """Batches of a TFRecord file, parsed once and kept in memory.

    Training batches (``repeat``) all hold batch_size rows; the last eval
    batch may be short. ``insert_func`` (mx_rec's get_asc_insert_func) runs
    on each batch before the prefetch, overlapping the previous step.
    """
    columns = {name: [schema.CATEGORICAL.index(c) for c in cols]
               for name, cols in id_groups.items()}
    ds = (tf.data.TFRecordDataset(path)
          .batch(4096)
          .map(_parse)
          .unbatch()
          .cache())
    if shuffle:
        ds = ds.shuffle(1 << 17, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=repeat)

    def split_ids(batch):
        ids = batch.pop("ids")
        batch.update((name, tf.gather(ids, cols, axis=1)) for name, cols in columns.items())
        return batch

    ds = ds.map(split_ids)
    if insert_func is not None:
        ds = ds.map(insert_func)
    return ds.prefetch(2)
