"""Synthetic Criteo-like data of any size with a planted click model.

    python synthetic.py --out-dir DIR --rows 2000000 --eval-rows 200000

writes DIR/train.tsv and DIR/eval.tsv in the Kaggle format the reader takes
(label, I1..I13, C1..C26, tab-separated, empty field = missing) and
DIR/planted.json, and prints the planted model's own AUC on each file: the
best AUC a model can reach on those labels (the labels are drawn from it).

Categorical field Ck draws ranks 0..V_k-1 from a Zipf law (P(rank r) ~
(r+1)^-zipf, --zipf); the field sizes V_k are log-spaced from --min-vocab
to --max-vocab over C1..C26. A rank is written as 8 hex digits through a
bijection of 32-bit numbers, so ids look like Criteo's and distinct ranks
stay distinct. Some fields are missing in some rows (empty), as in Criteo.
Dense field Ij is a count: floor(expm1(mu_j + s_j * N(0, 1))), sometimes
missing.

The planted model is logistic:

    logit = bias + sum_k w_k(id_k) + sum_j b_j * (x_j - (1 - q_j) mu_j) / s_j

on exactly what the reader gives the model (x_j = log1p(max(I_j, 0)), 0
when missing; a missing id is one more id of its field). An id's weight is
normal with its field's scale, shrunk by 1 / (1 + rank / --head-ranks):
frequent ids carry the signal and rare ids little, as in real click logs,
so one pass over enough rows can learn most of what there is to learn (the
planted AUC is the ceiling of any model: with weights that stayed large for
ids seen a few hundred times, one pass over 2M rows could not get within
0.01 of it, not even a logistic regression of the planted model's own form). Weights are
a hash of (seed, field, rank), so any number of rows, in any chunking, sees
the same model; the rows of the train and eval files are independent draws.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "..", "common"))  # modules shared by the examples

from criteo import NUM_DENSE, NUM_SPARSE  # noqa: E402
from metrics import log_loss, roc_auc  # noqa: E402

CHUNK_ROWS = 1 << 16
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_MASK32 = np.uint64(0xFFFFFFFF)


def _mix64(x):
    """splitmix64's finalizer over uint64 arrays: a well-mixed hash."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _unit(seed, field, ranks, stream):
    """Uniform (0, 1) numbers, a hash of (seed, field, rank, stream)."""
    base = np.uint64((seed * 1000003 + field * 131 + stream) & 0xFFFFFFFFFFFF) << np.uint64(16)
    h = _mix64((np.asarray(ranks, np.uint64) + base) * np.uint64(0x9E3779B97F4A7C15))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


class PlantedModel(object):
    """The field sizes, id law, dense law and click model of one seed."""

    def __init__(self, seed, min_vocab, max_vocab, zipf, head_ranks):
        self.seed, self.zipf, self.head_ranks = seed, zipf, head_ranks
        self.vocabs = np.round(np.geomspace(min_vocab, max_vocab, NUM_SPARSE)).astype(np.int64)
        rng = np.random.default_rng([seed, 7])
        self.id_scale = rng.uniform(0.15, 0.6, NUM_SPARSE)
        # A third of the fields have missing values, up to 40% of rows.
        self.id_missing = np.where(rng.random(NUM_SPARSE) < 1 / 3,
                                   rng.uniform(0.05, 0.4, NUM_SPARSE), 0.0)
        self.dense_mu = rng.uniform(0.5, 4.0, NUM_DENSE)
        self.dense_s = rng.uniform(0.5, 1.5, NUM_DENSE)
        self.dense_missing = rng.uniform(0.0, 0.3, NUM_DENSE)
        self.dense_weight = rng.normal(0.0, 0.15, NUM_DENSE)
        self.bias = -1.3

    def id_weights(self, field, ranks):
        """Weights of ranks of `field` (rank V_k: the missing value)."""
        u1 = _unit(self.seed, field, ranks, 0)
        u2 = _unit(self.seed, field, ranks, 1)
        normal = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        shrink = np.where(ranks == self.vocabs[field], 1.0,
                          1.0 / (1.0 + ranks / self.head_ranks))
        return self.id_scale[field] * shrink * normal

    def draw_ranks(self, rng, field, n):
        """n Zipf ranks of `field`, the continuous law's inverse CDF floored."""
        v = float(self.vocabs[field])
        u = rng.random(n)
        if self.zipf == 1.0:
            x = np.power(v + 1.0, u)
        else:
            a = 1.0 - self.zipf
            x = np.power(1.0 + u * (np.power(v + 1.0, a) - 1.0), 1.0 / a)
        return np.minimum(x.astype(np.int64) - 1, self.vocabs[field] - 1)

    def draw(self, rng, n):
        """n rows: (labels int [n], logits [n], counts float [n, 13] NaN = missing,
        ranks int [n, 26] with V_k = missing)."""
        counts = np.floor(np.expm1(self.dense_mu + self.dense_s * rng.standard_normal(
            (n, NUM_DENSE))))
        counts[rng.random((n, NUM_DENSE)) < self.dense_missing] = np.nan
        seen = np.nan_to_num(np.log1p(np.maximum(counts, 0.0)), nan=0.0)
        logits = self.bias + ((seen - (1 - self.dense_missing) * self.dense_mu)
                              / self.dense_s) @ self.dense_weight
        ranks = np.empty((n, NUM_SPARSE), np.int64)
        for k in range(NUM_SPARSE):
            ranks[:, k] = self.draw_ranks(rng, k, n)
            ranks[rng.random(n) < self.id_missing[k], k] = self.vocabs[k]
            logits += self.id_weights(k, ranks[:, k])
        labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-logits))).astype(np.int64)
        return labels, logits, counts, ranks

    def describe(self):
        return {"seed": self.seed, "zipf": self.zipf, "head_ranks": self.head_ranks,
                "vocabs": self.vocabs.tolist(), "bias": self.bias,
                "id_scale": np.round(self.id_scale, 4).tolist(),
                "id_missing": np.round(self.id_missing, 4).tolist(),
                "dense_weight": np.round(self.dense_weight, 4).tolist(),
                "dense_missing": np.round(self.dense_missing, 4).tolist()}


def hex_ids(field, ranks):
    """Ranks -> 8-hex-digit id strings (bytes): a bijection of uint32 per field."""
    v = (ranks.astype(np.uint64) * np.uint64(0x9E3779B1)
         + np.uint64(0x85EBCA6B) * np.uint64(field + 1)) & _MASK32
    v ^= v >> np.uint64(16)
    digits = (v[:, None] >> np.arange(28, -1, -4, dtype=np.uint64)) & np.uint64(15)
    return _HEX[digits.astype(np.intp)].view("S8").ravel()


def tsv_lines(model, labels, counts, ranks):
    """Rows -> the Kaggle TSV text of them (bytes, one line each)."""
    cols = [labels.astype("S1")]
    for j in range(NUM_DENSE):
        col = counts[:, j]
        text = np.char.mod(b"%d", np.nan_to_num(col, nan=0).astype(np.int64))
        cols.append(np.where(np.isnan(col), b"", text))
    for k in range(NUM_SPARSE):
        cols.append(np.where(ranks[:, k] == model.vocabs[k], b"", hex_ids(k, ranks[:, k])))
    return b"".join(b"\t".join(row) + b"\n" for row in zip(*cols))


def write_file(model, path, rows, stream, report_every):
    """Writes `rows` rows drawn with rng stream `stream`; returns its stats."""
    logits = np.empty(rows, np.float64)
    labels = np.empty(rows, np.int64)
    t0 = time.time()
    with open(path, "wb") as f:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            rng = np.random.default_rng([model.seed, stream, start // CHUNK_ROWS])
            lab, logit, counts, ranks = model.draw(rng, n)
            f.write(tsv_lines(model, lab, counts, ranks))
            labels[start:start + n], logits[start:start + n] = lab, logit
            if report_every and (start // CHUNK_ROWS + 1) % report_every == 0:
                print("  %s: %d / %d rows (%.0f s)" % (os.path.basename(path), start + n, rows,
                                                     time.time() - t0))
                sys.stdout.flush()
    probs = 1.0 / (1.0 + np.exp(-logits))
    return {"path": os.path.abspath(path), "rows": rows, "ctr": float(labels.mean()),
            "planted_auc": roc_auc(labels, logits), "planted_logloss": log_loss(labels, probs)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out-dir", required=True,
                   help="directory for train.tsv, eval.tsv and planted.json")
    p.add_argument("--rows", type=int, default=2_000_000, help="rows of train.tsv")
    p.add_argument("--eval-rows", type=int, default=200_000, help="rows of eval.tsv")
    p.add_argument("--min-vocab", type=int, default=10_000, help="distinct ids of C1")
    p.add_argument("--max-vocab", type=int, default=10_000_000, help="distinct ids of C26")
    p.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent of the ids")
    p.add_argument("--head-ranks", type=float, default=30.0,
                   help="an id's weight is shrunk by 1/(1 + rank/head_ranks)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    for name in ("rows", "eval_rows", "min_vocab", "head_ranks"):
        if getattr(args, name) <= 0:
            p.error("--%s must be positive, got %s" % (name.replace("_", "-"),
                                                      getattr(args, name)))
    if not args.min_vocab <= args.max_vocab <= 1 << 32:
        p.error("--max-vocab must be in [--min-vocab, 2^32] (8 hex digits), got %d"
                % args.max_vocab)
    if args.zipf <= 0:
        p.error("--zipf must be positive, got %g" % args.zipf)
    if args.seed < 0:
        p.error("--seed must be >= 0, got %d" % args.seed)
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    model = PlantedModel(args.seed, args.min_vocab, args.max_vocab, args.zipf, args.head_ranks)
    t0 = time.time()
    every = max(1, 500_000 // CHUNK_ROWS)
    files = {name: write_file(model, os.path.join(args.out_dir, name + ".tsv"), rows, stream,
                              every)
             for stream, (name, rows) in enumerate((("train", args.rows),
                                                     ("eval", args.eval_rows)))}
    info = {"files": files, "model": model.describe(), "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(args.out_dir, "planted.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    for name, stats in files.items():
        print("%s: %d rows, CTR %.4f, planted AUC %.4f, planted logloss %.4f (%s)" % (
            name, stats["rows"], stats["ctr"], stats["planted_auc"], stats["planted_logloss"],
            stats["path"]))
    print("wrote %s in %.0f s" % (os.path.join(args.out_dir, "planted.json"), info["seconds"]))


if __name__ == "__main__":
    main()
