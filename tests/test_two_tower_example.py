"""examples/two_tower: train with mx_rec tables, export, split, index (end to end)."""

import os
import re
import subprocess

import numpy as np
import pytest
import tensorflow as tf
import two_tower_model

from mx_rec.tools.feature_file import FeatureFile
from mx_rec.tools.split_model import read_meta_graph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_two_tower_example(tmp_path):
    work = tmp_path / "work"
    done = subprocess.run(["bash", os.path.join(ROOT, "examples", "two_tower", "run.sh"),
                           str(work)], env=dict(os.environ, STEPS="60"),
                          check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    recalls = re.findall(r"recall@10: ([0-9.]+)", done.stdout)
    assert len(recalls) == 2 and all(float(r) >= 0.9 for r in recalls), done.stdout
    assert "eval AUC: " in done.stdout

    # The item model holds neither user table, nor any user variable.
    (export,) = [p for p in (work / "export").iterdir() if p.name.isdigit()]
    item_graph = read_meta_graph(str(work / "item_model"), "serve").graph_def
    assert not [n.name for n in item_graph.node if "user" in n.name]
    assert {n.name for n in item_graph.node if "HashTable" in n.op} == \
        {"mx_rec/item_id/keys", "mx_rec/item_category/keys"}
    saved = [name for name, _ in tf.train.list_variables(str(work / "item_model" / "variables" /
                                                             "variables"))]
    assert saved and all(name.startswith("item_tower/") for name in saved)

    # Each tower computes what the full export computes.
    items = FeatureFile("items", str(work / "items.csv"))
    users = FeatureFile("users", str(work / "users.csv"))
    rows = min(items.rows, users.rows)
    feeds = {name: np.array(cells[:rows], np.int64)
             for f in (items, users) for name, cells in f.columns.items()}
    full = two_tower_model.run(str(export), feeds)
    for tower in ("user", "item"):
        got = two_tower_model.run(str(work / f"{tower}_model"), feeds)[f"{tower}_emb"]
        np.testing.assert_allclose(got, full[f"{tower}_emb"], atol=1e-6, rtol=0)
