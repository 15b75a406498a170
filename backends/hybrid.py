"""The hybrid backend, RAFT-style: a LoRA adapter trained on prompts holding retrieved chunks, used with retrieval.

For each training pair the prompt holds k chunks: for a share P of the pairs the right document's chunk
(the "oracle", the chunk of `source` that contains the answer where one does) plus distractors retrieved
from other documents, for the rest only distractors, in shuffled order (Zhang et al. 2024, RAFT). The model
learns to take the answer from the right chunk and to ignore the others. At query time it answers with
the RAG backend's index (same k) and the same prompt (`context_messages`).
"""

from __future__ import annotations

import random
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from advisor.backends.base import Document, Hit, QAPair
from advisor.backends.finetune import FineTuneBackend
from advisor.backends.prompts import context_messages
from advisor.errors import InputError

if TYPE_CHECKING:
    from advisor.backends.plan import ArmPlan

# Chunks per prompt, in training and at query time. Measured on the sample (50 training, 22 held-out pairs):
# 3 chunks and 1 epoch gave contains 0.36 / F1 0.52; 2 chunks and 2 epochs 0.64 / 0.71 (reworded 0.64 / 0.73)
# in about the same training time, since shorter prompts make each step faster.
DEFAULT_CONTEXT_K = 2
DEFAULT_ORACLE_SHARE = 0.8  # RAFT's P: share of training prompts that hold the right chunk
_POOL = 24  # retrieved candidates to pick the oracle and distractors from
_WINDOW_WORDS = 90  # an oracle cut from the document when retrieval found no chunk of it


def plan_hybrid(plan: ArmPlan, train: Sequence[QAPair] | None) -> ArmPlan:
    """The hybrid's plan hook: its RAFT share (measured default above) and a built RAG index to copy, if given."""
    share = plan.settings.hybrid.oracle_share
    return replace(plan, oracle_share=DEFAULT_ORACLE_SHARE if share is None else share,
                   rag_index=plan.settings.hybrid.rag_index)


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@dataclass(frozen=True)
class RaftContext:
    """The chunks a training prompt holds and whether the right one is among them."""

    hits: list[Hit]
    oracle: bool


def oracle_hit(pair: QAPair, pool: Sequence[Hit], documents: dict[str, Document]) -> Hit | None:
    """The chunk that answers `pair`: a retrieved chunk of its source holding the answer, else the best
    retrieved chunk of its source, else a window of the source document around the answer."""
    answer = _norm(pair.answer)
    candidates = [h for h in pool if h.doc_id == pair.source] if pair.source else list(pool)
    holding = [h for h in candidates if answer and answer in _norm(h.text)]
    if holding:
        return holding[0]
    if pair.source and candidates:
        return candidates[0]
    doc = documents.get(pair.source or "")
    if doc is None:
        return None
    words = doc.text.split()
    at = next(
        (
            i
            for i in range(len(words))
            if answer
            and _norm(" ".join(words[i : i + 12])).startswith(answer.split()[0])
            and answer in _norm(" ".join(words[i : i + 40]))
        ),
        0,
    )
    start = max(0, at - _WINDOW_WORDS // 3)
    return Hit(doc.id, -1, " ".join(words[start : start + _WINDOW_WORDS]), 0.0)


def raft_contexts(
    pairs: Sequence[QAPair],
    retrieve: Callable[[str, int], list[Hit]],
    documents: Sequence[Document],
    k: int = DEFAULT_CONTEXT_K,
    oracle_share: float = DEFAULT_ORACLE_SHARE,
    seed: int = 0,
) -> list[RaftContext]:
    """RAFT training contexts for these pairs, deterministic for a seed.

    Exactly round(oracle_share * len(pairs)) prompts hold the oracle chunk plus k-1 distractors; the others
    hold k distractors. Distractors are the best-retrieved chunks of other documents (hard negatives).
    """
    by_id = {d.id: d for d in documents}
    rng = random.Random(seed)
    with_oracle = set(rng.sample(range(len(pairs)), round(oracle_share * len(pairs))))
    contexts = []
    for i, pair in enumerate(pairs):
        pool = retrieve(pair.question, _POOL)
        oracle = oracle_hit(pair, pool, by_id) if i in with_oracle else None
        answer = _norm(pair.answer)
        distractors = [h for h in pool if h.doc_id != pair.source and not (answer and answer in _norm(h.text))]
        chosen = ([oracle] + distractors[: k - 1]) if oracle is not None else distractors[:k]
        random.Random(f"{seed}:{i}:{pair.question}").shuffle(chosen)
        contexts.append(RaftContext(chosen, oracle is not None))
    return contexts


class HybridBackend(FineTuneBackend):
    """Retrieval with the RAG index, answered by a generator LoRA-tuned RAFT-style on retrieved context."""

    approach: ClassVar[str] = "hybrid"  # its training defaults are in its record (advisor.backends.arms)

    def __init__(self, settings=None):
        super().__init__(settings)
        self.rag: Any = None
        self.last_contexts: list[RaftContext] = []

    @property
    def context_k(self) -> int:
        """Chunks in each prompt: as built (the manifest's), else as the plan resolved them."""
        if self.manifest is not None and self.manifest.context_k is not None:
            return self.manifest.context_k
        retrieval = self.plan.retrieval
        assert retrieval is not None  # the hybrid's plan always holds them
        return retrieval.context_k

    @property
    def oracle_share(self) -> float:
        """RAFT's P, as the plan resolved it."""
        share = self.plan.oracle_share
        assert share is not None  # the hybrid's plan always holds it
        return share

    # ------------------------------------------------------------------------------------------ build

    def prepare(self, documents: list[Document], train: list[QAPair], work: Path, progress: bool) -> dict[str, Any]:
        """Build the RAG index into work/rag, or copy the one named by the hybrid's rag_index option."""
        from advisor.backends.rag import RagBackend

        if self.plan.rag_index:
            given = Path(self.plan.rag_index)
            if not (given / "manifest.json").is_file():
                raise InputError(f"rag_index {given} is not a built RAG index (no manifest.json)")
            shutil.copytree(given, work / "rag")
        else:
            builder = RagBackend(self.settings)
            builder.build(documents, train, work / "rag", progress)
            builder.close()
        self.rag = RagBackend.load(work / "rag", self.settings)
        return {"rag": "rag", "context_k": self.context_k, "oracle_share": self.oracle_share}

    def training_messages(self, pairs: list[QAPair], documents: list[Document]) -> list[list[dict[str, str]]]:
        """RAFT prompts: the right chunk plus distractors for a share P of pairs, only distractors for the rest."""
        pools = dict(zip((p.question for p in pairs), self.rag.retrieve_many([p.question for p in pairs], _POOL)))
        contexts = raft_contexts(
            pairs, lambda q, k: pools[q][:k], documents, self.context_k, self.oracle_share, self.settings.seed
        )
        self.last_contexts = contexts
        return [context_messages(p.question, c.hits) for p, c in zip(pairs, contexts)]

    def after_publish(self, out: Path) -> None:
        from advisor.backends.rag import RagBackend

        self.close()
        self.rag = RagBackend.load(Path(out) / "rag", self.settings)

    def after_load(self, out: Path) -> None:
        from advisor.backends.rag import RagBackend

        self.rag = RagBackend.load(Path(out) / "rag", self.settings)

    def close(self) -> None:
        if self.rag is not None:
            self.rag.close()

    # ------------------------------------------------------------------------------------------ answer

    def retrieve(self, question: str, k: int) -> list[Hit] | None:
        """The top-k chunks from the RAG index."""
        return self.rag.retrieve(question, k)

    def contexts_for(self, questions: list[str]) -> list[list[Hit]]:
        return self.rag.retrieve_many(questions, self.context_k)

    def prompt_with(self, question: str, hits: list) -> list[dict[str, str]]:
        return context_messages(question, hits)
