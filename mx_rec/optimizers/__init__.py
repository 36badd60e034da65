"""Hash optimizers: update only the table rows a step touched.

`minimize(loss, dense_optimizer, hash_optimizer)` trains dense variables and
tables from one backward pass.
"""

from mx_rec.optimizers.joint import minimize  # noqa: F401
