"""Hash optimizers: update only the table rows a step touched."""
