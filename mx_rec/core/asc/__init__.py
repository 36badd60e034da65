"""Key processing: FeatureSpec, the tf.data insert function, admission settings."""
