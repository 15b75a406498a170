"""Token-window chunking with the embedder's own tokenizer (no model weights loaded)."""

from __future__ import annotations

import pytest

from advisor.backends.chunking import Chunk, check_window, chunk_documents, chunk_text
from advisor.backends.embedder import load_embedder_tokenizer
from advisor.errors import InputError

TEXT = " ".join(
    f"Sentence {i} mentions the unbelievably quarrelsome lighthouse keeper Odo Farlane of Tansy Island."
    for i in range(40)
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_embedder_tokenizer("all-MiniLM-L6-v2")


def _ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_windows_fit_overlap_and_keep_offsets(tokenizer):
    chunks = chunk_text("keeper.md", TEXT, tokenizer, tokens=32, overlap=8)
    assert len(chunks) > 10
    assert [c.chunk_id for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.doc_id == "keeper.md"
        assert chunk.text == TEXT[chunk.start:chunk.end]
        assert chunk.tokens <= 32 and len(_ids(tokenizer, chunk.text)) <= 32
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "consecutive chunks overlap"
        assert b.start > a.start
    assert chunks[0].start == 0 and chunks[-1].end == len(TEXT)


def test_windows_do_not_start_inside_a_word(tokenizer):
    for chunk in chunk_text("keeper.md", TEXT, tokenizer, tokens=20, overlap=5):
        assert chunk.start == 0 or not (TEXT[chunk.start - 1].isalnum() and TEXT[chunk.start].isalnum())


def test_no_overlap_tiles_the_text(tokenizer):
    chunks = chunk_text("k", TEXT, tokenizer, tokens=40, overlap=0)
    for a, b in zip(chunks, chunks[1:]):
        assert TEXT[a.end:b.start].strip() == ""


def test_short_document_is_one_chunk_and_documents_keep_their_order(tokenizer, tiny_documents):
    chunks = chunk_documents(tiny_documents, tokenizer)
    assert [c.doc_id for c in chunks] == [d.id for d in tiny_documents]
    assert all(c.chunk_id == 0 for c in chunks)


def test_chunk_json_round_trip():
    chunk = Chunk("a.md", 2, "text", 10, 14, 1)
    assert Chunk.from_json(chunk.to_json()) == chunk


@pytest.mark.parametrize("tokens, overlap, message", [
    (4, 0, "at least 8"), (64, 64, "below"), (64, -1, "at least 0"), (300, 10, "exceeds"),
])
def test_bad_windows_are_input_errors(tokens, overlap, message):
    with pytest.raises(InputError, match=message):
        check_window(tokens, overlap, max_tokens=254)
