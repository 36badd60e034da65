"""Input values -> table keys (int64), in TensorFlow ops that stock TF serves.

An IdFeature reads one id per sample: integer ids are keys as they are;
string ids become keys by the feature's string_to_key:
  FINGERPRINT: FarmHash Fingerprint64 of the string, modulo 2**63 - 1
    (tf.strings.to_hash_bucket_fast), so every key is >= 0;
  HEX: the string read as a hexadecimal number of at most 15 digits (Criteo's
    categorical columns), case-insensitive; the empty string (a missing value)
    is key -1. Any other character, or a longer string, fails the step with
    an error naming the feature.
A TagFeature reads a string of ids joined by its separator; empty pieces are
dropped, so a sample may have no id; each piece becomes a key as above.

The input pipeline turns ids into keys before the key work of FeatureSpec
mode; model_keys does it in the model for inputs that are still raw (an
export's placeholders), so one model function serves both.
"""

import tensorflow as tf

from mx_rec.config.protos.feature_pb2 import Feature
from mx_rec.pipeline.fields import looked_up

HEX_DIGITS = 15
MISSING_HEX_KEY = -1
_FINGERPRINT_BUCKETS = 2**63 - 1


def string_keys(strings, string_to_key, feature):
    """1-D string tensor -> int64 keys; `feature` names it in errors."""
    if string_to_key == Feature.HEX:
        return hex_keys(strings, feature)
    return tf.strings.to_hash_bucket_fast(strings, _FINGERPRINT_BUCKETS)


def hex_keys(strings, feature):
    """1-D string tensor of hexadecimal numbers -> int64 (see the module docstring)."""
    codes = tf.strings.unicode_decode(strings, "UTF-8")
    chars = codes.flat_values
    lower = tf.bitwise.bitwise_or(chars, 0x20)
    is_digit = (chars >= ord("0")) & (chars <= ord("9"))
    is_letter = (lower >= ord("a")) & (lower <= ord("f"))
    digits = tf.cast(tf.where(is_digit, chars - ord("0"), lower - ord("a") + 10), tf.int64)
    lengths = codes.row_lengths()
    checks = [
        tf.debugging.assert_equal(tf.reduce_all(is_digit | is_letter), True, message=(
            f"feature {feature}: string_to_key HEX reads hexadecimal digits only")),
        tf.debugging.assert_less_equal(lengths, tf.constant(HEX_DIGITS, tf.int64), message=(
            f"feature {feature}: string_to_key HEX reads at most {HEX_DIGITS} digits")),
    ]
    within = tf.ragged.range(lengths).flat_values
    shifts = 4 * (tf.repeat(lengths, lengths) - 1 - within)
    with tf.control_dependencies(checks):
        values = tf.math.unsorted_segment_sum(tf.bitwise.left_shift(digits, shifts),
                                              codes.value_rowids(), tf.size(strings,
                                                                            tf.int64))
    return tf.where(lengths > 0, values, tf.constant(MISSING_HEX_KEY, tf.int64))


def id_keys(values, feature, name):
    """An IdFeature's [batch] ids (any integer or string dtype) -> int64 keys."""
    if values.dtype == tf.string:
        return string_keys(values, feature.string_to_key, name)
    return tf.cast(values, tf.int64)


def tag_keys(values, feature, name):
    """A TagFeature's [batch] strings -> RaggedTensor [batch, None] of int64 keys."""
    pieces = tf.strings.split(values, sep=feature.separator)
    pieces = tf.ragged.boolean_mask(pieces, tf.strings.length(pieces) > 0)
    return pieces.with_flat_values(string_keys(pieces.flat_values, feature.string_to_key, name))


def is_keys(value):
    """Whether an input value already holds keys (int64, dense or ragged)."""
    return value.dtype == tf.int64


def model_keys(config, features):
    """`features` with the input of every feature looked up in a table
    turned into keys, unless it already is (the input pipeline did it)."""
    out = dict(features)
    for name, feature in looked_up(config):
        value = out[feature.input_name]
        if is_keys(value):
            continue
        convert = tag_keys if feature.feature_type == Feature.TagFeature else id_keys
        out[feature.input_name] = convert(value, feature, name)
    return out
