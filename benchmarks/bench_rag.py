"""RAG retrieval and index benchmarks on the real covid-qa papers (../shared/data/covid-qa).

    .venv/bin/python benchmarks/bench_rag.py [--data DIR] [--quick]

Measures, in one run on this machine:
- document recall@5, recall@10 and MRR@10 of dense, lexical (BM25, TF-IDF) and fused retrieval, for each
  chunking setting tried (window / overlap in word pieces of the embedder's tokenizer);
- build time of RagBackend.build against calling SentenceTransformer.encode directly on the same chunks;
- hnswlib recall@10 against exact search on the real vectors, and query latency at 10k and 100k vectors;
- peak memory of a build.
Prints a table and writes benchmarks/results/rag.json atomically. Exits 0 with a note when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from advisor.atomic import write_text  # noqa: E402
from advisor.backends.options import RetrievalOptions
from advisor.backends.base import BuildSettings  # noqa: E402
from advisor.backends.chunking import chunk_documents  # noqa: E402
from advisor.backends.data import load_documents, load_pairs  # noqa: E402
from advisor.backends.embedder import shared_embedder  # noqa: E402
from advisor.backends.index import ChunkIndex, Ranking, fuse, query_ef  # noqa: E402
from advisor.backends.measure import measure, rss_mb  # noqa: E402
from advisor.backends.rag import RagBackend, library_versions  # noqa: E402

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "covid-qa"
RESULTS = HERE / "results" / "rag.json"
SAMPLE = HERE.parent / "sample"

CHUNKINGS = [(128, 32), (192, 48), (254, 64), (128, 0)]
RATIO_DOCS = 30  # papers in the build-vs-plain-encode comparison (keeps the run short on 2 cores)
DEFAULT_CHUNKING = (128, 32)


def cached_vectors(documents, questions: list[str], embedder, tokens: int = 128, overlap: int = 32):
    """COVID-QA's chunks with their vectors and the question vectors, embedded once and cached between runs
    (<advisor cache>/bench/, keyed by the embedder's fingerprint, the chunking and the texts)."""
    import hashlib

    from advisor.backends.generator import cache_root

    chunks = chunk_documents(documents, embedder.tokenizer, tokens, overlap)
    digest = hashlib.sha256(embedder.source.fingerprint.encode())
    for text in [c.text for c in chunks] + questions:
        digest.update(text.encode() + b"\0")
    path = cache_root() / "bench" / f"covid-qa-{tokens}-{overlap}-{digest.hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as arrays:
            return chunks, arrays["chunks"], arrays["questions"]
    vectors = embedder.encode([c.text for c in chunks], progress=True)
    qvecs = embedder.encode(questions)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, chunks=vectors, questions=qvecs)
    tmp.replace(path)
    return chunks, vectors, qvecs


def doc_scores(rankings: list[Ranking], chunks, sources: list[str]) -> dict[str, float]:
    """Document recall@5, recall@10 and MRR@10 of chunk rankings (by document id)."""
    from store_comparison import doc_ranking_scores

    return doc_ranking_scores([[chunks[row].doc_id for row in ranking.rows[:10]] for ranking in rankings], sources)


def retrieval_variants(index: ChunkIndex, questions, qvecs, sources) -> dict[str, dict[str, float]]:
    """Every retriever and fusion over the same chunks and candidates (50 per retriever)."""
    from advisor.backends.index import Lexical

    dense = index.dense_rankings(qvecs, 50)
    lexicals = {"bm25": index.lexical_rankings(questions, 50)}
    tfidf_index = ChunkIndex(
        index.chunks, index.vectors, index.dense, Lexical.fit([c.text for c in index.chunks], "tfidf")
    )
    lexicals["tfidf"] = tfidf_index.lexical_rankings(questions, 50)
    out = {"dense": doc_scores(dense, index.chunks, sources)}
    for name, lex in lexicals.items():
        out[name] = doc_scores(lex, index.chunks, sources)
        out[f"rrf+{name}"] = doc_scores([fuse(d, lx, "rrf", 0.5) for d, lx in zip(dense, lex)], index.chunks, sources)
        for w in (0.3, 0.4, 0.5, 0.6, 0.7):
            out[f"weighted{w}+{name}"] = doc_scores(
                [fuse(d, lx, "weighted", w) for d, lx in zip(dense, lex)], index.chunks, sources
            )
        for w in (0.4, 0.6):
            out[f"rrf{w}+{name}"] = doc_scores(
                [fuse(d, lx, "rrf", w) for d, lx in zip(dense, lex)], index.chunks, sources
            )
    return out


def perturbed(vectors: np.ndarray, n: int, sigma: float, seed: int = 0) -> np.ndarray:
    """n unit vectors made by tiling the real ones and adding Gaussian noise (per coordinate sigma), renormalised."""
    rng = np.random.default_rng(seed)
    reps = int(np.ceil(n / len(vectors)))
    tiled = np.tile(vectors, (reps, 1))[:n].copy()
    tiled[len(vectors) :] += rng.normal(0, sigma, size=(n - len(vectors), vectors.shape[1])).astype(np.float32)
    tiled /= np.linalg.norm(tiled, axis=1, keepdims=True)
    return tiled.astype(np.float32)


def hnsw_quality(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> dict[str, float]:
    """Build at the defaults (M=16, ef_construction=200, one thread), query with ef=max(100, 2k)."""
    from advisor.backends.index import build_dense

    t0 = time.perf_counter()
    index = build_dense(vectors)
    build_s = time.perf_counter() - t0
    index.set_ef(query_ef(k))
    t0 = time.perf_counter()
    labels, _ = index.knn_query(queries, k=k, num_threads=1)
    per_query_ms = (time.perf_counter() - t0) / len(queries) * 1000
    sims = queries @ vectors.T
    exact = np.argpartition(-sims, k, axis=1)[:, :k]
    recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(labels.tolist(), exact.tolist())])
    return {
        "vectors": len(vectors),
        "recall_at_10_vs_exact": round(float(recall), 4),
        "query_ms": round(per_query_ms, 4),
        "build_seconds": round(build_s, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--quick", action="store_true", help="only the default chunking")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--part",
        choices=["all", "ratio", "embed", "stores", "growth"],
        default="all",
        help="ratio: only re-measure build overhead; stores: only hnswlib against Qdrant, growth: only their "
        "10k/100k part (both update the results file); embed: only fill the cache of COVID-QA vectors",
    )
    args = parser.parse_args(argv)
    if not (args.data / "docs").is_dir():
        print(f"covid-qa data not found at {args.data}; nothing to measure")
        return 0

    documents = load_documents(args.data / "docs")
    pairs = [p for p in load_pairs(args.data / "qa.jsonl", documents) if p.source]
    questions = [p.question for p in pairs]
    sources = [p.source for p in pairs]
    print(f"covid-qa: {len(documents)} documents, {len(pairs)} questions", flush=True)

    embedder = shared_embedder("all-MiniLM-L6-v2")
    if args.part == "embed":  # only fill the cache of chunk and question vectors
        cached_vectors(documents, questions, embedder)
        return 0
    if args.part in ("stores", "growth"):
        stores(args, documents, pairs, embedder, growth_only=args.part == "growth")
        return 0
    embedder.encode(["warm up"] * 64)
    qvecs = embedder.encode(questions)
    previous = json.loads(args.out.read_text()) if args.part == "ratio" and args.out.is_file() else {}
    results: dict = previous or {
        "data": "covid-qa",
        "documents": len(documents),
        "questions": len(pairs),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": library_versions(),
        "chunking": {},
    }

    # Overhead: RagBackend.build against plain SentenceTransformer.encode on the same chunks (a subset of papers),
    # in the order encode, build, build, encode so that a drift in the machine's load cancels out.
    results["build"] = build_overhead(documents[:RATIO_DOCS], embedder)
    print(f"build vs encode: {results['build']}", flush=True)
    save(args.out, results)
    if args.part == "ratio":
        return 0

    # The full default build through the public API: time and peak memory.
    with tempfile.TemporaryDirectory() as tmp:
        backend = RagBackend(
            BuildSettings(
                retrieval=RetrievalOptions(chunk_tokens=DEFAULT_CHUNKING[0], chunk_overlap=DEFAULT_CHUNKING[1])
            )
        )
        base_rss = rss_mb()
        with measure() as build_m:
            facts = backend.build(documents, [], Path(tmp) / "index", progress=True)
        default_index = backend.index
    results["full_build"] = {
        "documents": len(documents),
        "chunks": facts["chunks"],
        "seconds": build_m.seconds,
        "chunks_per_second": round(facts["chunks"] / build_m.seconds, 1),
        "peak_memory_mb": build_m.peak_memory_mb,
        "memory_before_mb": round(base_rss, 1),
    }
    print(f"full build: {results['full_build']}", flush=True)

    for tokens, overlap in [DEFAULT_CHUNKING] + ([] if args.quick else [c for c in CHUNKINGS if c != DEFAULT_CHUNKING]):
        if (tokens, overlap) == DEFAULT_CHUNKING:
            index = default_index
            embed_s = None
        else:
            chunks = chunk_documents(documents, embedder.tokenizer, tokens, overlap)
            t0 = time.perf_counter()
            vectors = embedder.encode([c.text for c in chunks], progress=True)
            embed_s = round(time.perf_counter() - t0, 1)
            index = ChunkIndex.build(chunks, vectors)
        scores = retrieval_variants(index, questions, qvecs, sources)
        results["chunking"][f"{tokens}/{overlap}"] = {
            "chunks": len(index),
            "embed_seconds": embed_s,
            "retrieval": scores,
        }
        best = max(scores.items(), key=lambda kv: (kv[1]["recall_at_5"], kv[1]["mrr_at_10"]))
        print(
            f"chunking {tokens}/{overlap}: {len(index)} chunks; dense {scores['dense']}; bm25 {scores['bm25']}; "
            f"rrf+bm25 {scores['rrf+bm25']}; best {best[0]} {best[1]}",
            flush=True,
        )
        save(args.out, results)
        if (tokens, overlap) == DEFAULT_CHUNKING:
            extras(results, embedder, default_index, qvecs)
            save(args.out, results)

    save(args.out, results)
    print_table(results)
    print(f"written {args.out}")
    stores(args, documents, pairs, embedder)
    return 0


def stores(args, documents, pairs, embedder, growth_only: bool = False) -> None:
    """hnswlib against Qdrant (benchmarks/store_comparison.py), kept under "stores" in the results file."""
    from store_comparison import compare_growth, compare_stores, print_stores

    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    part = results.get("stores", {})
    if not growth_only:
        part = compare_stores(documents, pairs, embedder, cached_vectors,
                              lambda partial: save(args.out, {**results, "stores": partial}))
    part["growth"] = compare_growth(documents, pairs, embedder, cached_vectors, perturbed,
                                    lambda partial: save(args.out, {**results, "stores": {**part, "growth": partial}}))
    results["stores"] = part
    save(args.out, results)
    print_stores(part)
    print(f"written {args.out}")


def extras(results: dict, embedder, default_index: ChunkIndex, qvecs: np.ndarray) -> None:
    """Sample-paraphrase robustness and the hnswlib measurements (run right after the default chunking)."""
    # Robustness to rewording: the sample project's paraphrased questions (fictional handbook).
    if (SAMPLE / "docs").is_dir() and (SAMPLE / "qa.jsonl").is_file():
        sdocs = load_documents(SAMPLE / "docs")
        spairs = [p for p in load_pairs(SAMPLE / "qa.jsonl", sdocs) if p.paraphrase and p.source]
        schunks = chunk_documents(sdocs, embedder.tokenizer, *DEFAULT_CHUNKING)
        sindex = ChunkIndex.build(schunks, embedder.encode([c.text for c in schunks]))
        para = [p.paraphrase for p in spairs]
        results["sample_paraphrases"] = {
            "questions": len(spairs),
            "original": retrieval_variants(
                sindex,
                [p.question for p in spairs],
                embedder.encode([p.question for p in spairs]),
                [p.source for p in spairs],
            ),
            "paraphrase": retrieval_variants(sindex, para, embedder.encode(para), [p.source for p in spairs]),
        }

    # hnswlib against exact search on the real vectors, and latency at 10k / 100k (tiled + perturbed real vectors).
    real = default_index.vectors
    sigma = 0.02
    results["hnsw"] = {
        "real": hnsw_quality(real, qvecs),
        "perturbation_sigma": sigma,
        "10k": hnsw_quality(perturbed(real, 10_000, sigma), qvecs),
        "100k": hnsw_quality(perturbed(real, 100_000, sigma), qvecs),
    }
    print(f"hnsw: {results['hnsw']}", flush=True)


def build_overhead(documents, embedder) -> dict:
    """Seconds of RagBackend.build (chunk, embed, index, save) and of plain encode on its chunks, twice each (ABBA)."""
    builds, encodes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        RagBackend(BuildSettings()).build(documents[:1], [], Path(tmp) / "warm", progress=False)  # imports, warm-up
        texts = [c.text for c in chunk_documents(documents, embedder.tokenizer)]
        for step in ("encode", "build", "build", "encode"):
            t0 = time.perf_counter()
            if step == "build":
                out = Path(tmp) / f"index{len(builds)}"
                facts = RagBackend(BuildSettings()).build(documents, [], out, progress=False)
                builds.append(time.perf_counter() - t0)
                built = np.load(out / "embeddings.npy")
            else:
                plain = embedder.model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
                encodes.append(time.perf_counter() - t0)
    agreement = float(np.min(np.sum(plain * built, axis=1)))
    return {
        "documents": len(documents),
        "chunks": facts["chunks"],
        "order": "encode, build, build, encode",
        "build_seconds": [round(x, 2) for x in builds],
        "plain_encode_seconds": [round(x, 2) for x in encodes],
        "ratio": round(sum(builds) / sum(encodes), 3),
        "min_cosine_vs_plain_encode": round(agreement, 5),
    }


def save(path: Path, results: dict) -> None:
    """Write the results so far (atomically), so a long run leaves its finished parts."""
    write_text(path, json.dumps(results, indent=2) + "\n")


def print_table(results: dict) -> None:
    """Short aligned summary of the run."""
    rows = [("setting", "retriever", "R@5", "R@10", "MRR@10")]
    for setting, entry in results["chunking"].items():
        for name in ("dense", "bm25", "tfidf", "rrf+bm25", "rrf+tfidf", "weighted0.5+bm25", "weighted0.4+bm25"):
            s = entry["retrieval"][name]
            rows.append((setting, name, f"{s['recall_at_5']:.3f}", f"{s['recall_at_10']:.3f}", f"{s['mrr_at_10']:.3f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)))
    b, f = results["build"], results["full_build"]
    print(
        f"build {b['chunks']} chunks ({b['documents']} papers): {b['build_seconds']} s vs plain encode "
        f"{b['plain_encode_seconds']} s (ratio {b['ratio']}); full build {f['chunks']} chunks {f['seconds']} s, "
        f"peak memory {f['peak_memory_mb']} MB"
    )
    for size in ("real", "10k", "100k"):
        h = results["hnsw"][size]
        print(f"hnsw {h['vectors']} vectors: recall@10 vs exact {h['recall_at_10_vs_exact']}, {h['query_ms']} ms/query")


if __name__ == "__main__":
    sys.exit(main())
