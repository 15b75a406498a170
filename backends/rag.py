"""Retrieval-augmented generation: chunk, embed and index the documents; answer from the top-k chunks.

    backend = RagBackend(BuildSettings()); backend.build(documents, train, Path("out"))
    backend = RagBackend.load(Path("out")); backend.retrieve("question", 5); backend.answer("question")
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from advisor.backends.embedder import Embedder

from advisor.atomic import staged_dir, write_text
from advisor.backends.base import Answer, Backend, BuildSettings, Document, Hit, QAPair
from advisor.backends.chunking import (
    DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, Chunk, check_window, chunk_text,
)
from advisor.backends.index import (
    DEFAULT_DENSE_WEIGHT, DEFAULT_FUSION, DEFAULT_LEXICAL, DENSE_FILE, VECTORS_FILE, ChunkIndex, load_chunks,
)
from advisor.backends.store import RUN_FOLDER_STORAGE, ChunkStore, StoreSettings, store_settings
from advisor.errors import InputError
from advisor.runrecords import Manifest, read_manifest

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
CHUNKER_VERSION = 1  # bump when chunk_text changes what it produces, so cached embeddings are not reused
# Chunks put in the generator's prompt (of the k retrieved). Measured on the sample handbook, 12 held-out
# questions, SmolLM2-135M, 32 new tokens: 5 chunks contains 0.17 / F1 0.11; 3 chunks 0.33 / 0.19;
# 2 chunks 0.58 / 0.28; 1 chunk 0.67 / 0.32 (1 vs 2: one question apart, a tie). The small model loses its
# way in long contexts; 2 keeps a second chance when the best chunk is not the right one.
DEFAULT_CONTEXT_K = 2


@dataclass(frozen=True)
class RetrievalSettings:
    """Chunking and retrieval as a build uses them: settings.retrieval with the measured defaults filled in."""

    chunk_tokens: int
    chunk_overlap: int
    lexical: str
    fusion: str
    dense_weight: float
    context_k: int
    store: StoreSettings = StoreSettings()  # where the index lives (hnswlib files unless the options name Qdrant)


def retrieval_options(settings: BuildSettings) -> RetrievalSettings:
    """Chunking and retrieval options from settings.retrieval, with the measured defaults filled in."""
    given = settings.retrieval

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return RetrievalSettings(
        chunk_tokens=pick(given.chunk_tokens, DEFAULT_CHUNK_TOKENS),
        chunk_overlap=pick(given.chunk_overlap, DEFAULT_CHUNK_OVERLAP),
        lexical=pick(given.lexical, DEFAULT_LEXICAL),
        fusion=pick(given.fusion, DEFAULT_FUSION),
        dense_weight=pick(given.dense_weight, DEFAULT_DENSE_WEIGHT),
        context_k=pick(given.context_k, DEFAULT_CONTEXT_K),
        store=store_settings(settings),
    )


def library_versions() -> dict[str, str]:
    """Versions of the libraries an index depends on."""
    out = {}
    for name in ("advisor", "sentence-transformers", "transformers", "torch", "hnswlib", "scikit-learn", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _cache_key(embedder_fingerprint: str, options: RetrievalSettings) -> str:
    return (
        f"{embedder_fingerprint}|tokens={options.chunk_tokens}|overlap={options.chunk_overlap}|v{CHUNKER_VERSION}"
    )


def _previous(out: Path, key: str) -> tuple[dict, list[Chunk], np.ndarray] | None:
    """A previous build in `out` whose embeddings can be reused (same embedder and chunking), or None."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("embedding_key") != key:
            return None
        chunks = load_chunks(out)
        vectors = np.load(out / VECTORS_FILE, allow_pickle=False, mmap_mode="r")
        if len(chunks) != len(vectors):
            return None
        return manifest, chunks, vectors
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


@dataclass
class _Reuse:
    """What a previous build offers: the unchanged documents' chunks and vectors, and its documents in row order."""

    rows: dict[str, tuple[list[Chunk], np.ndarray]] = field(default_factory=dict)
    previous_order: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[str]:
        """The reusable documents, in their previous row order."""
        return [doc_id for doc_id in self.previous_order if doc_id in self.rows]

    @property
    def kept_rows(self) -> int:
        """Rows the reusable documents take at the start of the new build."""
        return sum(len(self.rows[doc_id][0]) for doc_id in self.kept)

    @property
    def appendable(self) -> bool:
        """Appending to the previous graph is exact when every previous document is still there, unchanged."""
        kept = self.kept
        return bool(kept) and kept == self.previous_order


def _reuse_previous(previous: tuple[dict, list[Chunk], np.ndarray] | None, documents: list[Document]) -> _Reuse:
    """The rows of a previous build (see `_previous`) that belong to documents whose text has not changed."""
    reuse = _Reuse()
    if previous is None:
        return reuse
    manifest, prev_chunks, prev_vectors = previous
    current = {doc.id: doc.sha256 for doc in documents}
    for entry in manifest.get("documents", []):
        if current.get(entry["id"]) == entry["sha256"]:
            rows = slice(entry["first_row"], entry["first_row"] + entry["chunks"])
            reuse.rows[entry["id"]] = (prev_chunks[rows], np.array(prev_vectors[rows]))
        reuse.previous_order.append(entry["id"])
    return reuse


@dataclass
class _Rows:
    """The index's rows: chunks, their vectors, and each document's entry (id, first_row, chunks, sha256)."""

    chunks: list[Chunk]
    vectors: np.ndarray
    entries: list[dict[str, Any]]


def _assemble(
    reuse: _Reuse,
    fresh: list[Document],
    new_chunks: list[Chunk],
    new_vectors: np.ndarray,
    documents: list[Document],
    dimension: int,
) -> _Rows:
    """Reused documents keep their rows in the previous order; new and changed ones follow, in id order."""
    chunks: list[Chunk] = []
    parts: list[np.ndarray] = []
    entries: list[dict[str, Any]] = []
    for doc_id in reuse.kept:
        doc_chunks, doc_vectors = reuse.rows[doc_id]
        entries.append({"id": doc_id, "first_row": len(chunks), "chunks": len(doc_chunks)})
        chunks += doc_chunks
        parts.append(doc_vectors)
    counts: dict[str, int] = {}
    for c in new_chunks:
        counts[c.doc_id] = counts.get(c.doc_id, 0) + 1
    row = len(chunks)
    for doc in fresh:  # new_chunks are in the same document order
        entries.append({"id": doc.id, "first_row": row, "chunks": counts.get(doc.id, 0)})
        row += counts.get(doc.id, 0)
    chunks += new_chunks
    parts.append(new_vectors)
    vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)
    if not chunks:
        raise InputError("the documents produced no text to index")
    sha = {doc.id: doc.sha256 for doc in documents}
    for entry in entries:
        entry["sha256"] = sha[entry["id"]]
    return _Rows(chunks, vectors, entries)


def _save(out: Path, index: ChunkIndex | None, manifest: Manifest) -> None:
    """The index (hnswlib files; None when it lives in a Qdrant server or storage folder) and its manifest,
    written into `out` atomically (a failed build leaves `out` as it was)."""
    with staged_dir(out) as tmp:
        if index is not None:
            index.save(tmp)
        write_text(tmp / MANIFEST, manifest.to_text())


class RagBackend(Backend):
    """Hybrid dense + lexical retrieval over the user's chunks, answered by the untouched generator."""

    approach = "rag"

    def __init__(self, settings: BuildSettings | None = None):
        super().__init__(settings or BuildSettings())
        self.index: ChunkStore | None = None
        self._embedder: Embedder | None = None

    @property
    def options(self) -> RetrievalSettings:
        """Chunking and retrieval, as the plan resolved them."""
        options = self.plan.retrieval
        assert options is not None  # a retrieving arm's plan always holds them
        return options

    @property
    def store(self) -> StoreSettings:
        """Where the index lives, as the plan resolved it."""
        return self.options.store

    @property
    def embedder(self):
        """The shared embedder (loaded on first use)."""
        if self._embedder is None:
            from advisor.backends.embedder import shared_embedder

            self._embedder = shared_embedder(self.settings.embedder, self.settings.device)
        return self._embedder

    def build(self, documents: list[Document], train: list[QAPair], out: Path, progress: bool = True) -> dict[str, Any]:
        """Chunk, embed (only new and changed documents, when a previous build can be reused), index, save atomically.

        The index goes to the store the options name (hnswlib files by default, or Qdrant). A progress bar shows
        the embedding when `progress` is true.
        """
        out = Path(out)
        started = time.perf_counter()
        embedder = self.embedder
        check_window(self.options.chunk_tokens, self.options.chunk_overlap, embedder.max_tokens)
        key = _cache_key(embedder.source.fingerprint, self.options)
        if self.store.kind == "qdrant":
            facts = self._build_in_qdrant(documents, out, key, progress)
        else:
            facts = self._build_in_hnswlib(documents, out, key, progress)
        facts["seconds"] = round(time.perf_counter() - started, 3)
        return facts

    def _build_in_hnswlib(self, documents: list[Document], out: Path, key: str, progress: bool) -> dict[str, Any]:
        """The hnswlib store: reuse the previous build's vectors of unchanged documents, write every file anew."""
        reuse = _reuse_previous(_previous(out, key), documents)
        fresh = [doc for doc in documents if doc.id not in reuse.rows]
        new_chunks, new_vectors = self._embed_fresh(fresh, progress)
        rows = _assemble(reuse, fresh, new_chunks, new_vectors, documents, self.embedder.dimension)
        index = self._index(rows, out, reuse)
        facts: dict[str, Any] = {
            "documents": len(documents),
            "chunks": len(rows.chunks),
            "embedded_chunks": len(new_chunks),
            "reused_chunks": len(rows.chunks) - len(new_chunks),
            "dense_index": "appended" if reuse.appendable else "built",
        }
        manifest = self._manifest(key, index, rows.entries, facts)
        _save(out, index, manifest)
        self.index = index
        self.manifest = manifest
        return facts

    def _build_in_qdrant(self, documents: list[Document], out: Path, key: str, progress: bool) -> dict[str, Any]:
        """The Qdrant store: upsert new and changed documents' chunks by stable ids, delete removed ones.

        Embedded in the run folder, the previous storage is copied into the staged folder and updated there, so
        a failed build leaves `out` as it was; in a server or storage folder the collection is updated in place
        (new chunks first, stale ones deleted last) and the manifest is written after it.
        """
        from advisor.backends import qdrant_store

        store, options, embedder = self.store, self.options, self.embedder
        writer = {"embedder": embedder.name, "fingerprint": embedder.source.fingerprint,
                  "dimension": embedder.dimension, "chunking": (options.chunk_tokens, options.chunk_overlap),
                  "chunker_version": CHUNKER_VERSION}

        def embed(chunks: list[Chunk]) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return embedder.encode([c.text for c in chunks], progress=progress)

        if store.read_only:
            index = qdrant_store.QdrantStore.open(store, None, options.fusion, options.dense_weight)
            problem = qdrant_store.mismatch(index.shape, store, embedder.name, embedder.dimension, None)
            if problem:
                raise InputError(problem)
            chunks = len(index)
            facts: dict[str, Any] = {"documents": len(documents), "chunks": chunks, "embedded_chunks": 0,
                                     "reused_chunks": chunks, "store": "qdrant (read-only)"}
            manifest = self._manifest(key, index, [], facts)
            _save(out, None, manifest)
        elif store.shared:
            client = qdrant_store.connect(store)
            written = qdrant_store.CollectionWriter(client, store, **writer).write(documents, self._chunk, embed)
            index = qdrant_store.QdrantStore.open(store, None, options.fusion, options.dense_weight)
            facts = written.facts
            manifest = self._manifest(key, index, written.entries, facts)
            _save(out, None, manifest)
        else:
            with staged_dir(out) as tmp:
                storage = tmp / RUN_FOLDER_STORAGE
                if (out / RUN_FOLDER_STORAGE / "meta.json").is_file():
                    shutil.copytree(out / RUN_FOLDER_STORAGE, storage, ignore=shutil.ignore_patterns(".lock"))
                client = qdrant_store.private_client(storage)
                try:
                    written = qdrant_store.CollectionWriter(client, store, recreate=True, **writer).write(
                        documents, self._chunk, embed)
                    qdrant_store.keep_only(client, store.collection)
                    staged = qdrant_store.QdrantStore.open_with(client, store, options.fusion, options.dense_weight)
                    facts = written.facts
                    manifest = self._manifest(key, staged, written.entries, facts)
                finally:
                    client.close()
                write_text(tmp / MANIFEST, manifest.to_text())
            index = qdrant_store.QdrantStore.open(store, out / RUN_FOLDER_STORAGE, options.fusion,
                                                  options.dense_weight)
        self.index = index
        self.manifest = manifest
        return facts

    def _chunk(self, documents: list[Document]) -> list[Chunk]:
        """The chunks of these documents, in their order."""
        embedder, options = self.embedder, self.options
        return [
            c
            for doc in documents
            for c in chunk_text(doc.id, doc.text, embedder.tokenizer, options.chunk_tokens, options.chunk_overlap)
        ]

    def _embed_fresh(self, fresh: list[Document], progress: bool) -> tuple[list[Chunk], np.ndarray]:
        """Chunks of the new and changed documents, in their order, and their embeddings."""
        embedder = self.embedder
        new_chunks = self._chunk(fresh)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            new_vectors = embedder.encode([c.text for c in new_chunks], progress=progress)
        return new_chunks, new_vectors

    def _index(self, rows: _Rows, out: Path, reuse: _Reuse) -> ChunkIndex:
        """The dense and lexical indexes over the rows; the previous dense graph is extended when it can be."""
        options = self.options
        append = reuse.appendable
        return ChunkIndex.build(
            rows.chunks,
            rows.vectors,
            lexical=options.lexical,
            fusion=options.fusion,
            dense_weight=options.dense_weight,
            previous_dense=out / DENSE_FILE if append else None,
            previous_rows=reuse.kept_rows if append else 0,
        )

    def _manifest(
        self, key: str, index: ChunkStore, entries: list[dict[str, Any]], facts: dict[str, Any]
    ) -> Manifest:
        """manifest.json of this build: models, chunking, retrieval settings, each document's rows and the counts."""
        embedder, options = self.embedder, self.options
        return Manifest.model_validate({
            "format": FORMAT,
            "approach": self.approach,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": {"embedder": embedder.name, "generator": self.settings.generator},
            "embedder": {
                "name": embedder.name,
                "fingerprint": embedder.source.fingerprint,
                "dimension": embedder.dimension,
                "max_tokens": embedder.max_tokens,
            },
            "embedding_key": key,
            "chunking": {
                "tokens": options.chunk_tokens,
                "overlap": options.chunk_overlap,
                "tokenizer": embedder.name,
                "version": CHUNKER_VERSION,
            },
            "retrieval": {**index.describe(), "context_k": self.context_k},
            "settings": self.settings.to_json(),
            "documents": entries,
            "counts": dict(facts),
            "versions": library_versions(),
        })

    @classmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "RagBackend":
        """Load an index built into `out`; the embedder is always the one the index was built with."""
        out = Path(out)
        manifest = read_manifest(out, needs=("models.embedder",))
        if settings is None:
            settings = BuildSettings.from_json(manifest.settings)
        built_with = manifest.models.embedder or ""
        if settings.embedder != built_with:
            log.info("using embedder %s, which built the index in %s", built_with, out)
            settings = replace(settings, embedder=built_with)
        backend = cls(settings)
        retrieval = manifest.retrieval
        fusion = retrieval.get("fusion", DEFAULT_FUSION)
        dense_weight = retrieval.get("dense_weight", DEFAULT_DENSE_WEIGHT)
        record = retrieval.get("store")
        if isinstance(record, dict) and record.get("kind") == "qdrant":
            from advisor.backends.qdrant_store import open_recorded

            backend.index = open_recorded(record, out, fusion, dense_weight)
            backend.manifest = manifest
            return backend
        try:
            backend.index = ChunkIndex.load(out, fusion, dense_weight)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise InputError(f"the index in {out} could not be read ({exc}); rebuild it with 'advisor build'") from None
        backend.manifest = manifest
        return backend

    def close(self) -> None:
        """Let go of the index's store (an embedded Qdrant storage is unlocked once nothing uses it)."""
        if self.index is not None:
            self.index.close()
            self.index = None

    def _require_index(self) -> ChunkStore:
        if self.index is None:
            raise RuntimeError("build() or load() the RagBackend before retrieving")
        return self.index

    def retrieve_many(self, questions: list[str], k: int, mode: str | None = None) -> list[list[Hit]]:
        """Top-k chunks for each question (query vectors embedded in one batch)."""
        index = self._require_index()
        vectors = self.embedder.encode(questions)
        return index.retrieve(questions, vectors, k, mode)

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        """The top-k chunks for a question, best first."""
        return self.retrieve_many([question], k or self.settings.k)[0]

    @property
    def context_k(self) -> int:
        """Chunks given to the generator: min(settings.k, the context_k option, 2 by default)."""
        return max(1, min(self.settings.k, self.options.context_k))

    def answer_many(self, questions: list[str], batch_size: int | None = None) -> list[Answer]:
        """Answers from the top context_k chunks, generated in batches in-process or sent to the run's endpoint;
        seconds = the question's share of retrieval + its generation (in-process: the batch's share; through an
        endpoint: its request). Answer.sources are the distinct documents of the chunks in the prompt."""
        from advisor.backends.generation import answerer
        from advisor.backends.prompts import context_messages

        batch_size = batch_size or self.settings.batch_size
        model = answerer(self.settings)
        answers: list[Answer] = []
        if not questions:
            return answers
        t0 = time.perf_counter()
        hits = self.retrieve_many(questions, self.context_k)
        retrieving = (time.perf_counter() - t0) / len(questions)
        replies = model.complete(
            [context_messages(q, h) for q, h in zip(questions, hits)],
            max_new_tokens=self.settings.new_tokens,
            batch_size=batch_size,
        )
        for reply, h in zip(replies, hits):
            sources = list(dict.fromkeys(hit.doc_id for hit in h))
            answers.append(Answer.from_reply(reply, sources, h, round(reply.seconds + retrieving, 4)))
        return answers
