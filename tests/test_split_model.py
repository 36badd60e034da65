"""python -m mx_rec.tools.split_model: a two-tower SavedModel into a user and an item model."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import two_tower_model
from tensorflow.core.protobuf import saved_model_pb2

from mx_rec.tools import split_model

TOWER = {"user": ("user_id", "user_group"), "item": ("item_id", "item_category")}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """(full model dir, {tower: split model dir}, user keys, item keys)."""
    root = tmp_path_factory.mktemp("split")
    staging = root / "staging"
    staging.mkdir()
    user_keys, item_keys = two_tower_model.write(str(root / "full"), str(staging))
    parts = split_model.split_model(str(root / "full"), str(root / "user"), str(root / "item"))
    return str(root / "full"), {t: p.path for t, p in parts.items()}, user_keys, item_keys


def _graph(model_dir):
    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    (meta_graph,) = saved.meta_graphs
    return meta_graph


@pytest.mark.parametrize("tower,other", [("item", "user"), ("user", "item")])
def test_tower_holds_nothing_of_the_other(split, tower, other):
    _, dirs, _, _ = split
    meta_graph = _graph(dirs[tower])
    names = [n.name for n in meta_graph.graph_def.node]
    assert not [n for n in names if other in n], "nodes of the other tower"
    tables = [n.name for n in meta_graph.graph_def.node if "HashTable" in n.op]
    assert tables == [f"mx_rec/{tower}/keys"]
    saved = [name for name, _ in tf.train.list_variables(os.path.join(dirs[tower], "variables",
                                                                      "variables"))]
    assert saved == sorted([f"{tower}_tower/b", f"{tower}_tower/w", f"{TOWER[tower][1]}_emb"])
    assert sorted(os.listdir(os.path.join(dirs[tower], "assets"))) == \
        [f"{tower}.keys", f"{tower}.rows"]
    signature = meta_graph.signature_def[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    assert sorted(signature.inputs) == sorted(TOWER[tower])
    assert list(signature.outputs) == [f"{tower}_emb"]


def test_outputs_equal_the_full_model(split):
    full_dir, dirs, user_keys, item_keys = split
    features = two_tower_model.features(user_keys, item_keys, 400)
    full = two_tower_model.run(full_dir, features)
    for tower, path in dirs.items():
        got = two_tower_model.run(path, features)[f"{tower}_emb"]
        np.testing.assert_allclose(got, full[f"{tower}_emb"], atol=1e-6, rtol=0)
        assert np.abs(got).sum() > 0


@pytest.mark.slow
def test_split_model_runs_in_plain_tf2(split):
    """tf.saved_model.load (eager, TF2 API) in a process without mx_rec."""
    full_dir, dirs, user_keys, item_keys = split
    features = two_tower_model.features(user_keys, item_keys, 50)
    expected = two_tower_model.run(full_dir, features)["item_emb"]
    script = (
        "import sys, numpy as np\n"
        "sys.modules['mx_rec'] = None\n"
        "import tensorflow as tf\n"
        "f = tf.saved_model.load(sys.argv[1]).signatures['serving_default']\n"
        "out = f(item_id=tf.constant(np.array(eval(sys.argv[2]), np.int64)),\n"
        "        item_category=tf.constant(np.array(eval(sys.argv[3]), np.int64)))\n"
        "np.save(sys.argv[4], out['item_emb'].numpy())\n")
    out = os.path.join(os.path.dirname(dirs["item"]), "served.npy")
    subprocess.run([sys.executable, "-c", script, dirs["item"], repr(features["item_id"].tolist()),
                    repr(features["item_category"].tolist()), out], check=True, timeout=120)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6, rtol=0)


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        split_model.main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def _args(model_dir, user_dir, item_dir):
    return ["--model_dir", model_dir, "--user_model_dir", user_dir, "--item_model_dir", item_dir]


def test_usage_errors_name_the_argument(split, tmp_path, capsys):
    full_dir, dirs, _, _ = split
    new_user, new_item = str(tmp_path / "u"), str(tmp_path / "i")
    assert "--model_dir" in _usage_error(capsys, ["--user_model_dir", new_user,
                                                  "--item_model_dir", new_item])
    err = _usage_error(capsys, _args(str(tmp_path / "missing"), new_user, new_item))
    assert "model_dir" in err and "is not a directory" in err
    err = _usage_error(capsys, _args(str(tmp_path), new_user, new_item))
    assert "no SavedModel" in err
    err = _usage_error(capsys, _args(full_dir, dirs["user"], new_item))
    assert "user_model_dir" in err and "already exists" in err
    err = _usage_error(capsys, _args(full_dir, new_user, new_user))
    assert "user_model_dir and item_model_dir" in err
    err = _usage_error(capsys, _args(full_dir, new_user, new_item) + ["--tag_set", "train"])
    assert "tag_set 'train'" in err and "serve" in err
    err = _usage_error(capsys, _args(full_dir, new_user, new_item) +
                       ["--signature_def_key", "nope"])
    assert "signature_def_key 'nope'" in err and "serving_default" in err
    # The item model has no user_* output.
    err = _usage_error(capsys, _args(dirs["item"], new_user, new_item))
    assert "no output named user_*" in err and "item_emb" in err
    assert not os.path.exists(new_user) and not os.path.exists(new_item)


@pytest.mark.slow
def test_tf2_saved_model_is_refused(tmp_path, capsys):
    script = ("import sys, tensorflow as tf\n"
              "m = tf.Module()\n"
              "m.f = tf.function(lambda x: {'user_emb': x, 'item_emb': x},\n"
              "                  input_signature=[tf.TensorSpec([None], tf.float32)])\n"
              "tf.saved_model.save(m, sys.argv[1], signatures=m.f)\n")
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "tf2")], check=True, timeout=120)
    err = _usage_error(capsys, _args(str(tmp_path / "tf2"), str(tmp_path / "u"),
                                     str(tmp_path / "i")))
    assert "TF2 SavedModel" in err


@pytest.mark.slow
def test_command_line(split, tmp_path):
    full_dir = split[0]
    done = subprocess.run([sys.executable, "-m", "mx_rec.tools.split_model"] +
                          _args(full_dir, str(tmp_path / "u"), str(tmp_path / "i")),
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "item model:" in done.stdout and "inputs: item_category, item_id" in done.stdout
    assert os.path.exists(tmp_path / "i" / "saved_model.pb")
