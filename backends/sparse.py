"""BM25 as sparse vectors for a vector database, scoring as the in-process BM25 of `index.Lexical` does.

The words are the same (scikit-learn's analyzer: lowercase, English stop words). A term's id is a 32-bit
hash of it, so there is no vocabulary to keep in step across incremental builds (two terms sharing an id
is about one pair in 100,000 distinct terms). A chunk's values are BM25's term-frequency part,
tf·(k1+1) / (tf + k1·(1 − b + b·len/avgdl)); a query has 1 for each distinct term. Qdrant's IDF modifier
multiplies each query term by ln(1 + (N − df + 0.5)/(df + 0.5)) over the collection as it is at query time,
which is `Lexical`'s idf, so the dot product is the same BM25 score, and the idf stays right when documents
are added or removed without touching the other chunks. Only avgdl is fixed when the collection is created
(it would otherwise change every stored vector); builds record how far the corpus has drifted from it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property

from advisor.backends.index import BM25_B, BM25_K1

TERM_IDS = "blake2b-32"  # how terms become sparse indices, recorded in the collection's metadata


def term_id(term: str) -> int:
    """A term's sparse index: the first 4 bytes of its blake2b digest, as an unsigned 32-bit integer."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


@dataclass(frozen=True)
class SparseBM25:
    """Encodes chunks and queries; `avgdl` is the mean chunk length (in counted terms) the weights assume."""

    avgdl: float
    k1: float = BM25_K1
    b: float = BM25_B

    @cached_property
    def _analyze(self):
        from advisor.backends.index import _vectorizer

        return _vectorizer().build_analyzer()

    def terms(self, text: str) -> list[str]:
        """The counted terms of a text, in order (stop words dropped)."""
        return list(self._analyze(text))

    def length(self, text: str) -> int:
        """How many terms of the text BM25 counts: its document length."""
        return len(self.terms(text))

    def document(self, text: str) -> tuple[list[int], list[float]]:
        """A chunk's sparse vector (indices ascending, values: the saturated term frequencies)."""
        counts = Counter(self.terms(text))
        length = sum(counts.values())
        norm = self.k1 * (1 - self.b + self.b * length / (self.avgdl or 1.0))
        values: dict[int, float] = {}
        for term, tf in counts.items():
            index = term_id(term)
            values[index] = values.get(index, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        order = sorted(values)
        return order, [values[i] for i in order]

    def query(self, text: str) -> tuple[list[int], list[float]]:
        """A query's sparse vector: 1 for each distinct term (the store multiplies in the idf)."""
        order = sorted({term_id(term) for term in self.terms(text)})
        return order, [1.0] * len(order)


def mean_length(texts: list[str]) -> float:
    """The mean number of counted terms over the texts (1.0 when there are none), as `Lexical.fit` computes it."""
    encoder = SparseBM25(1.0)
    lengths = [encoder.length(t) for t in texts]
    mean = sum(lengths) / len(lengths) if lengths else 0.0
    return mean if mean > 0 else 1.0
