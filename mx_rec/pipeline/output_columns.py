"""predict's output file: columns chosen by EasyRec's output_cols and
reserved_cols options, one line per sample.

output_cols: "name type, name type, ..." of model outputs (prediction keys:
probs, logits, y, user_emb, ...), type one of float, double, int, bigint,
string; a vector output (an embedding) is written as its values joined by
",", and must have type string. Default: every output, numbers as double or
bigint, vectors as string.
reserved_cols: "a,b": input columns copied to the output unchanged, before
the outputs.
"""

import dataclasses

import numpy as np

TYPES = ("float", "double", "int", "bigint", "string")
VECTOR_SEPARATOR = ","


@dataclasses.dataclass(frozen=True)
class Column:
    """One output column: `name` (an output or reserved input column) as `type`."""

    name: str
    type: str


def parse_output_cols(text, outputs):
    """[Column] of an output_cols option (None: every output of `outputs`,
    the model's prediction keys); ValueError naming a bad entry."""
    if text is None:
        return [Column(name, "string") for name in outputs]
    columns = []
    for entry in filter(None, (part.strip() for part in text.split(","))):
        parts = entry.split()
        if len(parts) != 2 or parts[1] not in TYPES:
            raise ValueError(f"output_cols: {entry!r} is not 'name type' with type one of "
                             f"{', '.join(TYPES)}")
        if parts[0] not in outputs:
            raise ValueError(f"output_cols: {parts[0]!r} is not an output of the model (they "
                             f"are: {', '.join(outputs)})")
        columns.append(Column(parts[0], parts[1]))
    if not columns:
        raise ValueError(f"output_cols: {text!r} names no column")
    return columns


def parse_reserved_cols(text):
    """The input column names of a reserved_cols option (None: none)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def cell(value, column):
    """The text of one sample's `value` (a NumPy value) in `column`."""
    value = np.asarray(value)
    if value.dtype.kind == "S":
        value = np.char.decode(value, "utf-8")
    if value.ndim > 0:
        if column.type != "string":
            raise ValueError(f"output_cols: {column.name!r} is a vector of {value.size} values: "
                             "give it type string")
        return VECTOR_SEPARATOR.join(_scalar(v, "string") for v in value.flat)
    return _scalar(value[()], column.type)


def _scalar(value, kind):
    """A NumPy scalar as text: float in float32's shortest form, double in
    float64's, int/bigint whole, string as NumPy writes it (shortest form)."""
    if kind == "float":
        return str(np.float32(value))
    if kind == "double":
        return repr(float(value))
    if kind in ("int", "bigint"):
        return str(int(value))
    return str(value)
