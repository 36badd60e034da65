"""python -m mx_rec.tools.build_index: a faiss index of an item model's vectors."""

import json
import os
import subprocess
import sys

import faiss
import numpy as np
import pytest
import two_tower_model

from mx_rec.tools import split_model
from mx_rec.tools.build_index import build_index, main
from mx_rec.tools.feature_file import FeatureFile
from mx_rec.tools.tower import Tower

ITEMS, USERS = 3000, 300


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    """Split towers of the test two-tower model and their data files:
    {full, user, item, items (csv), users (tsv), categories}."""
    root = tmp_path_factory.mktemp("index")
    staging = root / "staging"
    staging.mkdir()
    user_keys, item_keys = two_tower_model.write(str(root / "full"), str(staging), USERS, ITEMS)
    split_model.split_model(str(root / "full"), str(root / "user"), str(root / "item"))
    rng = np.random.default_rng(3)
    categories = rng.integers(0, two_tower_model.ITEM_CATEGORIES, ITEMS)
    (root / "items.csv").write_text("item_id,item_category,title\n" + "".join(
        f"{k},{c},item {k}\n" for k, c in zip(item_keys, categories)))
    (root / "users.tsv").write_text("user_group\tuser_id\n" + "".join(
        f"{g}\t{k}\n" for k, g in zip(user_keys, rng.integers(0, 4, USERS))))
    return {"full": str(root / "full"), "user": str(root / "user"), "item": str(root / "item"),
            "items": str(root / "items.csv"), "users": str(root / "users.tsv"),
            "item_keys": item_keys, "categories": categories}


def _build(towers, out, index_type, **options):
    return build_index(towers["item"], towers["items"], str(out), index_type,
                       user_model_dir=towers["user"], user_data=towers["users"], **options)


@pytest.mark.parametrize("index_type,bound", [("IVFFlat", 0.85), ("HNSWFlat", 0.98)])
def test_recall_against_exact_search(towers, tmp_path, index_type, bound):
    report = _build(towers, tmp_path / "index", index_type)
    assert report["items"] == ITEMS and report["dim"] == two_tower_model.DIM
    assert report["queries"].startswith(f"{USERS} sampled users")
    assert bound <= report["recall@10"] <= 1.0, report
    assert report["build_seconds"] > 0
    assert json.loads((tmp_path / "index" / "index.json").read_text()) == report


def test_index_rows_are_the_items_in_file_order(towers, tmp_path):
    """Vector i of the index is item_ids.txt line i, as the full model embeds it."""
    _build(towers, tmp_path / "index", "HNSWFlat", hnsw_M=8, hnsw_efConstruction=20)
    index = faiss.read_index(str(tmp_path / "index" / "index.faiss"))
    ids = (tmp_path / "index" / "item_ids.txt").read_text().split()
    assert ids == [str(k) for k in towers["item_keys"]]
    assert index.ntotal == ITEMS and index.metric_type == faiss.METRIC_INNER_PRODUCT
    assert (index.hnsw.efConstruction, index.hnsw.efSearch) == (20, 64)
    feeds = two_tower_model.features(towers["item_keys"][:5], towers["item_keys"][:5], 5)
    feeds["item_id"], feeds["item_category"] = towers["item_keys"][:5], towers["categories"][:5]
    expected = two_tower_model.run(towers["full"], feeds)["item_emb"]
    np.testing.assert_allclose(index.reconstruct_n(0, 5), expected, atol=1e-6, rtol=0)


def test_ivf_probing_every_list_is_exact(towers, tmp_path):
    report = build_index(towers["item"], towers["items"], str(tmp_path / "index"), "IVFFlat",
                         ivf_nlist=16, ivf_nprobe=16, num_queries=200, seed=5)
    assert report["options"] == {"ivf_nlist": 16, "ivf_nprobe": 16}
    assert report["queries"] == "200 sampled item vectors"
    assert report["recall@10"] == 1.0
    assert faiss.read_index(str(tmp_path / "index" / "index.faiss")).nlist == 16


def test_fixed_batch_model_gets_padded_batches(towers, tmp_path):
    """An export with batch_size 64 embeds 3000 items: the last batch is padded."""
    staging = tmp_path / "staging"
    staging.mkdir()
    two_tower_model.write(str(tmp_path / "full"), str(staging), USERS, ITEMS, batch_size=64)
    split_model.split_model(str(tmp_path / "full"), str(tmp_path / "user"),
                            str(tmp_path / "item"))
    fixed_tower = Tower("item_model_dir", str(tmp_path / "item"))
    assert fixed_tower.batch_size == 64
    fixed_tower.close()
    build_index(str(tmp_path / "item"), towers["items"], str(tmp_path / "index"), "HNSWFlat")
    fixed = faiss.read_index(str(tmp_path / "index" / "index.faiss")).reconstruct_n(0, ITEMS)
    tower = Tower("item_model_dir", towers["item"])
    expected = tower.embed(FeatureFile("item_data", towers["items"]).inputs(tower.inputs))
    tower.close()
    np.testing.assert_allclose(fixed, expected, atol=1e-6, rtol=0)


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--index_type", "Flat"], "argument --index_type: invalid choice: 'Flat'"),
    (["--index_type", "IVFFlat", "--ivf_nlist", "0"], "ivf_nlist must be in [1, inf], got 0"),
    (["--index_type", "IVFFlat", "--ivf_nlist", "3001"],
     "ivf_nlist must be in [1, 3000], got 3001"),
    (["--index_type", "IVFFlat", "--ivf_nlist", "10", "--ivf_nprobe", "11"],
     "ivf_nprobe must be in [1, 10], got 11"),
    (["--index_type", "HNSWFlat", "--hnsw_M", "1"], "hnsw_M must be in [2, inf], got 1"),
    (["--index_type", "HNSWFlat", "--hnsw_efConstruction", "0"],
     "hnsw_efConstruction must be in [1, inf], got 0"),
    (["--index_type", "IVFFlat", "--hnsw_M", "16"], "hnsw_M applies to index_type HNSWFlat only"),
    (["--index_type", "HNSWFlat", "--num_queries", "0"], "num_queries must be in [1, inf]"),
    (["--index_type", "HNSWFlat", "--user_data", "x.csv"],
     "user_model_dir and user_data go together"),
    (["--index_type", "HNSWFlat", "--item_id_column", "sku"],
     "has no column 'sku' (item_id_column: the item ids)"),
    (["--index_type", "HNSWFlat", "--item_output", "score"],
     "name the output holding the vectors, one of ['item_emb'] (not 'score')"),
])
def test_usage_errors_name_the_argument(towers, tmp_path, capsys, extra, message):
    argv = ["--item_model_dir", towers["item"], "--item_data", towers["items"],
            "--index_output_dir", str(tmp_path / "index")] + extra
    assert message in _usage_error(capsys, argv)
    assert not os.path.exists(tmp_path / "index")


def test_bad_item_data_names_file_line_and_column(towers, tmp_path, capsys):
    def error(text, model=None):
        (tmp_path / "items.csv").write_text(text)
        return _usage_error(capsys, ["--item_model_dir", model or towers["item"], "--item_data",
                                     str(tmp_path / "items.csv"), "--index_output_dir",
                                     str(tmp_path / "index"), "--index_type", "HNSWFlat"])

    assert "line 3 and line 4" in error("item_id,item_category\n1,2\n5,2\n5,3\n")
    assert "column 'item_category': 'x' is not a int64" in error("item_id,item_category\n1,x\n")
    assert "line 2: 1 cells, the header names 2" in error("item_id,item_category\n1\n")
    assert "has no column 'item_category' (input 'item_category')" in error("item_id\n1\n")
    assert "at least one row" in error("item_id,item_category\n")
    # The full model has three outputs: which one is the item vector?
    assert "item_model_dir" in error("item_id,item_category\n1,2\n", towers["full"])
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "old").write_text("")
    err = error("item_id,item_category\n1,2\n")
    assert "index_output_dir" in err and "already exists" in err


@pytest.mark.slow
def test_command_line(towers, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mx_rec.tools.build_index", "--item_model_dir", towers["item"],
         "--item_data", towers["items"], "--index_output_dir", str(tmp_path / "index"),
         "--index_type", "IVFFlat", "--user_model_dir", towers["user"], "--user_data",
         towers["users"]], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "IVFFlat (ivf_nlist=76, ivf_nprobe=8) over 3000 items x 8 dims" in done.stdout
    assert "recall@10: " in done.stdout and "build: " in done.stdout
    assert sorted(os.listdir(tmp_path / "index")) == ["index.faiss", "index.json",
                                                       "item_ids.txt"]
