"""The retrieval index: hnswlib over unit vectors, a lexical scorer over the same chunks, and their fusion.

Everything persists as plain files, with no pickle: the chunk table as JSON Lines, the vectors as .npy,
the graph with hnswlib's own `save_index`, the lexical model as JSON (vocabulary, idf) plus an .npz of
sparse arrays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from advisor.atomic import write_text
from advisor.backends.base import Hit
from advisor.backends.chunking import Chunk
from advisor.backends.store import ChunkStore
from advisor.errors import InputError

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_SEED = 100
CANDIDATES = 50  # chunks each retriever proposes before fusion

# Chosen on covid-qa (benchmarks/bench_rag.py, results in benchmarks/results/rag.json), 1,235 questions,
# 128/32 windows: dense 0.762 recall@5 / 0.663 MRR@10, BM25 0.862 / 0.788, RRF 0.853 / 0.766, and min-max
# weighted fusion with dense weight 0.4: 0.877 / 0.814 (recall@10 0.911), the best of the 19 variants tried.
# On the sample's reworded questions it keeps recall@5 1.0 (MRR 0.989) where BM25 alone drops to 0.966 MRR.
DEFAULT_LEXICAL = "bm25"
DEFAULT_FUSION = "weighted"
DEFAULT_DENSE_WEIGHT = 0.4
RRF_K = 60
BM25_K1 = 1.2
BM25_B = 0.75

LEXICAL_KINDS = ("bm25", "tfidf")
FUSIONS = ("rrf", "weighted", "dense", "lexical")

CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "embeddings.npy"
DENSE_FILE = "dense.hnsw"
LEXICAL_JSON = "lexical.json"
LEXICAL_NPZ = "lexical.npz"


def query_ef(k: int) -> int:
    """hnswlib's query breadth for k results: max(100, 2k) (measured recall@10 >= 0.99 on MiniLM vectors)."""
    return max(100, 2 * k)


def _vectorizer(vocabulary: dict[str, int] | None = None):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(lowercase=True, stop_words="english", vocabulary=vocabulary, dtype=np.float32)


class Lexical:
    """A sparse lexical scorer over chunk texts: BM25 (k1=1.2, b=0.75) or TF-IDF (sublinear tf, cosine)."""

    def __init__(self, kind: str, vocabulary: dict[str, int], idf: np.ndarray, weights):
        self.kind = kind
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)
        self.weights = weights.tocsr()  # chunks x terms, already holding tf and idf
        self._vec = _vectorizer(vocabulary)

    @classmethod
    def fit(cls, texts: list[str], kind: str = DEFAULT_LEXICAL) -> "Lexical":
        """Fit on the chunk texts."""
        from scipy import sparse

        if kind not in LEXICAL_KINDS:
            raise InputError(f"unknown lexical scorer '{kind}' (expected one of {', '.join(LEXICAL_KINDS)})")
        vec = _vectorizer()
        try:
            tf = vec.fit_transform(texts).tocsr().astype(np.float32)
            vocabulary = {term: int(i) for term, i in vec.vocabulary_.items()}
        except ValueError:  # only stop words: an empty vocabulary still scores (everything zero)
            vocabulary = {}
            tf = sparse.csr_matrix((len(texts), 0), dtype=np.float32)
        n = tf.shape[0]
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float32)
        if kind == "bm25":
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            lengths = np.asarray(tf.sum(axis=1)).ravel()
            avg = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / avg)
            rows = np.repeat(np.arange(n), np.diff(tf.indptr))
            data = tf.data * (BM25_K1 + 1) / (tf.data + norm[rows]) * idf[tf.indices]
        else:
            idf = np.log((1 + n) / (1 + df)) + 1
            data = (1 + np.log(tf.data)) * idf[tf.indices]
        weights = sparse.csr_matrix((data.astype(np.float32), tf.indices, tf.indptr), shape=tf.shape)
        if kind == "tfidf":
            from sklearn.preprocessing import normalize

            weights = normalize(weights)
        return cls(kind, vocabulary, idf, weights)

    def query_vectors(self, queries: list[str]):
        """Sparse query rows: term presence for BM25, unit tf-idf for TF-IDF."""
        from sklearn.preprocessing import normalize

        q = self._vec.transform(queries).tocsr().astype(np.float32)
        if self.kind == "bm25":
            q.data[:] = 1.0
            return q
        q.data = (1 + np.log(q.data)) * self.idf[q.indices]
        return normalize(q)

    def scores(self, queries: list[str]) -> np.ndarray:
        """Dense (queries x chunks) score matrix."""
        return np.asarray((self.query_vectors(queries) @ self.weights.T).todense(), dtype=np.float32)

    def save(self, folder: Path) -> None:
        """lexical.json (kind, parameters, vocabulary, idf) and lexical.npz (the sparse weights)."""
        meta = {"kind": self.kind, "k1": BM25_K1, "b": BM25_B, "stop_words": "english",
                "vocabulary": self.vocabulary, "idf": [round(float(x), 6) for x in self.idf]}
        write_text(folder / LEXICAL_JSON, json.dumps(meta))
        np.savez(folder / LEXICAL_NPZ, data=self.weights.data, indices=self.weights.indices,
                 indptr=self.weights.indptr, shape=np.array(self.weights.shape))

    @classmethod
    def load(cls, folder: Path) -> "Lexical":
        """Inverse of save (np.load with allow_pickle=False)."""
        from scipy import sparse

        meta = json.loads((folder / LEXICAL_JSON).read_text(encoding="utf-8"))
        with np.load(folder / LEXICAL_NPZ, allow_pickle=False) as arrays:
            weights = sparse.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]),
                                        shape=tuple(int(x) for x in arrays["shape"]))
        return cls(meta["kind"], meta["vocabulary"], np.asarray(meta["idf"], dtype=np.float32), weights)


def _new_hnsw(dim: int, capacity: int):
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dim)
    index.init_index(max_elements=max(1, capacity), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M,
                     random_seed=HNSW_SEED)
    return index


def build_dense(vectors: np.ndarray, previous: Path | None = None, previous_rows: int = 0):
    """An hnswlib inner-product index over the rows; with `previous` (a saved index holding the first
    `previous_rows` rows), only the new rows are added to it. Single-threaded, so builds repeat exactly."""
    import hnswlib

    n, dim = vectors.shape
    if previous is not None and 0 < previous_rows <= n:
        index = hnswlib.Index(space="ip", dim=dim)
        index.load_index(str(previous), max_elements=max(1, n))
        if index.get_current_count() != previous_rows:
            raise ValueError("previous dense index does not match its chunk table")
        start = previous_rows
    else:
        index = _new_hnsw(dim, n)
        start = 0
    if n > start:
        index.add_items(vectors[start:], np.arange(start, n), num_threads=1)
    return index


@dataclass
class Ranking:
    """Chunks with scores, best first: rows of the hnswlib store's chunk table, or the Qdrant store's
    (document, chunk number) keys; ties in a fusion go to the lower key."""

    rows: list[Any]
    scores: list[float]


def fuse(dense: Ranking, lexical: Ranking, method: str = DEFAULT_FUSION,
         dense_weight: float = DEFAULT_DENSE_WEIGHT) -> Ranking:
    """Combine two rankings: reciprocal-rank fusion (k=60) or a weighted sum of min-max normalised scores."""
    combined: dict[int, float] = {}
    if method == "rrf":
        for ranking, weight in ((dense, dense_weight), (lexical, 1 - dense_weight)):
            for rank, row in enumerate(ranking.rows):
                combined[row] = combined.get(row, 0.0) + 2 * weight / (RRF_K + rank + 1)
    elif method == "weighted":
        for ranking, weight in ((dense, dense_weight), (lexical, 1 - dense_weight)):
            if not ranking.rows:
                continue
            values = np.asarray(ranking.scores, dtype=np.float64)
            low, high = float(values.min()), float(values.max())
            span = high - low if high > low else 1.0
            for row, value in zip(ranking.rows, values):
                combined[row] = combined.get(row, 0.0) + weight * (value - low) / span
    else:
        raise InputError(f"unknown fusion '{method}' (expected one of {', '.join(FUSIONS)})")
    order = sorted(combined, key=lambda row: (-combined[row], row))
    return Ranking(order, [combined[row] for row in order])


class ChunkIndex(ChunkStore):
    """The hnswlib store: chunks, their unit vectors, the hnswlib graph and the lexical scorer, as files in the
    run folder, loaded whole into the process; searches by dense, lexical or fused."""

    def __init__(self, chunks: list[Chunk], vectors: np.ndarray, dense, lexical: Lexical,
                 fusion: str = DEFAULT_FUSION, dense_weight: float = DEFAULT_DENSE_WEIGHT):
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        self.chunks = chunks
        self.vectors = vectors
        self.dense = dense
        self.lexical = lexical
        self.fusion = fusion
        self.dense_weight = dense_weight

    @classmethod
    def build(cls, chunks: list[Chunk], vectors: np.ndarray, *, lexical: str = DEFAULT_LEXICAL,
              fusion: str = DEFAULT_FUSION, dense_weight: float = DEFAULT_DENSE_WEIGHT,
              previous_dense: Path | None = None, previous_rows: int = 0) -> "ChunkIndex":
        """Index the chunks (vectors row-aligned with them)."""
        if fusion not in FUSIONS:
            raise InputError(f"unknown fusion '{fusion}' (expected one of {', '.join(FUSIONS)})")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dense = build_dense(vectors, previous_dense, previous_rows)
        return cls(chunks, vectors, dense, Lexical.fit([c.text for c in chunks], lexical), fusion, dense_weight)

    def __len__(self) -> int:
        return len(self.chunks)

    def dense_rankings(self, query_vectors: np.ndarray, depth: int) -> list[Ranking]:
        """Top `depth` rows per query by inner product (hnswlib, ef = max(100, 2*depth))."""
        depth = min(depth, len(self.chunks))
        if depth == 0:
            return [Ranking([], []) for _ in range(len(query_vectors))]
        self.dense.set_ef(max(query_ef(depth), depth))
        labels, distances = self.dense.knn_query(np.asarray(query_vectors, dtype=np.float32), k=depth, num_threads=1)
        return [Ranking([int(x) for x in row], [float(1 - d) for d in dist]) for row, dist in zip(labels, distances)]

    def lexical_rankings(self, queries: list[str], depth: int) -> list[Ranking]:
        """Top `depth` rows per query by the lexical score (rows scoring 0 left out)."""
        scores = self.lexical.scores(queries)
        depth = min(depth, len(self.chunks))
        rankings = []
        for row in scores:
            if depth == 0:
                rankings.append(Ranking([], []))
                continue
            candidates = np.argpartition(-row, depth - 1)[:depth]
            candidates = candidates[np.lexsort((candidates, -row[candidates]))]
            top = [int(i) for i in candidates if row[i] > 0]
            rankings.append(Ranking(top, [float(row[i]) for i in top]))
        return rankings

    def search_many(self, queries: list[str], query_vectors: np.ndarray, k: int,
                    mode: str | None = None) -> list[Ranking]:
        """Top-k rows per query: mode 'dense', 'lexical', or a fusion ('rrf', 'weighted'; default: the index's)."""
        mode = mode or self.fusion
        depth = max(k, CANDIDATES)
        if mode == "dense":
            return [Ranking(r.rows[:k], r.scores[:k]) for r in self.dense_rankings(query_vectors, k)]
        if mode == "lexical":
            return [Ranking(r.rows[:k], r.scores[:k]) for r in self.lexical_rankings(queries, k)]
        dense = self.dense_rankings(query_vectors, depth)
        lexical = self.lexical_rankings(queries, depth)
        out = []
        for d, lex in zip(dense, lexical):
            fused = fuse(d, lex, mode, self.dense_weight)
            out.append(Ranking(fused.rows[:k], fused.scores[:k]))
        return out

    def retrieve(self, queries: list[str], vectors: np.ndarray, k: int, mode: str | None = None) -> list[list[Hit]]:
        """Top-k chunks per query as Hits (see search_many)."""
        return [self.hits(r) for r in self.search_many(queries, vectors, k, mode)]

    def describe(self) -> dict[str, Any]:
        """The manifest's retrieval section: the store and its settings."""
        return {"store": {"kind": "hnswlib"}, **self.settings()}

    def hits(self, ranking: Ranking) -> list[Hit]:
        """The ranking as Hits (document id, chunk number, text, score)."""
        return [Hit(self.chunks[r].doc_id, self.chunks[r].chunk_id, self.chunks[r].text, round(s, 6))
                for r, s in zip(ranking.rows, ranking.scores)]

    def settings(self) -> dict[str, Any]:
        """What the manifest records about retrieval."""
        return {"lexical": self.lexical.kind, "fusion": self.fusion, "dense_weight": self.dense_weight,
                "candidates": CANDIDATES, "rrf_k": RRF_K,
                "hnsw": {"space": "ip", "M": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION,
                         "ef": "max(100, 2k)", "seed": HNSW_SEED}}

    def save(self, folder: Path) -> None:
        """Write chunks.jsonl, embeddings.npy, dense.hnsw, lexical.json and lexical.npz into folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in self.chunks)
        write_text(folder / CHUNKS_FILE, "".join(lines))
        np.save(folder / VECTORS_FILE, self.vectors, allow_pickle=False)
        self.dense.save_index(str(folder / DENSE_FILE))
        self.lexical.save(folder)

    @classmethod
    def load(
        cls, folder: Path, fusion: str = DEFAULT_FUSION, dense_weight: float = DEFAULT_DENSE_WEIGHT
    ) -> "ChunkIndex":
        """Read what save wrote (no pickle anywhere)."""
        import hnswlib

        folder = Path(folder)
        chunks = load_chunks(folder)
        vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
        dense = hnswlib.Index(space="ip", dim=int(vectors.shape[1]))
        dense.load_index(str(folder / DENSE_FILE), max_elements=max(1, len(chunks)))
        return cls(chunks, vectors, dense, Lexical.load(folder), fusion, dense_weight)


def load_chunks(folder: Path) -> list[Chunk]:
    """The chunk table of a saved index."""
    with open(Path(folder) / CHUNKS_FILE, encoding="utf-8") as handle:
        return [Chunk.from_json(json.loads(line)) for line in handle if line.strip()]
