"""Hash optimizers: update only the table rows a step touched.

`minimize(loss, dense_optimizer, hash_optimizer)` trains dense variables and
tables from one backward pass. Each rule's module has create_hash_optimizer():
gradient_descent, adagrad, lazy_adam, ftrl, momentum, rms_prop, adam_w. A rule
trains a table as its TF v1 optimizer trains a dense tf.nn.embedding_lookup
table through IndexedSlices gradients (rows and state change only where
touched); lazy_adam is tf.contrib.opt's LazyAdam, and adam_w adds to it the
decoupled weight decay of tf.contrib.opt's AdamW (adam_w.py says exactly how).
"""

from mx_rec.optimizers import (adagrad, adam_w, ftrl, gradient_descent, lazy_adam,  # noqa: F401
                               momentum, rms_prop)
from mx_rec.optimizers.joint import minimize  # noqa: F401
