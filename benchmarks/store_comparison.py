"""hnswlib against Qdrant (embedded) on the same COVID-QA chunks and vectors; part of bench_rag.py (--part stores).

Measures, in one run: document recall@5, recall@10 and MRR@10 of both stores for dense, BM25, RRF and the
default weighted fusion (client-side for Qdrant), plus Qdrant's own server-side fusions (RRF, DBSF) over the
same 50 + 50 candidates; build time (index + writing it) and per-question query latency p50/p95 of the
default retrieval (query vectors given, so embedding is left out); then build and query time at 10k and
100k chunks (copies of the real chunks under new document ids, with the real vectors plus noise).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from advisor.backends.base import Document
from advisor.backends.chunking import Chunk
from advisor.backends.statistics import percentile
from advisor.backends.index import CANDIDATES, DEFAULT_DENSE_WEIGHT, ChunkIndex, Ranking, fuse
from advisor.backends.store import StoreSettings

CHECKED_QUESTIONS = 100  # questions on which the measured rankings are checked against the real query path
LATENCY_QUESTIONS = 200  # single-question queries timed per store at the real size
GROWTH_QUESTIONS = 30  # and at 10k / 100k chunks
GROWTH_SIZES = (10_000, 100_000)
SIGMA = 0.02


def _hnswlib(chunks: list[Chunk], vectors: np.ndarray, folder: Path) -> tuple[ChunkIndex, float]:
    """Build the hnswlib store and save it (what a build does after embedding); seconds."""
    t0 = time.perf_counter()
    index = ChunkIndex.build(chunks, vectors)
    index.save(folder)
    return index, time.perf_counter() - t0


def _qdrant(documents: list[Document], chunks: list[Chunk], vectors: np.ndarray, folder: Path | None, embedder):
    """Build the Qdrant store embedded in `folder` (None: in memory, the same search code without the on-disk
    writes) through the same writer a build uses; store and seconds."""
    from qdrant_client import QdrantClient

    from advisor.backends.qdrant_store import CollectionWriter, QdrantStore, private_client

    store = StoreSettings(kind="qdrant")
    t0 = time.perf_counter()
    client = private_client(folder) if folder is not None else QdrantClient(location=":memory:")
    CollectionWriter(client, store, embedder=embedder.name, fingerprint=embedder.source.fingerprint,
                     dimension=int(vectors.shape[1]), chunking=(128, 32), chunker_version=1).write(
        documents, lambda docs: chunks, lambda cs: vectors)
    seconds = time.perf_counter() - t0
    return QdrantStore.open_with(client, store, "weighted", DEFAULT_DENSE_WEIGHT), seconds


def doc_ranking_scores(rankings: list[list[str]], sources: list[str]) -> dict[str, float]:
    """Document recall@5, recall@10 and MRR@10 from ranked document ids."""
    r5 = r10 = mrr = 0.0
    for docs, source in zip(rankings, sources):
        rank = next((i for i, d in enumerate(docs[:10]) if d == source), None)
        if rank is not None:
            r10 += 1
            r5 += rank < 5
            mrr += 1 / (rank + 1)
    n = max(1, len(sources))
    return {"recall_at_5": round(r5 / n, 4), "recall_at_10": round(r10 / n, 4), "mrr_at_10": round(mrr / n, 4)}


def _variants(dense: list[Ranking], lexical: list[Ranking], doc_of: Callable) -> dict[str, list[list[str]]]:
    """Top-10 document ids per question for dense, BM25, RRF and weighted fusion (0.4) of the same candidates."""
    out: dict[str, list[list[str]]] = {"dense": [], "bm25": [], "rrf": [], "weighted": []}
    for d, lx in zip(dense, lexical):
        out["dense"].append([doc_of(r) for r in d.rows[:10]])
        out["bm25"].append([doc_of(r) for r in lx.rows[:10]])
        out["rrf"].append([doc_of(r) for r in fuse(d, lx, "rrf", 0.5).rows[:10]])
        out["weighted"].append([doc_of(r) for r in fuse(d, lx, "weighted", DEFAULT_DENSE_WEIGHT).rows[:10]])
    return out


def _qdrant_fusion(dense: Ranking, lexical: Ranking, fusion: str) -> list[tuple]:
    """qdrant-client's RRF or DBSF (qdrant_client.hybrid.fusion, as local mode runs them) over two rankings."""
    from qdrant_client.http import models
    from qdrant_client.hybrid.fusion import distribution_based_score_fusion, reciprocal_rank_fusion

    lists = [[models.ScoredPoint(id=i, version=0, score=score) for i, score in enumerate(r.scores)]
             for r in (dense, lexical)]
    keys = {}
    for ranking, points in zip((dense, lexical), lists):
        for point, key in zip(points, ranking.rows):
            point.id = f"{key[0]}#{key[1]}#{key[2]}"
            keys[point.id] = key
    limit = len(dense.rows) + len(lexical.rows)
    fused = reciprocal_rank_fusion(lists, limit=limit) if fusion == "rrf" else \
        distribution_based_score_fusion(lists, limit=limit)
    return [keys[p.id] for p in fused]


def _latency(retrieve: Callable, questions: list[str], qvecs: np.ndarray) -> dict[str, float]:
    """Milliseconds of single-question retrieval (top 5, the store's default fusion)."""
    times = []
    for q, v in zip(questions, qvecs):
        t0 = time.perf_counter()
        retrieve([q], v[None, :], 5)
        times.append((time.perf_counter() - t0) * 1000)
    return {"questions": len(times), "p50_ms": round(percentile(times, 50), 2),
            "p95_ms": round(percentile(times, 95), 2)}


def _copies(documents: list[Document], chunks: list[Chunk], vectors: np.ndarray, n: int, perturbed):
    """n chunks: the real ones, then copies under new document ids ('copyK/<id>') with perturbed vectors."""
    docs, out = list(documents), list(chunks)
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.doc_id, []).append(c)
    copy = 0
    while len(out) < n:
        copy += 1
        for doc in documents:
            new_id = f"copy{copy}/{doc.id}"
            docs.append(Document(new_id, doc.text, f"{copy:08d}{doc.sha256[8:]}"))
            out += [Chunk(new_id, c.chunk_id, c.text, c.start, c.end, c.tokens) for c in by_doc.get(doc.id, [])]
    out = out[:n]
    kept = {c.doc_id for c in out}
    docs = [d for d in docs if d.id in kept]
    # A truncated last document keeps only the chunks that fit; the writer is told its real count.
    return docs, out, perturbed(vectors, n, SIGMA)


def _growth(documents, chunks, vectors, questions, qvecs, embedder, perturbed, size: int, on_disk: bool) -> dict:
    """Build seconds and query latency of both stores at `size` chunks (Qdrant on disk, or in memory)."""
    docs, grown, grown_vectors = _copies(documents, chunks, vectors, size, perturbed)
    with tempfile.TemporaryDirectory() as tmp:
        hnsw, hnsw_s = _hnswlib(grown, grown_vectors, Path(tmp) / "hnswlib")
        entry = {"chunks": len(grown), "hnswlib": {"build_seconds": round(hnsw_s, 2),
                                                    **_latency(hnsw.retrieve, questions, qvecs)}}
        del hnsw
        folder = Path(tmp) / "qdrant" if on_disk else None
        qdrant, qdrant_s = _qdrant(docs, grown, grown_vectors, folder, embedder)
        entry["qdrant"] = {"storage": "on disk" if on_disk else "in memory", "build_seconds": round(qdrant_s, 2),
                           **_latency(qdrant.retrieve, questions, qvecs)}
        qdrant.client.close()
        if folder is not None:
            from qdrant_client import QdrantClient

            t0 = time.perf_counter()
            reopened = QdrantClient(path=str(folder))
            entry["qdrant"]["open_seconds"] = round(time.perf_counter() - t0, 2)
            reopened.close()
            entry["qdrant"]["storage_mb"] = round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                                                  / 1e6, 1)
    return entry


def compare_growth(documents, pairs, embedder, cached_vectors, perturbed, save) -> dict:
    """Both stores at 10k chunks (Qdrant on disk) and 100k (Qdrant in memory: its embedded on-disk writes
    commit every point, which at 10k already shows the rate)."""
    import os

    questions = [p.question for p in pairs][:GROWTH_QUESTIONS]
    chunks, vectors, qvecs = cached_vectors(documents, [p.question for p in pairs], embedder)
    growth: dict = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    for size in GROWTH_SIZES:
        growth[str(size)] = _growth(documents, chunks, vectors, questions, qvecs[:GROWTH_QUESTIONS], embedder,
                                    perturbed, size, on_disk=size <= 10_000)
        save(growth)
        print(f"growth {size}: {growth[str(size)]}", flush=True)
    growth["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return growth


def compare_stores(documents, pairs, embedder, cached_vectors, save) -> dict:
    """Retrieval quality, build time and latency of both stores on COVID-QA; `save(partial)` is called after
    each part so a long run keeps what it finished."""
    questions = [p.question for p in pairs]
    sources = [p.source for p in pairs]
    chunks, vectors, qvecs = cached_vectors(documents, questions, embedder)
    import os

    results: dict = {"chunks": len(chunks), "questions": len(questions), "candidates": CANDIDATES,
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        hnsw, hnsw_s = _hnswlib(chunks, vectors, Path(tmp) / "hnswlib")
        qdrant, qdrant_s = _qdrant(documents, chunks, vectors, Path(tmp) / "qdrant", embedder)
        results["build_seconds"] = {"hnswlib": round(hnsw_s, 2), "qdrant": round(qdrant_s, 2)}
        print(f"build: hnswlib {hnsw_s:.1f} s, qdrant {qdrant_s:.1f} s", flush=True)

        h_variants = _variants(hnsw.dense_rankings(qvecs, CANDIDATES), hnsw.lexical_rankings(questions, CANDIDATES),
                               lambda row: hnsw.chunks[row].doc_id)
        t0 = time.perf_counter()
        rankings = qdrant._rankings(questions, qvecs, CANDIDATES, True, True)
        q_batch_s = time.perf_counter() - t0
        q_variants = _variants([r[0] for r in rankings], [r[1] for r in rankings], lambda key: key[0])
        retrieval = {"hnswlib": {name: doc_ranking_scores(docs, sources) for name, docs in h_variants.items()},
                     "qdrant": {name: doc_ranking_scores(docs, sources) for name, docs in q_variants.items()}}
        # Qdrant's own fusions over the same 50 + 50 candidates: its RRF and DBSF functions (the ones local mode
        # runs for a prefetch + FusionQuery), applied to the candidate lists fetched above ...
        for fusion in ("rrf", "dbsf"):
            retrieval["qdrant"][f"server-{fusion}"] = doc_ranking_scores(
                [[key[0] for key in _qdrant_fusion(d, lx, fusion)[:10]] for d, lx, _ in rankings], sources)
        # ... checked against real prefetch + fusion queries, and the default retrieve() against the client-side
        # fusion, on the first questions (each pass over all of them costs minutes in embedded mode).
        n = min(CHECKED_QUESTIONS, len(questions))
        checks = {}
        for fusion in ("rrf", "dbsf"):
            served = qdrant.fused_by_server(questions[:n], qvecs[:n], 10, fusion)
            applied = [_qdrant_fusion(d, lx, fusion)[:10] for d, lx, _ in rankings[:n]]
            checks[f"server-{fusion}"] = round(sum([k[:2] for k in a] == [k[:2] for k in b]
                                                   for a, b in zip(served, applied)) / n, 4)
        default = qdrant.retrieve(questions[:n], qvecs[:n], 10)
        checks["default retrieve()"] = round(sum([h.doc_id for h in hits] == docs for hits, docs
                                                 in zip(default, q_variants["weighted"][:n])) / n, 4)
        results["same_top10_as_measured"] = {"questions": n, **checks}
        results["retrieval"] = retrieval
        results["top10_identical_share"] = {
            name: round(sum(a == b for a, b in zip(h_variants[name], q_variants[name])) / len(questions), 4)
            for name in h_variants}
        results["qdrant_batched_candidates_seconds"] = round(q_batch_s, 2)
        save(results)
        print(f"retrieval: {retrieval}", flush=True)

        n = min(LATENCY_QUESTIONS, len(questions))
        results["latency"] = {"hnswlib": _latency(hnsw.retrieve, questions[:n], qvecs[:n]),
                              "qdrant": _latency(qdrant.retrieve, questions[:n], qvecs[:n])}
        save(results)
        print(f"latency: {results['latency']}", flush=True)
        qdrant.client.close()
        shutil.rmtree(Path(tmp) / "qdrant", ignore_errors=True)

    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def print_stores(results: dict) -> None:
    """The side-by-side table."""
    rows = [("retriever", "hnswlib R@5", "qdrant R@5", "hnswlib R@10", "qdrant R@10", "hnswlib MRR", "qdrant MRR")]
    h, q = results["retrieval"]["hnswlib"], results["retrieval"]["qdrant"]
    for name in ("dense", "bm25", "rrf", "weighted", "server-rrf", "server-dbsf", "default (retrieve)"):
        a, b = h.get(name), q[name]
        rows.append((name, *(f"{x[m]:.3f}" if x else "-" for m in ("recall_at_5",) for x in (a, b)),
                     *(f"{x[m]:.3f}" if x else "-" for m in ("recall_at_10",) for x in (a, b)),
                     *(f"{x[m]:.3f}" if x else "-" for m in ("mrr_at_10",) for x in (a, b))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    b, lat = results["build_seconds"], results["latency"]
    print(f"build {results['chunks']} chunks: hnswlib {b['hnswlib']} s, qdrant {b['qdrant']} s; query p50/p95: "
          f"hnswlib {lat['hnswlib']['p50_ms']}/{lat['hnswlib']['p95_ms']} ms, "
          f"qdrant {lat['qdrant']['p50_ms']}/{lat['qdrant']['p95_ms']} ms")
    for size in map(str, GROWTH_SIZES):
        entry = results.get("growth", {}).get(size)
        if entry is None:
            continue
        hh, qq = entry["hnswlib"], entry["qdrant"]
        opened = f", re-open {qq['open_seconds']} s, {qq['storage_mb']} MB" if "open_seconds" in qq else ""
        print(f"{size} chunks: build hnswlib {hh['build_seconds']} s, qdrant {qq['build_seconds']} s "
              f"({qq['storage']}{opened}); query p50/p95 hnswlib {hh['p50_ms']}/{hh['p95_ms']} ms, "
              f"qdrant {qq['p50_ms']}/{qq['p95_ms']} ms")
