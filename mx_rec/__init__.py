"""mx_rec: embedding tables with unbounded vocabularies for TensorFlow 2.15.

Public entry points:
  mx_rec.util.initialize.init / terminate_config_initializer
  mx_rec.core.embedding.create_table / sparse_lookup
  mx_rec.optimizers.{gradient_descent,adagrad,lazy_adam,ftrl,momentum,rms_prop,adam_w}
    .create_hash_optimizer
  mx_rec.graph.modifier.modify_graph_and_start_emb_cache / GraphModifierHook
"""

__version__ = "0.1.0"

# Fails clearly on a TensorFlow whose internals mx_rec has not been checked against.
from mx_rec.util import tf_internals as _tf_internals  # noqa: E402,F401
