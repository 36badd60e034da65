"""Rows of model inputs in a delimited text file with a header.

The first line names the columns, separated by tabs if it holds a tab, by
commas otherwise; each further non-empty line is one row. A column feeding a
model input holds one value per row, or, for an input whose rows are vectors
of k values (shape [batch, k]), k values separated by spaces. Other columns
(an id to report, a label) are read as text.
"""

import csv

import numpy as np
import tensorflow as tf


class FeatureFile:
    """The columns of one file: `columns` {name: [cell text per row]}."""

    def __init__(self, arg_name, path):
        self.arg_name, self.path = arg_name, path
        try:
            with open(path, newline="") as f:
                header = f.readline()
                delimiter = "\t" if "\t" in header else ","
                names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter), [])]
                rows = [r for r in csv.reader(f, delimiter=delimiter) if any(c.strip() for c in r)]
        except OSError as e:
            raise ValueError(f"{arg_name} '{path}': {e.strerror}") from None
        if not names or not rows:
            raise ValueError(f"{arg_name} '{path}' needs a header line naming its columns and "
                             "at least one row")
        if len(set(names)) != len(names):
            raise ValueError(f"{arg_name} '{path}': the header names a column twice: {names}")
        for line, row in enumerate(rows, start=2):
            if len(row) != len(names):
                raise ValueError(f"{arg_name} '{path}' line {line}: {len(row)} cells, the "
                                 f"header names {len(names)}")
        self.columns = {n: [r[i].strip() for r in rows] for i, n in enumerate(names)}
        self.rows = len(rows)

    def column(self, name, what):
        """The cells of column `name`, which `what` (e.g. "input 'item_id'") needs."""
        if name not in self.columns:
            raise ValueError(f"{self.arg_name} '{self.path}' has no column '{name}' "
                             f"({what}); its header names {list(self.columns)}")
        return self.columns[name]

    def inputs(self, tensor_infos, rows=None):
        """{input name: array [len(rows), *row shape]} for a signature's
        inputs (TensorInfo by name), of the chosen rows (all when None)."""
        return {name: self._array(name, info, rows) for name, info in tensor_infos.items()}

    def _array(self, name, info, rows):
        dtype = tf.dtypes.as_dtype(info.dtype)
        shape = [d.size for d in info.tensor_shape.dim[1:]]
        if info.tensor_shape.unknown_rank or any(d < 0 for d in shape):
            raise ValueError(f"input '{name}' has rows of shape {shape or '?'}: only fixed row "
                             "shapes can be read from a file")
        cells = self.column(name, f"input '{name}'")
        picked = range(len(cells)) if rows is None else rows
        width = int(np.prod(shape))
        values = []
        for i in picked:
            parts = cells[i].split() if width != 1 or dtype != tf.string else [cells[i]]
            if len(parts) != width:
                raise ValueError(f"{self.arg_name} '{self.path}' line {i + 2}, column '{name}': "
                                 f"{len(parts)} values, input '{name}' takes {width} a row")
            values.extend(parts)
        if dtype == tf.string:
            return np.array(values, dtype=object).reshape([-1] + shape)
        try:
            return np.array(values).astype(dtype.as_numpy_dtype).reshape([-1] + shape)
        except ValueError:
            bad = next(v for v in values if not _parses(v, dtype.as_numpy_dtype))
            raise ValueError(f"{self.arg_name} '{self.path}', column '{name}': '{bad}' is not a "
                             f"{dtype.name} (input '{name}')") from None


def _parses(text, numpy_dtype):
    try:
        np.array([text]).astype(numpy_dtype)
        return True
    except ValueError:
        return False
