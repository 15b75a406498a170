"""The prompts every approach uses, in one place, so training and answering see exactly the same text."""

from __future__ import annotations

from collections.abc import Sequence

from advisor.backends.base import Hit

SYSTEM = "You are a helpful assistant. Give short, direct answers."
RAG_INSTRUCTIONS = (
    "Answer the question using only the context below. "
    "If the context does not contain the answer, reply exactly: I don't know."
)


def closed_book_messages(question: str) -> list[dict[str, str]]:
    """Chat messages for answering from the model's own weights (baseline and fine-tuned model)."""
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question.strip()}]


def format_context(hits: Sequence[Hit]) -> str:
    """Number the retrieved chunks and name their documents, as the model sees them."""
    return "\n\n".join(f"[{i}] ({hit.doc_id})\n{hit.text.strip()}" for i, hit in enumerate(hits, 1))


def context_messages(question: str, hits: Sequence[Hit]) -> list[dict[str, str]]:
    """Chat messages for answering from retrieved context (RAG and the RAFT-style hybrid)."""
    user = f"{RAG_INSTRUCTIONS}\n\nContext:\n{format_context(hits)}\n\nQuestion: {question.strip()}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def few_shot_messages(question: str, demonstrations: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages with solved examples as earlier turns (least similar first, so the closest sits last)."""
    messages = [{"role": "system", "content": SYSTEM}]
    for shown_question, shown_answer in demonstrations:
        messages += [{"role": "user", "content": shown_question.strip()},
                     {"role": "assistant", "content": shown_answer.strip()}]
    return messages + [{"role": "user", "content": question.strip()}]
