"""The index: real MiniLM vectors in a real hnswlib graph, BM25, fusion, persistence, reuse, atomic builds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advisor.backends.options import RetrievalOptions
from advisor.backends.base import BuildSettings
from advisor.backends.data import load_documents
from advisor.backends.index import ChunkIndex, Lexical, Ranking, fuse
from advisor.backends.rag import RagBackend
from advisor.errors import InputError


def test_saved_index_has_no_pickle_and_round_trips(built_rag, tiny_pairs):
    backend, out = built_rag
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "chunks.jsonl", "embeddings.npy", "dense.hnsw", "lexical.json", "lexical.npz"} <= names
    assert not any(n.endswith((".pkl", ".pickle", ".pt", ".joblib")) for n in names)
    loaded = RagBackend.load(out)
    questions = [p.question for p in tiny_pairs]
    assert [[(h.doc_id, h.chunk_id) for h in hits] for hits in loaded.retrieve_many(questions, 3)] == \
           [[(h.doc_id, h.chunk_id) for h in hits] for hits in backend.retrieve_many(questions, 3)]
    vectors = np.load(out / "embeddings.npy", allow_pickle=False)
    assert vectors.dtype == np.float32 and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


def test_manifest_records_models_chunking_documents_and_versions(built_rag, tiny_documents):
    manifest = json.loads((built_rag[1] / "manifest.json").read_text())
    assert manifest["approach"] == "rag"
    assert manifest["models"]["embedder"] == "all-MiniLM-L6-v2"
    assert manifest["chunking"]["tokens"] == 128 and manifest["chunking"]["overlap"] == 32
    assert {d["id"]: d["sha256"] for d in manifest["documents"]} == {d.id: d.sha256 for d in tiny_documents}
    assert {"hnswlib", "sentence-transformers", "transformers"} <= set(manifest["versions"])
    assert manifest["retrieval"]["hnsw"]["M"] == 16


@pytest.mark.parametrize("mode", ["rrf", "dense", "lexical", "weighted"])
def test_every_tiny_question_finds_its_document_first(built_rag, tiny_pairs, mode):
    backend, _ = built_rag
    for pair, hits in zip(tiny_pairs, backend.retrieve_many([p.question for p in tiny_pairs], 3, mode)):
        assert hits[0].doc_id == pair.source, (mode, pair.question, [h.doc_id for h in hits])


def test_reworded_questions_still_find_their_document(built_rag, tiny_pairs):
    backend, _ = built_rag
    reworded = [p for p in tiny_pairs if p.paraphrase]
    for pair, hits in zip(reworded, backend.retrieve_many([p.paraphrase for p in reworded], 2)):
        assert pair.source in [h.doc_id for h in hits]


def test_fusion_on_hand_made_rankings():
    dense = Ranking([1, 2, 3], [0.9, 0.5, 0.1])
    lexical = Ranking([3, 1], [10.0, 2.0])
    rrf = fuse(dense, lexical, "rrf", 0.5)
    assert rrf.rows == [1, 3, 2]
    assert rrf.scores[0] == pytest.approx(1 / 61 + 1 / 62)
    weighted = fuse(dense, lexical, "weighted", 0.5)
    # min-max per list: row 1 = 0.5*1 + 0.5*0, row 3 = 0.5*0 + 0.5*1 (tie, lower row first), row 2 = 0.5*0.5
    assert weighted.rows == [1, 3, 2] and weighted.scores == pytest.approx([0.5, 0.5, 0.25])
    with pytest.raises(InputError, match="unknown fusion"):
        fuse(dense, lexical, "max")


def test_bm25_prefers_the_rare_matching_term_and_persists(tmp_path):
    lexical = Lexical.fit(["the cat sat on the mat", "a dog barked at the zeppelin", "cats and dogs"], "bm25")
    scores = lexical.scores(["zeppelin dog"])[0]
    assert int(np.argmax(scores)) == 1 and scores[0] == 0
    lexical.save(tmp_path)
    assert np.allclose(Lexical.load(tmp_path).scores(["zeppelin dog"]), lexical.scores(["zeppelin dog"]))


def test_rerun_reuses_every_embedding_and_adding_a_document_embeds_only_it(tmp_path, corpus_factory):
    docs_dir = corpus_factory(tmp_path / "docs")
    out = tmp_path / "out"
    backend = RagBackend(BuildSettings())
    first = backend.build(load_documents(docs_dir), [], out, progress=False)
    assert first["embedded_chunks"] == first["chunks"] == 5 and first["dense_index"] == "built"

    again = RagBackend(BuildSettings()).build(load_documents(docs_dir), [], out, progress=False)
    assert again["embedded_chunks"] == 0 and again["reused_chunks"] == 5

    corpus_factory(
        docs_dir, {"clubs/rowing.md": "The Tansy rowing club trains at dawn on Saturdays with coach Bex Moll."}
    )
    added = RagBackend(BuildSettings()).build(load_documents(docs_dir), [], out, progress=False)
    assert added["embedded_chunks"] == 1 and added["reused_chunks"] == 5 and added["dense_index"] == "appended"
    assert RagBackend.load(out).retrieve("Who coaches the rowing club?", 1)[0].doc_id == "clubs/rowing.md"

    corpus_factory(docs_dir, {"places/bakery.md": "Pelling Bakery closed in 2020; the oven Old Brannoc was sold."})
    changed = RagBackend(BuildSettings()).build(load_documents(docs_dir), [], out, progress=False)
    assert changed["embedded_chunks"] == 1 and changed["reused_chunks"] == 5 and changed["dense_index"] == "built"
    hit = RagBackend.load(out).retrieve("What happened to the oven Old Brannoc?", 1)[0]
    assert hit.doc_id == "places/bakery.md" and "sold" in hit.text

    other = RagBackend(BuildSettings(retrieval=RetrievalOptions(chunk_tokens=64, chunk_overlap=16)))
    assert other.build(load_documents(docs_dir), [], out, progress=False)["reused_chunks"] == 0


def test_a_build_that_fails_midway_leaves_the_previous_index_loadable(tmp_path, corpus_factory, monkeypatch):
    docs_dir = corpus_factory(tmp_path / "docs")
    out = tmp_path / "out"
    RagBackend(BuildSettings()).build(load_documents(docs_dir), [], out, progress=False)
    before = (out / "manifest.json").read_text()

    def half_written_save(self, folder):
        (Path(folder) / "chunks.jsonl").write_text("{half", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(ChunkIndex, "save", half_written_save)
    corpus_factory(docs_dir, {"clubs/rowing.md": "The rowing club trains at dawn."})
    with pytest.raises(KeyboardInterrupt):
        RagBackend(BuildSettings()).build(load_documents(docs_dir), [], out, progress=False)
    monkeypatch.undo()
    assert (out / "manifest.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert RagBackend.load(out).retrieve("Who keeps the Grennick lighthouse?", 1)[0].doc_id == "places/lighthouse.html"


def test_loading_a_folder_without_a_build_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no built pipeline"):
        RagBackend.load(tmp_path)
