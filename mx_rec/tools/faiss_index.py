"""faiss inner-product indexes over item vectors, and their recall against exact search."""

import math
import time

import faiss
import numpy as np

INDEX_TYPES = ("IVFFlat", "HNSWFlat")
# faiss wants this many training points per IVF list; fewer makes poor lists.
POINTS_PER_LIST = 39


def default_nlist(items):
    """IVF lists for `items` vectors: about 4 sqrt(items), at least 39 points a list."""
    return max(1, min(int(4 * math.sqrt(items)), items // POINTS_PER_LIST))


def build(vectors, index_type, nlist=None, nprobe=8, hnsw_m=32, ef_construction=40,
          ef_search=64):
    """(index, seconds to train and fill it) over float32 [n, dim] vectors,
    inner-product metric. IVFFlat: `nlist` lists (default_nlist when None),
    searching `nprobe` of them (at most nlist). HNSWFlat: `hnsw_m` links a
    node, `ef_construction` and `ef_search` candidates when adding and searching."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    items, dim = vectors.shape
    start = time.perf_counter()
    if index_type == "IVFFlat":
        nlist = default_nlist(items) if nlist is None else nlist
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(nprobe, nlist)
    elif index_type == "HNSWFlat":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.hnsw.efSearch = ef_search
    else:
        raise ValueError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    index.add(vectors)
    return index, time.perf_counter() - start


def recall_at_k(index, vectors, queries, k=10):
    """Share of each query's exact top-k (inner product over `vectors`) that
    `index` finds, averaged over the queries. A result whose score reaches the
    exact k-th best counts (ties count); k is cut to the number of vectors."""
    vectors = np.ascontiguousarray(vectors, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    k = min(k, len(vectors))
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    exact_scores, _ = exact.search(queries, k)
    scores, ids = index.search(queries, k)
    kth = exact_scores[:, -1:]
    tolerance = 1e-5 * np.maximum(1.0, np.abs(kth))
    hits = (ids >= 0) & (scores >= kth - tolerance)
    return float(hits.sum(axis=1).mean() / k)


def write(index, path):
    faiss.write_index(index, path)
