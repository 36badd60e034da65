"""Export for serving: SavedModels in which every table is standard TensorFlow.

  export_saved_model(base, model_fn, features, checkpoint_path=... | sess=...)
  export_estimator(estimator, base, features, ...)   or a plain
  estimator.export_saved_model(base, serving_input_receiver_fn(features))

The export loads with tf.saved_model.load, saved_model_cli and TF Serving,
with no mx_rec installed (see frozen_table.py for what a table becomes).
"""

from mx_rec.export.options import ExportOptions
from mx_rec.export.saved_model import (checkpoint_prefix, export_estimator, export_saved_model,
                                       serving_input_receiver_fn)

__all__ = ["ExportOptions", "checkpoint_prefix", "export_estimator", "export_saved_model",
           "serving_input_receiver_fn"]
