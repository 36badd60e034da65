"""python -m mx_rec.tools.checkpoint list|inspect|verify and mx_rec.checkpoint.manifest,
on checkpoints written here in the documented format
(src/cpp/include/asc/table_checkpoint.h): a real TF checkpoint holding the
"mx_rec/<table>/checkpoint" entries, and table directories beside it."""

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf

from mx_rec.checkpoint import manifest as mf
from mx_rec.tools import checkpoint as tool

CREATED = 1_700_000_000
BLOCKS = [{"name": "embedding", "width": 4}, {"name": "adagrad/accumulator", "width": 4}]


def write_table_dir(directory, table, rows, records, kind="full", chain=(), tombstones=0,
                    step=0):
    """A table checkpoint directory as SaveTableCheckpoint writes it."""
    os.makedirs(directory)
    rng = np.random.default_rng(rows)
    data = {"keys.bin": np.arange(rows, dtype="<i8").tobytes(),
            "freq.bin": np.full(rows, 3, "<u4").tobytes(),
            "admission.bin": np.ones((records, 3), "<i8").tobytes(),
            "tombstones.bin": np.arange(tombstones, dtype="<i8").tobytes()}
    for i, block in enumerate(BLOCKS):
        data[f"block-{i}.bin"] = rng.random((rows, block["width"]), np.float32).tobytes()
    files = []
    for name, payload in data.items():
        with open(os.path.join(directory, name), "wb") as f:
            f.write(payload)
        files.append({"name": name, "bytes": len(payload), "crc32": zlib.crc32(payload)})
    manifest = {"format": "mx_rec.table_checkpoint", "format_version": 1, "kind": kind,
                "chain": list(chain), "tombstones": tombstones, "table": table,
                "schema": {"key_dtype": "int64", "dim": 4, "blocks": BLOCKS},
                "global_step": step, "created_unix": CREATED + step, "rows": rows,
                "admission_records": records, "has_admission": True,
                "clocks": {"steps": step, "admission_time": 0, "admission_steps": step},
                "files": files}
    write_manifest(os.path.join(directory, "manifest.json"), json.dumps(manifest, indent=1))


def write_manifest(path, text):
    """manifest.json and its manifest.crc32."""
    data = text.encode()
    with open(path, "wb") as f:
        f.write(data)
    with open(os.path.join(os.path.dirname(path), "manifest.crc32"), "w") as f:
        f.write(f"{zlib.crc32(data):08x}")


@pytest.fixture
def model_dir(tmp_path):
    """Versions 20 (both tables full) and 100 ("user" a delta on 20's, "item/emb"
    full), saved by one Saver (so the `checkpoint` file lists both)."""
    entries = {20: {"user": "user@00000000000000a1", "item/emb": "item_emb@00000000000000b1"},
               100: {"user": "user@00000000000000a2", "item/emb": "item_emb@00000000000000b2"}}
    with tf.Graph().as_default():
        holders = {t: tf.compat.v1.Variable("", name=f"entry_{i}")
                   for i, t in enumerate(entries[20])}
        values = {t: tf.compat.v1.placeholder(tf.string) for t in holders}
        assign = [holders[t].assign(values[t]) for t in holders]
        var_list = {f"mx_rec/{t}/checkpoint": v for t, v in holders.items()}
        var_list["dense"] = tf.compat.v1.Variable([1.0, 2.0], name="dense")
        saver = tf.compat.v1.train.Saver(var_list, max_to_keep=10)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            for step, names in entries.items():
                sess.run(assign, {values[t]: e for t, e in names.items()})
                saver.save(sess, str(tmp_path / "model.ckpt"), global_step=step)
    # Table directories after the TF checkpoints, as a save commits them.
    write_table_dir(tmp_path / "model.ckpt-20.mx_rec" / entries[20]["user"], "user", 3, 2,
                    step=20)
    write_table_dir(tmp_path / "model.ckpt-20.mx_rec" / entries[20]["item/emb"], "item/emb", 5,
                    0, step=20)
    write_table_dir(tmp_path / "model.ckpt-100.mx_rec" / entries[100]["user"], "user", 2, 1,
                    kind="delta", chain=[f"model.ckpt-20.mx_rec/{entries[20]['user']}"],
                    tombstones=1, step=100)
    write_table_dir(tmp_path / "model.ckpt-100.mx_rec" / entries[100]["item/emb"], "item/emb", 7,
                    0, step=100)
    return tmp_path


def run(*argv):
    out = io.StringIO()
    code = tool.main(list(argv), out=out)
    return code, out.getvalue()


def local_time(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def test_versions_by_step_with_state_file(model_dir):
    versions = mf.find_versions(str(model_dir))
    assert [(os.path.basename(v.prefix), v.step) for v in versions] == [
        ("model.ckpt-20", 20), ("model.ckpt-100", 100)]
    assert all(v.has_index and v.in_state for v in versions)
    assert mf.table_entries(versions[0].prefix) == {"user": "user@00000000000000a1",
                                                    "item/emb": "item_emb@00000000000000b1"}


def test_list(model_dir):
    code, out = run("list", str(model_dir))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["PREFIX", "STEP", "TIME", "KIND", "TABLES", "ROWS", "SIZE"]
    first, second = lines[1].split(), lines[2].split()
    assert first[:7] == [str(model_dir / "model.ckpt-20"), "20", *local_time(CREATED + 20).split(),
                         "full", "2", "8"]
    assert second[:7] == [str(model_dir / "model.ckpt-100"), "100",
                          *local_time(CREATED + 100).split(), "delta,full", "2", "9"]
    assert first[-1] in ("B", "KiB")


def test_list_one_prefix(model_dir):
    code, out = run("list", str(model_dir / "model.ckpt-100"))
    assert code == 0
    assert len(out.splitlines()) == 2 and "model.ckpt-100 " in out


def test_inspect(model_dir):
    code, out = run("inspect", str(model_dir / "model.ckpt-100"))
    assert code == 0
    assert f"model.ckpt-100: step 100, {local_time(CREATED + 100)}, 2 tables" in out
    assert "table 'user': user@00000000000000a2 (delta)" in out
    assert "rows 2, admission records 1, tombstones 1, global step 100" in out
    assert "schema: key int64, dim 4, blocks embedding[4], adagrad/accumulator[4]" in out
    assert "chain: model.ckpt-20.mx_rec/user@00000000000000a1" in out
    assert "table 'item/emb': item_emb@00000000000000b2 (full)" in out
    item, user = out.split("table 'user'")  # tables in name order
    files = [line.split()[:3] for line in item.split("files:")[1].splitlines() if line.strip()]
    assert files == [["keys.bin", "56", "bytes"], ["freq.bin", "28", "bytes"],  # 7 rows
                     ["admission.bin", "0", "bytes"], ["tombstones.bin", "0", "bytes"],
                     ["block-0.bin", "112", "bytes"], ["block-1.bin", "112", "bytes"]]
    assert ["block-1.bin", "32", "bytes"] in [line.split()[:3] for line in user.splitlines()]


def test_verify_ok(model_dir):
    code, out = run("verify", str(model_dir))
    assert code == 0, out
    assert f"{model_dir / 'model.ckpt-20'}: OK" in out
    assert f"{model_dir / 'model.ckpt-100'}: OK" in out
    assert out.splitlines()[-1] == "OK: 2 versions, 4 table directories verified"


def test_verify_corrupt_byte(model_dir):
    path = model_dir / "model.ckpt-20.mx_rec" / "user@00000000000000a1" / "block-1.bin"
    data = bytearray(path.read_bytes())
    data[5] ^= 0x40
    path.write_bytes(bytes(data))
    code, out = run("verify", str(model_dir))
    assert code == 1
    problems = [line for line in out.splitlines() if "CRC-32" in line]
    # Version 20 holds the file, version 100's delta builds on it.
    assert len(problems) == 2 and all(f"'{path}' fails its CRC-32 check" in p for p in problems)
    assert "builds on" in problems[1]
    assert out.splitlines()[-1] == "0 of 2 versions OK"


def test_verify_truncated_file(model_dir):
    path = model_dir / "model.ckpt-100.mx_rec" / "item_emb@00000000000000b2" / "keys.bin"
    path.write_bytes(path.read_bytes()[:-8])
    code, out = run("verify", str(model_dir / "model.ckpt-100"))
    assert code == 1
    assert f"'{path}' has 48 bytes, its manifest says 56" in out


def test_verify_missing_table_dir(model_dir):
    missing = model_dir / "model.ckpt-100.mx_rec" / "item_emb@00000000000000b2"
    shutil.rmtree(missing)
    code, out = run("verify", str(model_dir))
    assert code == 1
    assert f"{model_dir / 'model.ckpt-20'}: OK" in out
    assert (f"{model_dir / 'model.ckpt-100'}: table 'item/emb': table checkpoint directory "
            f"'{missing}' does not exist") in out
    assert out.splitlines()[-1] == "1 of 2 versions OK"
    code, out = run("list", str(model_dir))  # still lists, rows unknown
    assert code == 0 and out.splitlines()[2].split()[5:7] == ["2", "?"]


def test_verify_missing_tf_index(model_dir):
    os.remove(model_dir / "model.ckpt-20.index")
    code, out = run("verify", str(model_dir))
    assert code == 1
    assert f"'{model_dir / 'model.ckpt-20'}.index' is missing" in out


def test_unreadable_manifests(tmp_path):
    directory = tmp_path / "t@0"
    write_table_dir(directory, "t", 1, 0)
    path = directory / "manifest.json"
    good = json.loads(path.read_text())
    for text, message in [("{not json", "is malformed"),
                          (json.dumps(dict(good, format_version=2)), "has format_version 2"),
                          (json.dumps(dict(good, format="other")), "is not an mx_rec table"),
                          (json.dumps({k: v for k, v in good.items() if k != "files"}),
                           "no 'files'")]:
        write_manifest(str(path), text)
        with pytest.raises(ValueError, match=message) as raised:
            mf.read_manifest(str(directory))
        assert str(path) in str(raised.value)
        assert mf.verify_table_dir(str(directory)) == [str(raised.value)]
    write_manifest(str(path), json.dumps(dict(good, kind="something-new")))
    assert mf.read_manifest(str(directory))["kind"] == "something-new"
    write_manifest(str(path), json.dumps(dict(good, rows=2)))  # files too small for 2 rows
    assert any("lists 'keys.bin' with 8 bytes; its counts and schema need 16" in p
               for p in mf.verify_table_dir(str(directory)))


def test_nonexistent_dir(tmp_path, capsys):
    assert tool.main(["verify", str(tmp_path / "nope")]) == 2
    assert f"'{tmp_path / 'nope'}' does not exist" in capsys.readouterr().err
    assert tool.main(["list", str(tmp_path)]) == 2  # a directory without checkpoints
    assert "holds no TF checkpoint" in capsys.readouterr().err


def test_command_line(model_dir, tmp_path):
    def cli(*argv):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        return subprocess.run([sys.executable, "-m", "mx_rec.tools.checkpoint", *argv],
                              capture_output=True, text=True, env=env,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = cli("verify", str(model_dir))
    assert done.returncode == 0, done.stderr
    assert "OK: 2 versions" in done.stdout
    done = cli("verify", str(tmp_path / "nope"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert cli("frobnicate", str(model_dir)).returncode == 2


def test_a_manifest_edited_behind_its_checksum_fails_verify(model_dir):
    directory = model_dir / "model.ckpt-20.mx_rec"
    entry = next(p for p in directory.iterdir() if p.name.startswith("user@"))
    path = entry / "manifest.json"
    path.write_text(path.read_text().replace('"steps": 20', '"steps": 99'))
    code, out = run("verify", str(model_dir))
    assert code == 1
    assert f"'{path}' does not match its CRC-32 in manifest.crc32 (corrupt)" in out
