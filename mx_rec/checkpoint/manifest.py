"""Reading sparse checkpoints from disk: versions, table directories, manifests.

A checkpoint directory (model_dir) holds TF checkpoints "<dir>/<name>-<step>"
(files <prefix>.index, <prefix>.data-*, <prefix>.meta) and the TF `checkpoint`
state file listing them. Beside each TF checkpoint <prefix>, its tables are in
"<prefix>.mx_rec/<entry>", where the TF checkpoint stores each table's entry
as the string tensor "mx_rec/<table>/checkpoint". A table directory holds
manifest.json and the data files it lists with their sizes and CRC-32s
(format: src/cpp/include/asc/table_checkpoint.h). A delta names in "chain" the
directories it builds on, relative to the checkpoint directory.

Nothing here imports TensorFlow until a TF checkpoint must be read.
"""

import collections
import json
import os
import re
import zlib

FORMAT = "mx_rec.table_checkpoint"
FORMAT_VERSION = 1
SPARSE_SUFFIX = ".mx_rec"  # <prefix> + SPARSE_SUFFIX holds the tables of TF checkpoint <prefix>
_TENSOR_PREFIX, _TENSOR_SUFFIX = "mx_rec/", "/checkpoint"
_CHUNK = 1 << 20

# One TF checkpoint. step: from the "-<step>" suffix (None without one);
# has_index: <prefix>.index exists; in_state: listed in the `checkpoint` file.
Version = collections.namedtuple("Version", "prefix step has_index in_state")


def tensor_name(table):
    """Name of the string tensor in a TF checkpoint naming `table`'s directory."""
    return f"{_TENSOR_PREFIX}{table}{_TENSOR_SUFFIX}"


def table_of_tensor(name):
    """The table whose directory TF checkpoint tensor `name` names (None for
    any other tensor)."""
    if name.startswith(_TENSOR_PREFIX) and name.endswith(_TENSOR_SUFFIX) and \
            len(name) > len(_TENSOR_PREFIX) + len(_TENSOR_SUFFIX):
        return name[len(_TENSOR_PREFIX):-len(_TENSOR_SUFFIX)]
    return None


def step_of(prefix):
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else None


def state_prefixes(checkpoint_dir):
    """Prefixes the TF `checkpoint` state file of checkpoint_dir lists (absolute)."""
    if not os.path.exists(os.path.join(checkpoint_dir, "checkpoint")):
        return []
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    state = tf.train.get_checkpoint_state(checkpoint_dir)
    if state is None:
        return []
    return [os.path.abspath(os.path.join(checkpoint_dir, p))
            for p in state.all_model_checkpoint_paths]


def indexed_prefixes(checkpoint_dir):
    """Prefixes (joined to checkpoint_dir) of the TF checkpoints with an .index
    file: the complete ones."""
    return {os.path.join(checkpoint_dir, name[:-len(".index")])
            for name in os.listdir(checkpoint_dir) if name.endswith(".index")}


def find_versions(checkpoint_dir):
    """Every TF checkpoint of checkpoint_dir: the prefixes with an .index file
    and the ones the state file lists, as Versions ordered by global step."""
    checkpoint_dir = os.path.abspath(checkpoint_dir)
    indexed = indexed_prefixes(checkpoint_dir)
    listed = set(state_prefixes(checkpoint_dir))
    found = [Version(p, step_of(p), p in indexed, p in listed) for p in indexed | listed]
    return sorted(found, key=lambda v: (-1 if v.step is None else v.step, v.prefix))


def table_entries(prefix):
    """{table name: entry} stored in the TF checkpoint at prefix (raises
    ValueError naming the prefix when it cannot be read)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    try:
        reader = tf.train.load_checkpoint(prefix)
        entries = {table_of_tensor(n): reader.get_tensor(n)
                   for n in sorted(reader.get_variable_to_shape_map()) if table_of_tensor(n)}
    except Exception as e:  # pylint: disable=broad-except  # TF raises many kinds
        raise ValueError(f"cannot read TF checkpoint '{prefix}': {e}") from e
    return {t: e.decode() if isinstance(e, bytes) else str(e) for t, e in entries.items()}


def table_dir(prefix, entry):
    """The directory of the table checkpoint `entry` of TF checkpoint `prefix`."""
    if not entry or "/" in entry or entry in (".", ".."):
        raise ValueError(f"TF checkpoint '{prefix}' names a table directory '{entry}' that is "
                         "not a plain directory name")
    return f"{prefix}{SPARSE_SUFFIX}/{entry}"


def chain_dirs(directory, manifest):
    """The directories a delta builds on (full first); [] for a full one."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(directory)))
    return [os.path.join(root, link) for link in manifest.get("chain", [])]


def _check(condition, path, what):
    if not condition:
        raise ValueError(f"checkpoint manifest '{path}' is malformed: {what}")


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def read_manifest(directory):
    """The manifest of table directory `directory`, as a dict. ValueError
    (naming the file) when it is missing, malformed or of another format."""
    path = os.path.join(directory, "manifest.json")
    if not os.path.isdir(directory):
        raise ValueError(f"table checkpoint directory '{directory}' does not exist")
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"table checkpoint '{directory}' has no manifest.json "
                         "(an unfinished save?)") from None
    try:
        with open(os.path.join(directory, "manifest.crc32"), encoding="ascii") as f:
            crc = f.read().strip()
    except (OSError, UnicodeDecodeError):
        raise ValueError(f"table checkpoint '{directory}' has no manifest.crc32") from None
    if crc != f"{zlib.crc32(text):08x}":
        raise ValueError(f"'{path}' does not match its CRC-32 in manifest.crc32 (corrupt)")
    try:
        manifest = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"checkpoint manifest '{path}' is malformed: {e}") from None
    _check(isinstance(manifest, dict), path, "not a JSON object")
    if manifest.get("format") != FORMAT:
        raise ValueError(f"'{path}' is not an mx_rec table checkpoint manifest")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"'{path}' has format_version {version}; this mx_rec reads version "
                         f"{FORMAT_VERSION}")
    for field in ("kind", "table", "schema", "rows", "admission_records", "clocks", "files"):
        _check(field in manifest, path, f"no '{field}'")
    _check(isinstance(manifest["kind"], str), path, "'kind' is not a string")
    for field in ("rows", "admission_records"):
        _check(_is_int(manifest[field]) and manifest[field] >= 0, path,
               f"'{field}' is not a count")
    schema = manifest["schema"]
    _check(isinstance(schema, dict) and isinstance(schema.get("blocks"), list)
           and all(isinstance(b, dict) and isinstance(b.get("name"), str)
                   and _is_int(b.get("width")) for b in schema["blocks"])
           and "key_dtype" in schema and _is_int(schema.get("dim")), path, "bad 'schema'")
    _check(isinstance(manifest["files"], list), path, "'files' is not a list")
    for entry in manifest["files"]:
        _check(isinstance(entry, dict) and isinstance(entry.get("name"), str)
               and entry["name"] and "/" not in entry["name"]
               and entry["name"] not in (".", "..")
               and _is_int(entry.get("bytes")) and _is_int(entry.get("crc32")), path,
               f"bad file entry {json.dumps(entry)}")
    chain = manifest.get("chain", [])
    _check(isinstance(chain, list) and all(isinstance(c, str) for c in chain), path,
           "'chain' is not a list of paths")
    return manifest


def expected_sizes(manifest):
    """{file name: bytes} the counts and schema of a manifest imply."""
    rows = manifest["rows"]
    sizes = {"keys.bin": 8 * rows, "freq.bin": 4 * rows,
             "admission.bin": 24 * manifest["admission_records"]}
    for i, block in enumerate(manifest["schema"]["blocks"]):
        sizes[f"block-{i}.bin"] = 4 * rows * block["width"]
    if _is_int(manifest.get("tombstones")):
        sizes["tombstones.bin"] = 8 * manifest["tombstones"]
    return sizes


def file_crc32(path):
    """CRC-32 (zlib) of a file, read in chunks."""
    crc = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            crc = zlib.crc32(chunk, crc)
    return crc


def verify_table_dir(directory):
    """Problems of table directory `directory` (each naming the file), [] when
    its manifest is sound and every file it lists has its size and CRC-32."""
    try:
        manifest = read_manifest(directory)
    except ValueError as e:
        return [str(e)]
    problems = []
    listed = {entry["name"]: entry["bytes"] for entry in manifest["files"]}
    for name, size in expected_sizes(manifest).items():
        if name not in listed and name != "tombstones.bin":
            problems.append(f"'{directory}/manifest.json' lists no '{name}'")
        elif name in listed and listed[name] != size:
            problems.append(f"'{directory}/manifest.json' lists '{name}' with {listed[name]} "
                            f"bytes; its counts and schema need {size}")
    for entry in manifest["files"]:
        path = os.path.join(directory, entry["name"])
        try:
            size = os.path.getsize(path)
            if size != entry["bytes"]:
                problems.append(f"'{path}' has {size} bytes, its manifest says {entry['bytes']} "
                                "(truncated or overwritten)")
            elif file_crc32(path) != entry["crc32"]:
                problems.append(f"'{path}' fails its CRC-32 check (corrupt)")
        except FileNotFoundError:
            problems.append(f"'{path}' is missing")
        except OSError as e:
            problems.append(f"cannot read '{path}': {e.strerror or e}")
    return problems
