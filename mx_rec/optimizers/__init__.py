"""Hash optimizers: update only the table rows a step touched.

`minimize(loss, dense_optimizer, hash_optimizer)` trains dense variables and
tables from one backward pass. Each rule's module has create_hash_optimizer():
gradient_descent, adagrad, lazy_adam, ftrl.
"""

from mx_rec.optimizers import adagrad, ftrl, gradient_descent, lazy_adam  # noqa: F401
from mx_rec.optimizers.joint import minimize  # noqa: F401
