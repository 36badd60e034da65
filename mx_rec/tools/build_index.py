"""Embeds every item with an item model and builds a faiss index of the vectors.

  python -m mx_rec.tools.build_index --item_model_dir I --item_data items.csv \\
      --index_output_dir OUT --index_type IVFFlat|HNSWFlat \\
      [--ivf_nlist N] [--ivf_nprobe P] [--hnsw_M M] [--hnsw_efConstruction E] [--hnsw_efSearch S] \\
      [--user_model_dir U --user_data users.csv] [--num_queries Q] [--seed 0]

I is an item tower SavedModel (python -m mx_rec.tools.split_model makes one
from a two-tower model); its signature output (--item_output, needed only when
it has several) gives each item's vector. --item_data is a text file with a
header line: one column per input of the item model, and --item_id_column
(default item_id) naming each item (tab-separated when the header holds a
tab, comma-separated otherwise; an input whose rows are k-vectors takes k
space-separated values in a cell). The index uses the inner product.

OUT (new, written whole or not at all) receives index.faiss
(faiss.read_index), item_ids.txt (line i: the id of the index's vector i) and
index.json (parameters, sizes, build time, recall@10).

recall@10: how much of the exact inner-product top 10 the index returns, on
--num_queries query vectors (default 1000): users of --user_data embedded by
the user model --user_model_dir (a user tower; --user_output as above), or,
without a user model, item vectors of the index itself. Usage errors exit 2
naming the argument and its allowed range.
"""

import json
import os
import sys
import time

import numpy as np

from mx_rec.tools import cli, faiss_index, output_dir
from mx_rec.tools.feature_file import FeatureFile
from mx_rec.tools.tower import Tower
from mx_rec.util.validation import check_int

RECALL_K = 10
# Options that apply to one index type only.
TYPE_OPTIONS = {"IVFFlat": ("ivf_nlist", "ivf_nprobe"),
                "HNSWFlat": ("hnsw_M", "hnsw_efConstruction", "hnsw_efSearch")}
DEFAULTS = {"ivf_nprobe": 8, "hnsw_M": 32, "hnsw_efConstruction": 40, "hnsw_efSearch": 64}


def _check_options(index_type, options):
    """The index type's options with their defaults; a ValueError for an
    option of the other type or out of range."""
    if index_type not in TYPE_OPTIONS:
        raise ValueError(f"index_type must be one of {', '.join(TYPE_OPTIONS)}, "
                         f"got {index_type!r}")
    for other, names in TYPE_OPTIONS.items():
        for name in names:
            if other != index_type and options.get(name) is not None:
                raise ValueError(f"{name} applies to index_type {other} only (index_type is "
                                 f"{index_type})")
    chosen = {n: DEFAULTS.get(n) if options[n] is None else options[n]
              for n in TYPE_OPTIONS[index_type]}
    for name, value in chosen.items():
        if value is not None:
            check_int(name, value, 2 if name == "hnsw_M" else 1)
    return chosen


def _item_ids(items, column):
    ids = items.column(column, "item_id_column: the item ids")
    seen = {}
    for line, item in enumerate(ids, start=2):
        if item in seen:
            raise ValueError(f"item_data '{items.path}': item id '{item}' is on line "
                             f"{seen[item]} and line {line}; each item must be on one line")
        seen[item] = line
    return ids


def _queries(vectors, user_model_dir, user_data, user_output, num_queries, rng, batch_size):
    """(query vectors, what they are): sampled users, or sampled items."""
    if user_model_dir is None:
        pick = np.sort(rng.choice(len(vectors), min(num_queries, len(vectors)), replace=False))
        return vectors[pick], f"{len(pick)} sampled item vectors"
    users = FeatureFile("user_data", user_data)
    tower = Tower("user_model_dir", user_model_dir, user_output)
    try:
        pick = np.sort(rng.choice(users.rows, min(num_queries, users.rows), replace=False))
        queries = tower.embed(users.inputs(tower.inputs, pick), batch_size)
    finally:
        tower.close()
    if queries.shape[1] != vectors.shape[1]:
        raise ValueError(f"user_model_dir output '{tower.output}' has {queries.shape[1]} "
                         f"dimensions, the item vectors {vectors.shape[1]}")
    return queries, f"{len(pick)} sampled users of {user_data}"


def build_index(item_model_dir, item_data, index_output_dir, index_type, ivf_nlist=None,
                ivf_nprobe=None, hnsw_M=None, hnsw_efConstruction=None, hnsw_efSearch=None,
                item_id_column="item_id", item_output=None, user_model_dir=None,
                user_data=None, user_output=None, num_queries=1000, seed=0, batch_size=1024):
    """Builds the index (see the module docstring; parameters are the
    command's options); returns the report written to index.json."""
    # pylint: disable=invalid-name,too-many-arguments,too-many-locals
    options = _check_options(index_type, {
        "ivf_nlist": ivf_nlist, "ivf_nprobe": ivf_nprobe, "hnsw_M": hnsw_M,
        "hnsw_efConstruction": hnsw_efConstruction, "hnsw_efSearch": hnsw_efSearch})
    check_int("num_queries", num_queries, 1)
    check_int("batch_size", batch_size, 1)
    if (user_model_dir is None) != (user_data is None):
        raise ValueError("user_model_dir and user_data go together: give both (users as "
                         "recall queries) or neither (items as queries)")
    if user_output is not None and user_model_dir is None:
        raise ValueError("user_output needs user_model_dir")
    target = output_dir.check_new("index_output_dir", index_output_dir)
    items = FeatureFile("item_data", item_data)
    ids = _item_ids(items, item_id_column)
    tower = Tower("item_model_dir", item_model_dir, item_output)
    try:
        start = time.perf_counter()
        vectors = tower.embed(items.inputs(tower.inputs), batch_size)
        embed_seconds = time.perf_counter() - start
    finally:
        tower.close()
    if index_type == "IVFFlat":
        nlist = options["ivf_nlist"] or faiss_index.default_nlist(len(vectors))
        options["ivf_nlist"] = check_int("ivf_nlist", nlist, 1, len(vectors))
        check_int("ivf_nprobe", options["ivf_nprobe"], 1, nlist)
    index, build_seconds = faiss_index.build(
        vectors, index_type, nlist=options.get("ivf_nlist"), nprobe=options.get("ivf_nprobe"),
        hnsw_m=options.get("hnsw_M"), ef_construction=options.get("hnsw_efConstruction"),
        ef_search=options.get("hnsw_efSearch"))
    queries, query_source = _queries(vectors, user_model_dir, user_data, user_output,
                                     num_queries, np.random.default_rng(seed), batch_size)
    report = {
        "index_type": index_type, "metric": "inner_product", "options": options,
        "items": len(vectors), "dim": int(vectors.shape[1]), "item_model_dir": item_model_dir,
        "item_output": tower.output, "embed_seconds": round(embed_seconds, 3),
        "build_seconds": round(build_seconds, 3), "queries": query_source,
        f"recall@{RECALL_K}": round(faiss_index.recall_at_k(index, vectors, queries,
                                                            RECALL_K), 4)}
    with output_dir.staged("index_output_dir", target) as staging:
        faiss_index.write(index, os.path.join(staging, "index.faiss"))
        with open(os.path.join(staging, "item_ids.txt"), "w") as f:
            f.writelines(f"{i}\n" for i in ids)
        with open(os.path.join(staging, "index.json"), "w") as f:
            json.dump(report, f, indent=2)
    return report


def main(argv=None, out=None):
    parser = cli.parser("mx_rec.tools.build_index", __doc__)
    arg = parser.add_argument
    arg("--item_model_dir", required=True, help="item tower SavedModel")
    arg("--item_data", required=True, help="items: header + one row per item (see above)")
    arg("--index_output_dir", required=True, help="new directory for the index files")
    arg("--index_type", required=True, choices=list(TYPE_OPTIONS))
    arg("--ivf_nlist", type=int, help="IVF lists, 1..items (default: 4 sqrt(items), "
        f"at least {faiss_index.POINTS_PER_LIST} items a list)")
    arg("--ivf_nprobe", type=int, help=f"IVF lists searched, 1..nlist (default "
        f"{DEFAULTS['ivf_nprobe']}, at most nlist)")
    arg("--hnsw_M", type=int, help=f"HNSW links a node, >= 2 (default {DEFAULTS['hnsw_M']})")
    arg("--hnsw_efConstruction", type=int, help="HNSW candidates when adding, >= 1 (default "
        f"{DEFAULTS['hnsw_efConstruction']})")
    arg("--hnsw_efSearch", type=int, help="HNSW candidates when searching, >= 1 (default "
        f"{DEFAULTS['hnsw_efSearch']})")
    arg("--item_id_column", default="item_id", help="column of --item_data naming each item")
    arg("--item_output", help="item model output holding the vectors (if it has several)")
    arg("--user_model_dir", help="user tower SavedModel: its vectors of --user_data are "
        "the recall queries")
    arg("--user_data", help="users: header + one row per user (same format as --item_data)")
    arg("--user_output", help="user model output holding the vectors (if it has several)")
    arg("--num_queries", type=int, default=1000, help="queries for recall@10, >= 1")
    arg("--seed", type=int, default=0, help="seed of the query sample")
    arg("--batch_size", type=int, default=1024, help="rows a model run, >= 1")

    def command(args):
        report = build_index(**vars(args))
        opts = ", ".join(f"{k}={v}" for k, v in report["options"].items())
        print(f"{report['index_type']} ({opts}) over {report['items']} items x "
              f"{report['dim']} dims -> {args.index_output_dir}\n"
              f"  embed: {report['embed_seconds']:.3f} s, build: "
              f"{report['build_seconds']:.3f} s\n"
              f"  recall@{RECALL_K}: {report[f'recall@{RECALL_K}']:.4f} against exact "
              f"inner-product search ({report['queries']})", file=out or sys.stdout)
        return 0

    return cli.run(parser, argv, command)


if __name__ == "__main__":
    sys.exit(main())
