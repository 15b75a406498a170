"""The Qdrant store on the embedded on-disk client (no server): same retrieval as hnswlib, incremental builds by
stable ids, refusing a mismatched collection, reading an existing collection as it is, and faults as one line.

A storage folder given with --qdrant-path is updated in place through the same client calls a server gets
(create, upsert, scroll, delete by filter, count, batched queries); only the transport differs.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.backends import shared
from advisor.backends.base import BuildSettings
from advisor.backends.data import load_documents
from advisor.backends.evaluation import retrieval_scores
from advisor.backends.options import RetrievalOptions
from advisor.backends.qdrant_store import connect
from advisor.backends.rag import RagBackend
from advisor.backends.store import StoreSettings, store_settings
from advisor.cli import main
from advisor.errors import InputError
from tests.support.cli import assert_input_error


def _qdrant(**options) -> BuildSettings:
    return BuildSettings(k=3, max_new_tokens=8, retrieval=RetrievalOptions(store="qdrant", **options))


def _client(path):
    """The process's client of an embedded storage (shared with any store reading it)."""
    return connect(StoreSettings(kind="qdrant", path=str(path)))


def _points(path, collection="advisor"):
    client = _client(path)
    points, _ = client.scroll(collection, limit=1000, with_payload=True)
    return points


@pytest.fixture(scope="module")
def built_qdrant(tmp_path_factory, tiny_documents):
    out = tmp_path_factory.mktemp("qdrant") / "index"
    backend = RagBackend(_qdrant())
    facts = backend.build(tiny_documents, [], out, progress=False)
    return backend, out, facts


def test_the_qdrant_store_retrieves_what_the_hnswlib_store_does(built_rag, built_qdrant, tiny_pairs):
    hnsw, _ = built_rag
    qdrant, _, _ = built_qdrant
    questions = [p.question for p in tiny_pairs]
    for mode in ("weighted", "rrf", "dense", "lexical"):
        a, b = hnsw.retrieve_many(questions, 3, mode), qdrant.retrieve_many(questions, 3, mode)
        assert [[(h.doc_id, h.chunk_id) for h in hits] for hits in a] == \
               [[(h.doc_id, h.chunk_id) for h in hits] for hits in b], mode
        assert [h.score for hits in a for h in hits] == pytest.approx([h.score for hits in b for h in hits], abs=1e-4)
        assert [h.text for hits in a for h in hits] == [h.text for hits in b for h in hits]
    assert retrieval_scores(hnsw, tiny_pairs, 3) == retrieval_scores(qdrant, tiny_pairs, 3)


def test_the_run_folder_holds_the_storage_and_a_manifest_naming_the_store(built_qdrant, tiny_documents):
    _, out, facts = built_qdrant
    names = {p.name for p in out.iterdir()}
    assert names == {"manifest.json", "qdrant"}  # no hnswlib files, no chunk table: the chunks live in Qdrant
    assert facts["chunks"] == facts["embedded_chunks"] == 5 and facts["store"] == "qdrant (run folder)"
    manifest = json.loads((out / "manifest.json").read_text())
    store = manifest["retrieval"]["store"]
    assert store["kind"] == "qdrant" and store["where"] == "run folder" and store["collection"] == "advisor"
    assert manifest["retrieval"]["fusion"] == "weighted" and manifest["retrieval"]["dense_weight"] == 0.4
    assert manifest["retrieval"]["bm25"]["idf"] == "qdrant modifier"
    assert {d["id"]: d["chunks"] for d in manifest["documents"]} == {d.id: 1 for d in tiny_documents}
    loaded = RagBackend.load(out)
    assert loaded.retrieve("Who keeps the Grennick lighthouse?", 1)[0].doc_id == "places/lighthouse.html"


def test_chunk_payloads_hold_the_document_the_span_and_content_hashes(built_qdrant, tiny_documents):
    _, out, _ = built_qdrant
    points = _points(out / "qdrant")
    by_doc = {d.id: d for d in tiny_documents}
    assert len(points) == 5
    for point in points:
        payload = point.payload
        doc = by_doc[payload["doc_id"]]
        assert payload["doc_sha256"] == doc.sha256 and payload["doc_key"] == f"{doc.id}@{doc.sha256}"
        assert doc.text[payload["start"]:payload["end"]].split()[:3] == payload["text"].split()[:3] or \
            doc.id.endswith(".html")  # HTML spans index the extracted text
        assert len(payload["text_sha256"]) == 64 and payload["chunk"] == 0


@pytest.mark.parametrize("where", ["run folder", "path"])
def test_rebuilds_upsert_only_changed_documents_and_delete_removed_ones(tmp_path, corpus_factory, where):
    docs_dir = corpus_factory(tmp_path / "docs")
    out, storage = tmp_path / "out", tmp_path / "storage"
    settings = _qdrant(qdrant_path=str(storage)) if where == "path" else _qdrant()
    points = (lambda: _points(storage)) if where == "path" else (lambda: _points(out / "qdrant"))

    def build():
        backend = RagBackend(settings)
        facts = backend.build(load_documents(docs_dir), [], out, progress=False)
        return backend, facts

    _, first = build()
    ids = {p.id for p in points()}
    _, again = build()
    assert again["embedded_chunks"] == 0 and again["reused_chunks"] == 5 and {p.id for p in points()} == ids

    corpus_factory(docs_dir, {"clubs/rowing.md": "The Tansy rowing club trains at dawn on Saturdays with coach Bex."})
    backend, added = build()
    assert added["embedded_chunks"] == 1 and added["chunks"] == 6 and ids < {p.id for p in points()}
    assert backend.retrieve("Who coaches the rowing club?", 1)[0].doc_id == "clubs/rowing.md"

    corpus_factory(docs_dir, {"places/bakery.md": "Pelling Bakery closed in 2020; the oven Old Brannoc was sold."})
    (docs_dir / "clubs" / "chess.txt").unlink()
    backend, changed = build()
    assert changed["embedded_chunks"] == 1 and changed["deleted_chunks"] == 2 and changed["chunks"] == 5
    texts = {p.payload["doc_id"]: p.payload["text"] for p in points()}
    assert "clubs/chess.txt" not in texts and "sold" in texts["places/bakery.md"] and len(points()) == 5
    hit = RagBackend.load(out).retrieve("What happened to the oven Old Brannoc?", 1)[0]
    assert hit.doc_id == "places/bakery.md" and "sold" in hit.text


def test_a_build_that_fails_midway_leaves_the_previous_build_usable(tmp_path, corpus_factory, monkeypatch):
    from qdrant_client import QdrantClient

    docs_dir = corpus_factory(tmp_path / "docs")
    storage = tmp_path / "storage"
    for out, settings in ((tmp_path / "embedded", _qdrant()), (tmp_path / "shared", _qdrant(qdrant_path=str(storage)))):
        RagBackend(settings).build(load_documents(docs_dir), [], out, progress=False)
        before = (out / "manifest.json").read_text()
        corpus_factory(docs_dir, {"clubs/rowing.md": "The rowing club trains at dawn."})

        def broken_upsert(self, *args, **kwargs):
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(QdrantClient, "upsert", broken_upsert)
            with pytest.raises(KeyboardInterrupt):
                RagBackend(settings).build(load_documents(docs_dir), [], out, progress=False)
        assert (out / "manifest.json").read_text() == before
        assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []
        hit = RagBackend.load(out).retrieve("Who keeps the Grennick lighthouse?", 1)[0]
        assert hit.doc_id == "places/lighthouse.html"
        (docs_dir / "clubs" / "rowing.md").unlink()


def _invoke(*args):
    return CliRunner().invoke(main, list(args))


def _no_embedder_loaded() -> bool:
    return not any(isinstance(key, tuple) and key and key[0] == "embedder" for key in shared._LOADED)


def test_a_collection_of_another_vector_size_or_embedder_is_refused_before_embedding(tmp_path, corpus_factory,
                                                                                      pairs_factory, monkeypatch):
    from qdrant_client.http import models

    docs, qa = corpus_factory(tmp_path / "docs"), pairs_factory(tmp_path / "qa.jsonl")
    storage = tmp_path / "storage"
    client = _client(storage)
    client.create_collection("small", vectors_config={"dense": models.VectorParams(size=8, distance="Cosine")})
    client.create_collection("other", vectors_config={"dense": models.VectorParams(size=384, distance="Cosine")},
                             sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
                             metadata={"advisor": {"embedder": "bge-small-en", "chunking": {"tokens": 128,
                                                                                             "overlap": 32}}})
    monkeypatch.setattr(shared, "_LOADED", {})
    common = ["build", "rag", "--docs", str(docs), "--qa", str(qa), "--out", str(tmp_path / "out"),
              "--qdrant-path", str(storage), "--quiet"]
    assert_input_error(_invoke(*common, "--collection", "small"), "vectors of size 8", "makes 384")
    assert_input_error(_invoke(*common, "--collection", "other"), "built with embedder 'bge-small-en'")
    assert _no_embedder_loaded()
    # The same refusal stands if the check before loading is skipped: the build checks before embedding.
    with pytest.raises(InputError, match="vectors of size 8"):
        RagBackend(_qdrant(qdrant_path=str(storage), collection="small")).build(
            load_documents(docs), [], tmp_path / "out2", progress=False)
    assert not (tmp_path / "out2").exists()
    assert client.count("small").count == 0


def test_a_collection_advisor_did_not_build_is_only_read_with_named_payload_fields(tmp_path, tiny_documents,
                                                                                   tiny_pairs, corpus_factory,
                                                                                   pairs_factory):
    """A team's own collection: one unnamed vector, its own payload names, no BM25: evaluated as it is."""
    from qdrant_client.http import models

    from advisor.backends.embedder import shared_embedder

    embedder = shared_embedder()
    storage = tmp_path / "team"
    client = _client(storage)
    client.create_collection("kb", vectors_config=models.VectorParams(size=384, distance="Cosine"))
    vectors = embedder.encode([d.text for d in tiny_documents])
    client.upsert("kb", [models.PointStruct(id=i, vector=[float(x) for x in v],
                                            payload={"body": d.text, "source": d.id})
                         for i, (d, v) in enumerate(zip(tiny_documents, vectors))])
    before = [(p.id, p.payload) for p in client.scroll("kb", limit=100, with_payload=True)[0]]

    docs, qa = corpus_factory(tmp_path / "docs"), pairs_factory(tmp_path / "qa.jsonl")
    common = ["build", "rag", "--docs", str(docs), "--qa", str(qa), "--qdrant-path", str(storage),
              "--collection", "kb", "--quiet"]
    assert_input_error(_invoke(*common, "--out", str(tmp_path / "x")), "was not built by advisor", "--text-field")
    assert_input_error(_invoke(*common, "--out", str(tmp_path / "x"), "--text-field", "text", "--doc-field",
                               "source"), "'text' is not a payload field", "body, source")

    backend = RagBackend(_qdrant(qdrant_path=str(storage), collection="kb", text_field="body", doc_field="source"))
    facts = backend.build(tiny_documents, [], tmp_path / "ro", progress=False)
    assert facts["embedded_chunks"] == 0 and facts["chunks"] == 5 and facts["store"] == "qdrant (read-only)"
    manifest = json.loads((tmp_path / "ro" / "manifest.json").read_text())
    assert manifest["retrieval"]["store"]["read_only"] is True and manifest["retrieval"]["fusion"] == "dense"
    assert retrieval_scores(backend, tiny_pairs, 3)["recall_at_k"] == 1.0
    hit = RagBackend.load(tmp_path / "ro").retrieve("Who founded Pelling Bakery?", 1)[0]
    assert hit.doc_id == "places/bakery.md" and "Marta Pelling" in hit.text
    assert [(p.id, p.payload) for p in client.scroll("kb", limit=100, with_payload=True)[0]] == before
    answered = _invoke("query", str(tmp_path / "ro"), "Who founded Pelling Bakery?", "--max-new-tokens", "8", "--json")
    assert answered.exit_code == 0, answered.output
    assert json.loads(answered.output)["sources"][0] == "places/bakery.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Refusing(http.server.BaseHTTPRequestHandler):
    """A loopback endpoint that refuses every request as a Qdrant server with another API key does (401)."""

    def do_GET(self):  # noqa: N802 - the name http.server calls
        body = b'{"status":{"error":"Must provide an API key or an Authorization bearer token"}}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_server_faults_exit_2_with_one_line_before_any_model_loads(tmp_path, corpus_factory, pairs_factory,
                                                                   monkeypatch):
    docs, qa = corpus_factory(tmp_path / "docs"), pairs_factory(tmp_path / "qa.jsonl")
    monkeypatch.setattr(shared, "_LOADED", {})
    monkeypatch.setenv("QDRANT_API_KEY", "not-the-key")
    common = ["build", "rag", "--docs", str(docs), "--qa", str(qa), "--out", str(tmp_path / "out"), "--quiet"]
    closed = f"http://127.0.0.1:{_free_port()}"
    assert_input_error(_invoke(*common, "--qdrant-url", closed), "cannot reach the server", closed)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = _invoke(*common, "--qdrant-url", url)
        assert_input_error(result, "refused the request with the key in QDRANT_API_KEY (HTTP 401)")
        assert "not-the-key" not in result.output
    finally:
        server.shutdown()
        server.server_close()
    assert_input_error(_invoke(*common, "--qdrant-url", "http://me:secret@127.0.0.1:6333"), "QDRANT_API_KEY")
    assert_input_error(_invoke(*common, "--qdrant-path", str(tmp_path / "nothing"), "--collection", "kb",
                               "--text-field", "body", "--doc-field", "source"), "holds no embedded Qdrant storage")
    assert _no_embedder_loaded() and not (tmp_path / "out").exists() and not (tmp_path / "nothing").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"store": "hnswlib", "collection": "kb"}, "--collection is an option of --store qdrant"),
    ({"text_field": "body"}, "--text-field and --doc-field go together"),
    ({"text_field": "body", "doc_field": "source"}, "say where it is"),
    ({"qdrant_url": "ftp://host"}, "expected http://HOST:PORT"),
    ({"qdrant_url": "http://h:1", "qdrant_path": "x"}, "not both"),
    ({"store": "qdrant", "lexical": "tfidf"}, "only available with --store hnswlib"),
])
def test_store_options_are_checked_without_connecting(options, message):
    with pytest.raises(InputError, match=message):
        store_settings(BuildSettings(retrieval=RetrievalOptions(**options)))


def test_qdrant_options_imply_the_qdrant_store_and_the_default_stays_hnswlib(tmp_path):
    assert store_settings(BuildSettings()) == StoreSettings()
    chosen = store_settings(BuildSettings(retrieval=RetrievalOptions(qdrant_url="http://127.0.0.1:6333/")))
    assert chosen.kind == "qdrant" and chosen.url == "http://127.0.0.1:6333" and chosen.where == "server"
    assert store_settings(BuildSettings(retrieval=RetrievalOptions(qdrant_path=str(tmp_path)))).path == str(tmp_path)


def test_bm25_sparse_vectors_score_as_the_in_process_bm25():
    from advisor.backends.index import Lexical
    from advisor.backends.sparse import SparseBM25, mean_length

    texts = ["the cat sat on the mat", "a dog barked at the zeppelin", "cats and dogs", "zeppelin zeppelin dog"]
    lexical = Lexical.fit(texts, "bm25")
    encoder = SparseBM25(mean_length(texts))
    n = len(texts)
    docs = [dict(zip(*encoder.document(t))) for t in texts]
    df: dict[int, int] = {}
    for d in docs:
        for term in d:
            df[term] = df.get(term, 0) + 1
    indices, values = encoder.query("zeppelin dog")
    # Qdrant's IDF modifier: ln(1 + (N - df + 0.5) / (df + 0.5)) on each query term, then the dot product.
    idf = {i: np.log1p((n - df.get(i, 0) + 0.5) / (df.get(i, 0) + 0.5)) for i in indices}
    sparse_scores = [sum(v * idf[i] * d.get(i, 0.0) for i, v in zip(indices, values)) for d in docs]
    assert sparse_scores == pytest.approx(list(lexical.scores(["zeppelin dog"])[0]), rel=1e-5)
