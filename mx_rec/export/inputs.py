"""The serving inputs of an export: placeholders for the model's features."""

import tensorflow as tf

from mx_rec.export import assets


def check_features(features):
    """features: {name: tf.TensorSpec of one row}, checked and kept in order."""
    if not isinstance(features, dict) or not features:
        raise TypeError("features must be a non-empty dict {feature name: tf.TensorSpec of one "
                        f"row (shape without the batch dimension)}}, got {features!r}")
    for name, spec in features.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"features: keys must be feature names (str), got {name!r}")
        if not isinstance(spec, tf.TensorSpec) or not spec.shape.is_fully_defined():
            raise TypeError(f"features['{name}'] must be a tf.TensorSpec with a fully defined "
                            f"row shape (e.g. tf.TensorSpec([], tf.int64)), got {spec!r}")
    return features


def placeholders(features, options):
    """(features dict for the model, receiver tensors for the signature).

    Must be called in the export graph; see ExportOptions for the layouts."""
    check_features(features)
    batch = None if options.batch_size == -1 else options.batch_size
    if options.multi_placeholder:
        tensors = {}
        for i, (name, spec) in enumerate(features.items()):
            op_name = name if options.placeholder_named_by_input else f"input_{i}"
            tensors[name] = tf.compat.v1.placeholder(spec.dtype, [batch] + spec.shape.as_list(),
                                                     name=op_name)
        return dict(tensors), tensors
    line = tf.compat.v1.placeholder(tf.string, [batch], name="features")
    return _parse_lines(line, features, options.separator), {"features": line}


def _parse_lines(line, features, separator):
    """Each feature's values out of the single string placeholder."""
    widths = [spec.shape.num_elements() for spec in features.values()]
    fields = tf.strings.split(line, sep=separator).to_tensor(default_value="")
    check = tf.debugging.assert_equal(
        tf.shape(fields)[1], sum(widths),
        message=f"every 'features' row must hold {sum(widths)} values separated by "
                f"'{separator}' ({', '.join(f'{n}: {w}' for n, w in zip(features, widths))})")
    out, start = {}, 0
    with tf.control_dependencies([check]):
        fields = tf.identity(fields)
    for (name, spec), width in zip(features.items(), widths):
        values = fields[:, start:start + width]
        start += width
        if spec.dtype != tf.string:
            values = tf.strings.to_number(values, out_type=spec.dtype)
        out[name] = tf.reshape(values, [-1] + spec.shape.as_list())
    return out


def receiver_fn(features, options):
    """A serving_input_receiver_fn for Estimator.export_saved_model."""
    check_features(features)

    def fn():
        model_features, tensors = placeholders(features, options)
        for path in options.asset_files:
            assets.register(path)
        return tf.estimator.export.ServingInputReceiver(model_features, tensors)

    return fn
