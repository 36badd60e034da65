"""Users, items and clicks for the two-tower example, from the bundled Criteo rows.

Criteo's 26 categorical columns are anonymous hashes, so the example gives
four of them roles (chosen because each id column determines its side column
in the sample, as a user's group or an item's category would):

  user_id       = C15   (489 values in the 900 training rows)
  user_group    = C14   (15 values; C15 determines it)
  item_id       = C3    (611 values)
  item_category = C24   (386 values; C3 determines it)
  click         = the label

Each hex hash becomes the int64 key int(x, 16); a missing value becomes
MISSING_KEY (1 << 32, above every 32-bit hash). Repeated lines are dropped
(the Kaggle head file is 900 distinct rows repeated 12 times).
"""

import numpy as np

FIELDS = {"user_id": "C15", "user_group": "C14", "item_id": "C3", "item_category": "C24"}
USER_FIELDS = ("user_id", "user_group")
ITEM_FIELDS = ("item_id", "item_category")
MISSING_KEY = 1 << 32
# Column of C<i> in a raw line: label, I1..I13, C1..C26.
_COLUMN = {f"C{i}": 13 + i for i in range(1, 27)}


def read(paths):
    """{field: int64 [rows], "click": float32 [rows]} of the distinct lines of
    raw Criteo files `paths` (in order, first occurrence kept)."""
    seen, rows = set(), []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\r\n")
                if line.strip() and line not in seen:
                    seen.add(line)
                    rows.append(line.split("\t"))
    if not rows:
        raise ValueError(f"no rows in {paths}")
    data = {name: np.array([_key(r, _COLUMN[column]) for r in rows], np.int64)
            for name, column in FIELDS.items()}
    data["click"] = np.array([float(r[0]) for r in rows], np.float32)
    return data


def _key(fields, column):
    text = fields[column] if column < len(fields) else ""
    return int(text, 16) if text else MISSING_KEY


def write_catalog(path, datasets, fields):
    """Writes the distinct rows of `fields` (id first) over `datasets` as CSV
    with a header, one line per id (its first row's side value): the
    --item_data / --user_data format of mx_rec.tools.build_index. Returns the
    number of lines."""
    first = {}
    for data in datasets:
        for row in zip(*(data[f] for f in fields)):
            first.setdefault(row[0], row)
    with open(path, "w") as f:
        f.write(",".join(fields) + "\n")
        f.writelines(",".join(str(v) for v in row) + "\n" for row in first.values())
    return len(first)
