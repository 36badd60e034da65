"""Splits a two-tower SavedModel into a user model and an item model.

  python -m mx_rec.tools.split_model --model_dir M --user_model_dir U --item_model_dir I

M is a TF1 graph SavedModel (mx_rec.export.export_saved_model,
Estimator.export_saved_model) whose signature outputs named user_* are the user
tower and item_* the item tower; other outputs (a score of both) go to neither.
U and I are stock-TF SavedModels with M's tag set and signature key: each
signature has its group's outputs and the inputs they read, and each graph
holds only the nodes those outputs need, with the variables (in variables/),
hash tables, asset files and main-op initializers of the resources they read.
U and I must not exist yet (or be empty directories); each appears whole or
not at all. Usage errors (a missing model, no user_* or item_* output, an
existing output directory) exit 2 naming the argument.
"""

import collections
import os
import sys

import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from mx_rec.tools import cli, output_dir, subgraph

TOWERS = ("user", "item")

# What one split model holds: its signature's inputs and outputs, its global
# variables (saved in variables/), local variables, hash tables and asset files.
Part = collections.namedtuple("Part", "path inputs outputs variables local_variables tables assets")


def read_meta_graph(model_dir, tag_set):
    """The MetaGraphDef of SavedModel `model_dir` tagged with exactly `tag_set` (a
    comma-separated string)."""
    if not os.path.isdir(model_dir):
        raise ValueError(f"model_dir '{model_dir}' is not a directory")
    saved = saved_model_pb2.SavedModel()
    pb, pbtxt = (os.path.join(model_dir, n) for n in ("saved_model.pb", "saved_model.pbtxt"))
    if os.path.exists(pb):
        with open(pb, "rb") as f:
            saved.ParseFromString(f.read())
    elif os.path.exists(pbtxt):
        with open(pbtxt) as f:
            text_format.Parse(f.read(), saved)
    else:
        raise ValueError(f"model_dir '{model_dir}' holds no SavedModel (no saved_model.pb)")
    tags = set(tag_set.split(","))
    for meta_graph in saved.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == tags:
            if meta_graph.object_graph_def.nodes:
                raise ValueError(
                    f"model_dir '{model_dir}' is a TF2 SavedModel (tf.saved_model.save), whose "
                    "signature is one function call: split_model splits TF1 graph SavedModels "
                    "(mx_rec.export.export_saved_model, Estimator.export_saved_model)")
            return meta_graph
    have = [",".join(sorted(m.meta_info_def.tags)) for m in saved.meta_graphs]
    raise ValueError(f"tag_set '{tag_set}' names no meta graph of model_dir '{model_dir}' "
                     f"(it has {have})")


def tower_outputs(signature, signature_def_key):
    """{tower: {output name: TensorInfo}}; a ValueError when a tower has none."""
    towers = {t: {k: v for k, v in signature.outputs.items() if k.startswith(t + "_")}
              for t in TOWERS}
    for tower, outputs in towers.items():
        if not outputs:
            raise ValueError(
                f"model_dir: signature '{signature_def_key}' has no output named {tower}_* "
                f"(its outputs: {sorted(signature.outputs)}); a two-tower model names its "
                "user tower's outputs user_* and its item tower's item_*")
    return towers


def asset_sources(model_dir, meta_graph):
    """{asset tensor name: its file in model_dir/assets}."""
    records = list(meta_graph.asset_file_def)
    legacy = meta_graph.collection_def.get(tf.compat.v1.saved_model.ASSETS_KEY)
    for value in legacy.any_list.value if legacy else ():
        record = meta_graph_pb2.AssetFileDef()
        value.Unpack(record)
        records.append(record)
    return {r.tensor_info.name: os.path.join(model_dir, "assets", r.filename) for r in records}


def _point_assets_at(graph_def, sources):
    """Makes each asset tensor's constant name its file in the source model,
    from which the SavedModel builder copies it."""
    nodes = {n.name: n for n in graph_def.node}
    for tensor_name, path in sources.items():
        node = nodes[subgraph.node_name(tensor_name)]
        if node.op != "Const":
            raise ValueError(f"model_dir: asset tensor '{tensor_name}' is a {node.op}, not a "
                             "string constant")
        node.attr["value"].tensor.string_val[:] = [path.encode()]


def _write_part(model_dir, meta_graph, signature_def_key, outputs, path):
    """Writes the SavedModel of `outputs` into directory `path`; returns its Part."""
    signature = meta_graph.signature_def[signature_def_key]
    keep = subgraph.needed_nodes(meta_graph, [t.name for t in outputs.values()])
    part = subgraph.prune(meta_graph, keep)
    assets = {t: p for t, p in asset_sources(model_dir, meta_graph).items()
              if subgraph.node_name(t) in keep}
    _point_assets_at(part.graph_def, assets)
    inputs = {k: v for k, v in signature.inputs.items() if subgraph.node_name(v.name) in keep}
    part_signature = meta_graph_pb2.SignatureDef(inputs=inputs, outputs=outputs,
                                                 method_name=signature.method_name)
    leaves = [n for n in subgraph.init_leaves(meta_graph) if n in keep]
    with tf.Graph().as_default() as graph:
        saver = tf.compat.v1.train.import_meta_graph(part, clear_devices=True)
        main_op = tf.group(*[graph.get_operation_by_name(n) for n in leaves],
                           name="main_op") if leaves else None
        with tf.compat.v1.Session(graph=graph) as sess:
            if saver is not None:
                saver.restore(sess, os.path.join(model_dir, "variables", "variables"))
            builder = tf.compat.v1.saved_model.Builder(path)
            builder.add_meta_graph_and_variables(
                sess, list(meta_graph.meta_info_def.tags), {signature_def_key: part_signature},
                assets_collection=[graph.get_tensor_by_name(t) for t in sorted(assets)],
                main_op=main_op, saver=saver)
            builder.save()
        variables = {k: [v.name for v in graph.get_collection(k)]
                     for k in (tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
                               tf.compat.v1.GraphKeys.LOCAL_VARIABLES)}
        tables = [op.name for op in graph.get_operations() if "HashTable" in op.type]
    return Part(path, sorted(inputs), sorted(outputs),
                variables[tf.compat.v1.GraphKeys.GLOBAL_VARIABLES],
                variables[tf.compat.v1.GraphKeys.LOCAL_VARIABLES], tables,
                sorted(os.path.basename(p) for p in assets.values()))


def split_model(model_dir, user_model_dir, item_model_dir, tag_set=tf.saved_model.SERVING,
                signature_def_key=tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY):
    """Splits two-tower SavedModel `model_dir` (see the module docstring) into
    `user_model_dir` and `item_model_dir`; returns {"user": Part, "item": Part}."""
    model_dir = os.path.abspath(model_dir)
    targets = {"user": output_dir.check_new("user_model_dir", user_model_dir),
               "item": output_dir.check_new("item_model_dir", item_model_dir)}
    if targets["user"] == targets["item"]:
        raise ValueError(f"user_model_dir and item_model_dir are both '{targets['user']}': "
                         "name two directories")
    meta_graph = read_meta_graph(model_dir, tag_set)
    if signature_def_key not in meta_graph.signature_def:
        raise ValueError(f"signature_def_key '{signature_def_key}' is not a signature of "
                         f"model_dir '{model_dir}' (it has {sorted(meta_graph.signature_def)})")
    towers = tower_outputs(meta_graph.signature_def[signature_def_key], signature_def_key)
    with output_dir.staged("user_model_dir", targets["user"]) as user_dir, \
            output_dir.staged("item_model_dir", targets["item"]) as item_dir:
        staging = {"user": user_dir, "item": item_dir}
        parts = {t: _write_part(model_dir, meta_graph, signature_def_key, towers[t], staging[t])
                 for t in TOWERS}
    return {t: p._replace(path=targets[t]) for t, p in parts.items()}


def _report(parts, out):
    for tower, part in parts.items():
        print(f"{tower} model: {part.path}\n"
              f"  inputs: {', '.join(part.inputs) or '-'}\n"
              f"  outputs: {', '.join(part.outputs)}\n"
              f"  variables: {len(part.variables)} saved, {len(part.local_variables)} local "
              f"(asset-initialised)\n"
              f"  hash tables: {len(part.tables)}, asset files: {', '.join(part.assets) or '-'}",
              file=out)


def main(argv=None, out=None):
    parser = cli.parser("mx_rec.tools.split_model", __doc__)
    parser.add_argument("--model_dir", required=True, help="the two-tower SavedModel")
    parser.add_argument("--user_model_dir", required=True, help="where the user model goes")
    parser.add_argument("--item_model_dir", required=True, help="where the item model goes")
    parser.add_argument("--tag_set", default=tf.saved_model.SERVING,
                        help="tags of the meta graph to split, comma-separated "
                        "(default: %(default)s)")
    parser.add_argument("--signature_def_key",
                        default=tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY,
                        help="signature to split (default: %(default)s)")

    def command(args):
        _report(split_model(args.model_dir, args.user_model_dir, args.item_model_dir,
                            args.tag_set, args.signature_def_key), out or sys.stdout)
        return 0

    return cli.run(parser, argv, command)


if __name__ == "__main__":
    sys.exit(main())
