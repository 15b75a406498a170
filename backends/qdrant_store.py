"""The RAG index in Qdrant: each chunk a point with a dense vector and a BM25 sparse vector, fused as in-process.

Retrieval asks Qdrant for the top 50 chunks by each vector (one batched request for many questions) and fuses
the two lists on the client with `index.fuse`, the same min-max weighted fusion (dense 0.4) the hnswlib store
uses; BM25 weights come from `sparse.SparseBM25` with Qdrant's IDF modifier. Points are keyed by a stable id
(the document's path, its content hash and the chunk number), so a re-build upserts only new and changed
documents and deletes the chunks of documents that are gone. Works the same embedded (`QdrantClient(path=...)`)
and against a server (`QdrantClient(url=..., api_key=...)`); every client error becomes one input error line.
"""

from __future__ import annotations

import os
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from advisor.backends.base import Document, Hit
from advisor.backends.chunking import Chunk
from advisor.backends.index import CANDIDATES, FUSIONS, RRF_K, Ranking, fuse
from advisor.backends.sparse import TERM_IDS, SparseBM25, mean_length
from advisor.backends.store import (
    API_KEY_VARIABLE, DEFAULT_COLLECTION, RUN_FOLDER_STORAGE, ChunkStore, StoreSettings,
)
from advisor.errors import InputError, first_line

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from advisor.backends.base import BuildSettings

DENSE = "dense"
SPARSE = "bm25"
META_KEY = "advisor"  # the collection metadata advisor writes: embedder, chunking, BM25 parameters
META_FORMAT = 1
TEXT_FIELD = "text"
DOC_FIELD = "doc_id"
KEY_FIELD = "doc_key"  # "<document id>@<document sha256>": which version of a document a chunk belongs to
UPSERT_BATCH = 128
QUERY_BATCH = 64  # questions per batched query request
SCROLL_PAGE = 1024
TIMEOUT_SECONDS = 30
_POINT_NAMESPACE = uuid.UUID("6f1d2a52-3c1e-4f57-9a59-2d0c1b7e5a11")

# Embedded storages opened by this process, by the identity of their lock file: local mode takes an exclusive
# lock on the folder, so every reader in the process shares one client per storage.
_EMBEDDED: weakref.WeakValueDictionary[tuple[int, int], QdrantClient] = weakref.WeakValueDictionary()


# ---------------------------------------------------------------------------------------------- connecting


@contextmanager
def qdrant_errors(store: StoreSettings) -> Iterator[None]:
    """Turn what the client raises (unreachable server, refused key, HTTP errors, a locked storage) into one line."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    try:
        yield
    except UnexpectedResponse as exc:
        if exc.status_code in (401, 403):
            given = "the key in " + API_KEY_VARIABLE if os.environ.get(API_KEY_VARIABLE) else "no API key"
            raise InputError(f"{store.label()}: the server refused the request with {given} (HTTP "
                             f"{exc.status_code}); set {API_KEY_VARIABLE} to a key allowed to use the collection") \
                from None
        detail = first_line(Exception(exc.content.decode("utf-8", "replace"))) if exc.content else exc.reason_phrase
        raise InputError(f"{store.label()}: the server answered HTTP {exc.status_code} ({detail})") from None
    except ResponseHandlingException as exc:
        raise InputError(f"{store.label()}: cannot reach the server ({first_line(exc.source)}); check --qdrant-url "
                         "and that Qdrant is running there") from None
    except RuntimeError as exc:
        if "already accessed by another instance" in str(exc):
            raise InputError(f"{store.label()}: the embedded storage is open in another process (embedded Qdrant "
                             "serves one process at a time; use a Qdrant server to share an index)") from None
        raise


def _embedded(folder: Path) -> QdrantClient:
    """The process's client of an embedded storage folder, opened on first use."""
    from qdrant_client import QdrantClient

    lock = folder / ".lock"
    if lock.is_file():
        stat = lock.stat()
        client = _EMBEDDED.get((stat.st_dev, stat.st_ino))
        if client is not None:
            return client
    client = QdrantClient(path=str(folder))
    stat = lock.stat()
    _EMBEDDED[(stat.st_dev, stat.st_ino)] = client
    return client


def connect(store: StoreSettings, run_folder: Path | None = None) -> QdrantClient:
    """A client for the store: the server at store.url (key from QDRANT_API_KEY), the storage at store.path, or
    the run folder's own storage. Nothing is sent yet; `qdrant_errors` maps what the first request raises."""
    from qdrant_client import QdrantClient

    if store.url:
        import warnings
        from urllib.parse import urlsplit

        with warnings.catch_warnings():
            if urlsplit(store.url).hostname in ("127.0.0.1", "localhost", "::1"):  # a key over plain http stays local
                warnings.filterwarnings("ignore", message="Api key is used with an insecure connection")
            return QdrantClient(url=store.url, api_key=os.environ.get(API_KEY_VARIABLE) or None,
                                timeout=TIMEOUT_SECONDS, check_compatibility=False)
    if store.path:
        folder = Path(store.path)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--qdrant-path {store.path} is a file; give the folder of an embedded Qdrant storage")
        if store.read_only and not (folder / "meta.json").is_file():
            raise InputError(f"--qdrant-path {store.path} holds no embedded Qdrant storage (no meta.json) to read")
    else:
        if run_folder is None:
            raise ValueError("the run folder's Qdrant storage needs the run folder")
        folder = Path(run_folder)
    with qdrant_errors(store):
        return _embedded(folder)


# ---------------------------------------------------------------------------------------------- collections


@dataclass(frozen=True)
class Shape:
    """What a collection holds: its dense vector (name, size), BM25 sparse vector if any, advisor's metadata."""

    dense: str | None  # None: the collection's one unnamed vector
    size: int
    sparse: str | None
    meta: dict[str, Any] | None  # None for a collection advisor did not build
    points: int


def inspect(client: QdrantClient, store: StoreSettings) -> Shape:
    """The collection's vectors and metadata (get_collection), or InputError naming what is wrong."""
    from qdrant_client.http import models

    info = client.get_collection(store.collection)
    vectors = info.config.params.vectors
    if isinstance(vectors, models.VectorParams) or vectors is None:
        if vectors is None:
            raise InputError(f"{store.label()} has no dense vectors to search")
        dense, size = None, vectors.size
    else:
        if DENSE in vectors:
            dense = DENSE
        elif len(vectors) == 1:
            dense = next(iter(vectors))
        else:
            raise InputError(f"{store.label()} has several dense vectors ({', '.join(sorted(vectors))}) and none "
                             f"named '{DENSE}'; advisor cannot tell which one the embedder made")
        size = vectors[dense].size
    sparse_config = info.config.params.sparse_vectors or {}
    meta = (info.config.metadata or {}).get(META_KEY)
    return Shape(dense, int(size), SPARSE if SPARSE in sparse_config else None,
                 meta if isinstance(meta, dict) else None, int(info.points_count or 0))


def _chunking(meta: dict[str, Any]) -> str:
    chunking = meta.get("chunking", {})
    return f"{chunking.get('tokens')}/{chunking.get('overlap')}"


def mismatch(shape: Shape, store: StoreSettings, embedder: str, dimension: int | None,
             chunking: tuple[int, int] | None) -> str | None:
    """Why this run may not use the collection (another vector size, embedder or chunking), or None."""
    if dimension is not None and shape.size != dimension:
        return (f"{store.label()} holds vectors of size {shape.size}, but embedder '{embedder}' makes {dimension}: "
                "give the embedder that built it with --embedder")
    if shape.meta is None:
        if store.read_only:
            return None
        return (f"{store.label()} was not built by advisor; to evaluate it as it is (only reading it), name its "
                "payload fields with --text-field and --doc-field, or give another --collection to build into")
    built_with = shape.meta.get("embedder")
    if built_with != embedder:
        return (f"{store.label()} was built with embedder '{built_with}', not '{embedder}': give --embedder "
                f"{built_with}, or another --collection")
    if chunking is not None and not store.read_only and (shape.meta.get("chunking", {}).get("tokens"),
                                                         shape.meta.get("chunking", {}).get("overlap")) != chunking:
        return (f"{store.label()} holds {_chunking(shape.meta)} chunks, this build makes {chunking[0]}/{chunking[1]}: "
                "give the same --chunk-tokens and --chunk-overlap, or another --collection")
    return None


def _check_fields(client: QdrantClient, store: StoreSettings) -> None:
    """An existing collection's points carry the stated text and document-id payload fields."""
    points, _ = client.scroll(store.collection, limit=1, with_payload=True)
    if not points:
        raise InputError(f"{store.label()} is empty: there is nothing to evaluate")
    payload = points[0].payload or {}
    for flag, name in (("--text-field", store.text_field), ("--doc-field", store.doc_field)):
        if name not in payload:
            found = ", ".join(sorted(payload)) or "none"
            raise InputError(f"{store.label()}: {flag} {name!r} is not a payload field of its points "
                             f"(fields found: {found})")


def check_collection(store: StoreSettings, settings: BuildSettings, embedder: str) -> None:
    """Reach the store and check its collection against the run, before any model is loaded (see store.check_store)."""
    from advisor.backends.embedder import embedder_dimension, resolve_embedder
    from advisor.backends.rag import retrieval_options

    source = resolve_embedder(embedder)
    options = retrieval_options(settings)
    client = connect(store)
    with qdrant_errors(store):
        if not client.collection_exists(store.collection):
            if store.read_only:
                raise InputError(f"{store.label()} does not exist; name an existing collection to evaluate it")
            return  # a build creates it
        shape = inspect(client, store)
        problem = mismatch(shape, store, source.name, embedder_dimension(source),
                           (options.chunk_tokens, options.chunk_overlap))
        if problem:
            raise InputError(problem)
        if store.read_only:
            _check_fields(client, store)


# ---------------------------------------------------------------------------------------------- searching


class QdrantStore(ChunkStore):
    """Search a Qdrant collection: dense, BM25 sparse (when it has them), or both fused on the client."""

    def __init__(self, client: QdrantClient, store: StoreSettings, shape: Shape, fusion: str, dense_weight: float,
                 run_folder: Path | None = None):
        self.client: Any = client  # None once closed
        self.store = store
        self.shape = shape
        self.dense_weight = dense_weight
        self.run_folder = run_folder
        self.fusion = fusion if shape.sparse else "dense"  # a collection without BM25 vectors is searched densely
        self.text_field = store.text_field or TEXT_FIELD
        self.doc_field = store.doc_field or DOC_FIELD
        lexical = (shape.meta or {}).get("lexical", {})
        self.bm25 = SparseBM25(float(lexical.get("avgdl", 1.0)), float(lexical.get("k1", 1.2)),
                               float(lexical.get("b", 0.75)))

    @classmethod
    def open(cls, store: StoreSettings, run_folder: Path | None, fusion: str, dense_weight: float) -> QdrantStore:
        """Connect and check that the collection is there."""
        client = connect(store, run_folder)
        with qdrant_errors(store):
            if not client.collection_exists(store.collection):
                raise InputError(f"{store.label()} does not exist (any more); rebuild with 'advisor build'")
        return cls.open_with(client, store, fusion, dense_weight, run_folder)

    @classmethod
    def open_with(cls, client: QdrantClient, store: StoreSettings, fusion: str, dense_weight: float,
                  run_folder: Path | None = None) -> QdrantStore:
        """A store over a client already connected (a build's own client)."""
        with qdrant_errors(store):
            shape = inspect(client, store)
        return cls(client, store, shape, fusion, dense_weight, run_folder)

    def __len__(self) -> int:
        with qdrant_errors(self.store):
            return int(self.client.count(self.store.collection, exact=True).count)

    def _fields(self) -> list[str]:
        return [self.doc_field, "chunk"]

    def _key(self, point) -> tuple[str, int, str]:
        """A chunk's ranking key: (document, chunk number), so ties break as in the hnswlib store."""
        payload = point.payload or {}
        chunk = payload.get("chunk")
        return (str(payload.get(self.doc_field, "")), chunk if isinstance(chunk, int) else -1, str(point.id))

    def _requests(self, queries: Sequence[str], vectors: np.ndarray, depth: int, dense: bool, lexical: bool):
        """The batched query requests (dense, then sparse, per question) and where each question's answers sit."""
        from qdrant_client.http import models

        requests: list[models.QueryRequest] = []
        slots: list[tuple[int | None, int | None]] = []
        for query, vector in zip(queries, vectors):
            d = s = None
            if dense:
                d = len(requests)
                requests.append(models.QueryRequest(query=[float(x) for x in vector], using=self.shape.dense,
                                                    limit=depth, with_payload=self._fields()))
            if lexical:
                indices, values = self.bm25.query(query)
                if indices:
                    s = len(requests)
                    requests.append(models.QueryRequest(query=models.SparseVector(indices=indices, values=values),
                                                        using=SPARSE, limit=depth, with_payload=self._fields()))
            slots.append((d, s))
        return requests, slots

    def _rankings(self, queries: list[str], vectors: np.ndarray, depth: int, dense: bool, lexical: bool):
        """Per question: the dense and the lexical ranking (keys and scores) and the point id of each key."""
        out = []
        for start in range(0, len(queries), QUERY_BATCH):
            part, part_vectors = queries[start:start + QUERY_BATCH], vectors[start:start + QUERY_BATCH]
            requests, slots = self._requests(part, part_vectors, depth, dense, lexical)
            with qdrant_errors(self.store):
                responses = self.client.query_batch_points(self.store.collection, requests) if requests else []
            for d, s in slots:
                ids: dict[tuple, Any] = {}
                pair = []
                for slot in (d, s):
                    points = responses[slot].points if slot is not None else []
                    keys = [self._key(p) for p in points]
                    ids.update(zip(keys, (p.id for p in points)))
                    pair.append(Ranking(keys, [float(p.score) for p in points]))
                out.append((pair[0], pair[1], ids))
        return out

    def retrieve(self, queries: list[str], vectors: np.ndarray, k: int, mode: str | None = None) -> list[list[Hit]]:
        """Top-k chunks per query: dense, lexical (BM25), or fused on the client ('weighted', 'rrf')."""
        mode = mode or self.fusion
        if mode not in FUSIONS:
            raise InputError(f"unknown fusion '{mode}' (expected one of {', '.join(FUSIONS)})")
        if mode != "dense" and self.shape.sparse is None:
            raise InputError(f"{self.store.label()} has no BM25 sparse vectors: only dense retrieval works on it")
        depth = k if mode in ("dense", "lexical") else max(k, CANDIDATES)
        rankings = self._rankings(list(queries), np.asarray(vectors), depth, mode != "lexical", mode != "dense")
        chosen: list[tuple[list[tuple], list[float], dict]] = []
        for dense, lexical, ids in rankings:
            ranking = dense if mode == "dense" else lexical if mode == "lexical" else fuse(dense, lexical, mode,
                                                                                            self.dense_weight)
            chosen.append((ranking.rows[:k], ranking.scores[:k], ids))
        texts = self._texts([ids[key] for keys, _, ids in chosen for key in keys])
        return [[Hit(key[0], key[1], texts.get(str(ids[key]), ""), round(score, 6)) for key, score in zip(keys, scores)]
                for keys, scores, ids in chosen]

    def _texts(self, point_ids: list[Any]) -> dict[str, str]:
        """The text payload of these points (one request)."""
        if not point_ids:
            return {}
        unique = list(dict.fromkeys(point_ids))
        with qdrant_errors(self.store):
            records = self.client.retrieve(self.store.collection, unique, with_payload=[self.text_field])
        return {str(r.id): str((r.payload or {}).get(self.text_field, "")) for r in records}

    def fused_by_server(self, queries: list[str], vectors: np.ndarray, k: int, fusion: str) -> list[list[tuple]]:
        """Qdrant's own fusion of the two candidate lists ('rrf' or 'dbsf'), as (document, chunk) keys; measured in
        benchmarks/bench_rag.py against the client-side weighted fusion."""
        from qdrant_client.http import models

        method = {"rrf": models.Fusion.RRF, "dbsf": models.Fusion.DBSF}[fusion]
        out: list[list[tuple]] = []
        for start in range(0, len(queries), QUERY_BATCH):
            requests = []
            for query, vector in zip(queries[start:start + QUERY_BATCH], vectors[start:start + QUERY_BATCH]):
                indices, values = self.bm25.query(query)
                prefetch = [models.Prefetch(query=[float(x) for x in vector], using=self.shape.dense, limit=CANDIDATES)]
                if indices:
                    prefetch.append(models.Prefetch(query=models.SparseVector(indices=indices, values=values),
                                                    using=SPARSE, limit=CANDIDATES))
                requests.append(models.QueryRequest(prefetch=prefetch, query=models.FusionQuery(fusion=method),
                                                    limit=k, with_payload=self._fields()))
            with qdrant_errors(self.store):
                responses = self.client.query_batch_points(self.store.collection, requests)
            out += [[self._key(p) for p in response.points] for response in responses]
        return out

    def describe(self) -> dict[str, Any]:
        store = self.store
        record: dict[str, Any] = {"kind": "qdrant", "where": store.where, "collection": store.collection,
                                  "read_only": store.read_only, "text_field": self.text_field,
                                  "doc_field": self.doc_field, "dense_vector": self.shape.dense,
                                  "sparse_vector": self.shape.sparse}
        if store.url:
            record["url"] = store.url
        elif store.path:
            record["path"] = store.path
        else:
            record["path"] = RUN_FOLDER_STORAGE  # inside the run folder
        described: dict[str, Any] = {"store": record, "fusion": self.fusion, "dense_weight": self.dense_weight,
                                     "candidates": CANDIDATES, "rrf_k": RRF_K}
        if self.shape.sparse:
            lexical = (self.shape.meta or {}).get("lexical", {})
            described["lexical"] = "bm25"
            described["bm25"] = {key: lexical.get(key) for key in ("k1", "b", "avgdl", "terms", "idf")}
        return described

    def close(self) -> None:
        """Drop this store's hold on the client (an embedded storage is released when no store uses it)."""
        self.client = None


# ---------------------------------------------------------------------------------------------- writing


def document_key(doc: Document) -> str:
    """Which version of a document a chunk belongs to: its id and content hash."""
    return f"{doc.id}@{doc.sha256}"


def point_id(doc: Document, chunk: int) -> str:
    """A chunk's stable point id: the same document text gives the same ids, build after build."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{document_key(doc)}#{chunk}"))


def complete_documents(client: QdrantClient, collection: str) -> dict[str, int]:
    """Document versions (doc_key) whose every chunk is in the collection, with their chunk counts."""
    counts: dict[str, int] = {}
    expected: dict[str, int] = {}
    offset = None
    while True:
        points, offset = client.scroll(collection, limit=SCROLL_PAGE, offset=offset,
                                       with_payload=[KEY_FIELD, "doc_chunks"])
        for p in points:
            payload = p.payload or {}
            key = payload.get(KEY_FIELD)
            if isinstance(key, str):
                counts[key] = counts.get(key, 0) + 1
                expected[key] = int(payload.get("doc_chunks", -1))
        if offset is None:
            break
    return {key: n for key, n in counts.items() if n == expected.get(key)}


@dataclass
class Written:
    """What a build did to the collection."""

    entries: list[dict[str, Any]]  # documents: id, sha256, chunks
    facts: dict[str, Any]


class CollectionWriter:
    """Bring a collection up to date with the documents: upsert the chunks of new and changed ones, then delete
    every chunk of a document version that is no longer there. Before anything is embedded, a collection built
    with another embedder, vector size or chunking is refused (or, with `recreate`, replaced)."""

    def __init__(self, client: QdrantClient, store: StoreSettings, *, embedder: str, fingerprint: str,
                 dimension: int, chunking: tuple[int, int], chunker_version: int, recreate: bool = False):
        self.client, self.store = client, store
        self.embedder, self.fingerprint, self.dimension = embedder, fingerprint, dimension
        self.chunking, self.chunker_version, self.recreate = chunking, chunker_version, recreate

    def _meta(self, avgdl: float) -> dict[str, Any]:
        return {META_KEY: {
            "format": META_FORMAT, "embedder": self.embedder, "fingerprint": self.fingerprint,
            "dimension": self.dimension,
            "chunking": {"tokens": self.chunking[0], "overlap": self.chunking[1], "version": self.chunker_version},
            "lexical": {"kind": "bm25", "k1": SparseBM25(avgdl).k1, "b": SparseBM25(avgdl).b, "avgdl": avgdl,
                        "terms": TERM_IDS, "idf": "qdrant modifier",
                        "analyzer": "scikit-learn CountVectorizer, lowercase, English stop words"},
        }}

    def _create(self, avgdl: float) -> Shape:
        from qdrant_client.http import models

        name = self.store.collection
        self.client.create_collection(
            name,
            vectors_config={DENSE: models.VectorParams(size=self.dimension, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            metadata=self._meta(avgdl),
        )
        if self.store.url:  # payload indexes serve the filters of deletes on a server (local mode has none)
            for field in (KEY_FIELD, DOC_FIELD):
                self.client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD)
        shape = inspect(self.client, self.store)
        if shape.meta is None:
            raise InputError(f"{self.store.label()}: the server did not keep the collection's metadata, which "
                             "advisor needs to refuse mixing embedders; use a newer Qdrant server")
        return shape

    def existing(self) -> Shape | None:
        """The collection if it exists and fits this build; refused (or dropped, with `recreate`) if it does not."""
        if not self.client.collection_exists(self.store.collection):
            return None
        shape = inspect(self.client, self.store)
        problem = mismatch(shape, self.store, self.embedder, self.dimension, self.chunking)
        if problem is None and shape.sparse is None:
            problem = f"{self.store.label()} has no '{SPARSE}' sparse vectors; give another --collection"
        if problem is None:
            return shape
        if not self.recreate:
            raise InputError(problem)
        self.client.delete_collection(self.store.collection)
        return None

    def write(self, documents: list[Document], chunk: Callable[[list[Document]], list[Chunk]],
              embed: Callable[[list[Chunk]], np.ndarray]) -> Written:
        """Chunk and embed only the documents the collection lacks, upsert them, delete what is stale."""
        from qdrant_client.http import models

        with qdrant_errors(self.store):
            shape = self.existing()
            present = complete_documents(self.client, self.store.collection) if shape is not None else {}
        fresh = [doc for doc in documents if document_key(doc) not in present]
        chunks = chunk(fresh)
        by_doc: dict[str, list[Chunk]] = {}
        for c in chunks:
            by_doc.setdefault(c.doc_id, []).append(c)
        entries: list[dict[str, Any]] = [{"id": doc.id, "sha256": doc.sha256,
                    "chunks": present.get(document_key(doc), len(by_doc.get(doc.id, [])))} for doc in documents]
        if not sum(e["chunks"] for e in entries):
            raise InputError("the documents produced no text to index")
        with qdrant_errors(self.store):
            if shape is None:
                shape = self._create(mean_length([c.text for c in chunks]))
        bm25 = SparseBM25(float(shape.meta["lexical"]["avgdl"])) if shape.meta else SparseBM25(1.0)
        vectors = embed(chunks)
        docs = {doc.id: doc for doc in fresh}
        with qdrant_errors(self.store):
            for start in range(0, len(chunks), UPSERT_BATCH):
                points = [self._point(docs[c.doc_id], c, vector, bm25, len(by_doc[c.doc_id]))
                          for c, vector in zip(chunks[start:start + UPSERT_BATCH], vectors[start:start + UPSERT_BATCH])]
                self.client.upsert(self.store.collection, points, wait=True)
            before = int(self.client.count(self.store.collection, exact=True).count)
            keep = models.MatchAny(any=[document_key(doc) for doc in documents])
            self.client.delete(self.store.collection, models.FilterSelector(
                filter=models.Filter(must_not=[models.FieldCondition(key=KEY_FIELD, match=keep)])), wait=True)
            total = int(self.client.count(self.store.collection, exact=True).count)
        facts = {"documents": len(documents), "chunks": total, "embedded_chunks": len(chunks),
                 "reused_chunks": total - len(chunks), "deleted_chunks": before - total,
                 "store": f"qdrant ({self.store.where})"}
        return Written(entries, facts)

    @staticmethod
    def _point(doc: Document, c: Chunk, vector: np.ndarray, bm25: SparseBM25, doc_chunks: int):
        """A chunk as a point: dense and BM25 vectors; payload with the document, the span and content hashes."""
        import hashlib

        from qdrant_client.http import models

        indices, values = bm25.document(c.text)
        vectors: dict[str, Any] = {DENSE: [float(x) for x in vector]}
        if indices:
            vectors[SPARSE] = models.SparseVector(indices=indices, values=values)
        payload = {
            DOC_FIELD: c.doc_id, "doc_sha256": doc.sha256, KEY_FIELD: document_key(doc), "doc_chunks": doc_chunks,
            "chunk": c.chunk_id, "start": c.start, "end": c.end, "tokens": c.tokens, TEXT_FIELD: c.text,
            "text_sha256": hashlib.sha256(c.text.encode("utf-8")).hexdigest(),
        }
        return models.PointStruct(id=point_id(doc, c.chunk_id), vector=vectors, payload=payload)


def private_client(folder: Path) -> QdrantClient:
    """A client of its own for an embedded storage a build writes (closed by the build, never shared)."""
    from qdrant_client import QdrantClient

    return QdrantClient(path=str(folder))


def keep_only(client: QdrantClient, collection: str) -> None:
    """Drop every other collection of a run folder's own storage (left by a build with another --collection)."""
    for other in client.get_collections().collections:
        if other.name != collection:
            client.delete_collection(other.name)


def open_recorded(record: dict[str, Any], out: Path, fusion: str, dense_weight: float) -> QdrantStore:
    """The store a manifest's retrieval.store names (a server, a storage folder, or the run folder's own)."""
    url, path = record.get("url"), record.get("path")
    read_only = bool(record.get("read_only"))
    store = StoreSettings(kind="qdrant", url=url, path=path if record.get("where") == "path" else None,
                          collection=str(record.get("collection") or DEFAULT_COLLECTION),
                          text_field=record.get("text_field") if read_only else None,
                          doc_field=record.get("doc_field") if read_only else None)
    run_folder = Path(out) / RUN_FOLDER_STORAGE if store.where == "run folder" else None
    if run_folder is not None and not (run_folder / "meta.json").is_file():
        raise InputError(f"the index in {out} could not be read (its Qdrant storage is missing); rebuild it with "
                         "'advisor build'")
    return QdrantStore.open(store, run_folder, fusion, dense_weight)
