"""Parsed Criteo rows as TFRecord: one tf.train.Example per row.

An Example holds what criteo.parse_lines made of its line, so reading it
back needs no text parsing or hashing:

  "label"   float [1]    0 or 1
  "dense"   float [13]   log(1 + max(I_j, 0)), 0 when missing
  "sparse"  int64 [26]   keys of C1..C26 (criteo.MISSING_KEY when missing)
"""
import tensorflow as tf

from criteo import NUM_DENSE, NUM_SPARSE

FEATURES = {
    "label": tf.io.FixedLenFeature([1], tf.float32),
    "dense": tf.io.FixedLenFeature([NUM_DENSE], tf.float32),
    "sparse": tf.io.FixedLenFeature([NUM_SPARSE], tf.int64),
}
SUFFIXES = (".tfrecord", ".tfrecords")


def is_tfrecord(path):
    """Whether `path` names a TFRecord file (by its suffix), else Criteo TSV."""
    return path.endswith(SUFFIXES)


def serialize(rows):
    """numpy {"label", "dense", "sparse"} of N rows -> N serialized Examples."""
    out = []
    for label, dense, sparse in zip(rows["label"], rows["dense"], rows["sparse"]):
        out.append(tf.train.Example(features=tf.train.Features(feature={
            "label": tf.train.Feature(float_list=tf.train.FloatList(value=label)),
            "dense": tf.train.Feature(float_list=tf.train.FloatList(value=dense)),
            "sparse": tf.train.Feature(int64_list=tf.train.Int64List(value=sparse)),
        })).SerializeToString())
    return out


def parse_records(serialized):
    """A batch of serialized Examples (string [B]) -> {"label", "dense", "sparse"}."""
    return tf.io.parse_example(serialized, FEATURES)
