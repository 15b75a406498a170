"""Split documents into overlapping windows of the embedder's own word pieces, keeping where each came from.

Only a tokenizer is needed (no model weights). Windows never cut a word in two when a word boundary is
near, and never exceed the embedder's max sequence length (minus its two special tokens).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from advisor.backends.base import Document
from advisor.errors import InputError

# Chosen on covid-qa (benchmarks/bench_rag.py; 92 papers, 1,235 questions; fused retrieval, R@5 / MRR@10):
# 128/32 0.877 / 0.814, 128/0 0.883 / 0.806, 192/48 0.870 / 0.801, 254/64 0.875 / 0.797. Dense alone falls
# with longer windows (0.762, 0.758, 0.746, 0.723). 128/0 ties 128/32 with 24% fewer chunks, but the
# generator sees only 2 chunks, so the overlap keeps a fact near a boundary whole in at least one of them.
DEFAULT_CHUNK_TOKENS = 128
DEFAULT_CHUNK_OVERLAP = 32
_MAX_SNAP = 8  # word pieces a window edge may move to land on a word boundary


@dataclass(frozen=True)
class Chunk:
    """A window of a document: its document id, its number in that document, text and character span."""

    doc_id: str
    chunk_id: int
    text: str
    start: int
    end: int
    tokens: int

    def to_json(self) -> dict[str, Any]:
        """A plain dict for the chunk table (chunks.jsonl)."""
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Chunk":
        """The inverse of to_json."""
        return cls(**{key: record[key] for key in ("doc_id", "chunk_id", "text", "start", "end", "tokens")})


def check_window(tokens: int, overlap: int, max_tokens: int | None = None) -> None:
    """Raise InputError unless 1 <= overlap < tokens <= max_tokens (the embedder's usable length)."""
    if tokens < 8:
        raise InputError(f"--chunk-tokens must be at least 8, got {tokens}")
    if max_tokens is not None and tokens > max_tokens:
        raise InputError(f"--chunk-tokens {tokens} exceeds what the embedder reads ({max_tokens} word pieces)")
    if not 0 <= overlap < tokens:
        raise InputError(f"--chunk-overlap must be at least 0 and below --chunk-tokens ({tokens}), got {overlap}")


def _snap_start(word_ids: list[int | None], start: int, limit: int) -> int:
    moved = start
    while 0 < moved < limit and moved - start < _MAX_SNAP and word_ids[moved] is not None \
            and word_ids[moved] == word_ids[moved - 1]:
        moved += 1
    return moved if moved - start < _MAX_SNAP and moved < limit else start


def _snap_end(word_ids: list[int | None], start: int, end: int) -> int:
    if end >= len(word_ids):
        return end
    moved = end
    while moved > start + 1 and end - moved < _MAX_SNAP and word_ids[moved] is not None \
            and word_ids[moved] == word_ids[moved - 1]:
        moved -= 1
    return moved if end - moved < _MAX_SNAP else end


def chunk_text(doc_id: str, text: str, tokenizer, tokens: int = DEFAULT_CHUNK_TOKENS,
               overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[Chunk]:
    """Windows of `tokens` word pieces overlapping by `overlap`, as Chunks with character offsets into text."""
    check_window(tokens, overlap)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    offsets = encoded["offset_mapping"]
    word_ids = encoded.word_ids()
    n = len(offsets)
    chunks: list[Chunk] = []
    start = 0
    while start < n:
        end = min(n, start + tokens)
        end = _snap_end(word_ids, start, end)
        char_start, char_end = offsets[start][0], offsets[end - 1][1]
        chunks.append(Chunk(doc_id, len(chunks), text[char_start:char_end], char_start, char_end, end - start))
        if end >= n:
            break
        start = _snap_start(word_ids, max(start + 1, end - overlap), n)
    return chunks


def chunk_documents(documents: list[Document], tokenizer, tokens: int = DEFAULT_CHUNK_TOKENS,
                    overlap: int = DEFAULT_CHUNK_OVERLAP) -> list[Chunk]:
    """Chunks of every document, in document order."""
    return [chunk for doc in documents for chunk in chunk_text(doc.id, doc.text, tokenizer, tokens, overlap)]
