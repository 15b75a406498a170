"""The one request sent to an endpoint before any arm runs, so that what would fail every request fails once,
at the start, as one line and exit 2: an unreachable endpoint, an unknown model, a refused key, or a prompt
over the model's context.

The request is the longest prompt the run can send, built without loading a model: the longest held-out
question, with the longest training pairs as demonstrations (prompt) or windows of the longest documents
as retrieved context (rag), asking for the run's full answer length.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from advisor.backends.base import BuildSettings, Document, Hit, QAPair

if TYPE_CHECKING:
    from advisor.backends.generation import Reply


def longest_prompt(approaches: Sequence[str], documents: Sequence[Document], train: Sequence[QAPair],
                   test: Sequence[QAPair], settings: BuildSettings) -> list[dict[str, str]]:
    """The longest chat prompt (in characters) that the untouched model, `prompt` or `rag` can send in this run."""
    from advisor.backends.prompts import closed_book_messages, context_messages, few_shot_messages

    asked = [p.question for p in settings.answered(test)] + [p.paraphrase for p in settings.answered(test)
                                                             if p.paraphrase]
    question = max(asked or ["Reply with OK."], key=len)
    candidates = [closed_book_messages(question)]
    if "prompt" in approaches and train:
        from advisor.backends.fewshot import check_shots

        shots = check_shots(settings.prompt.shots, train)
        longest = sorted(train, key=lambda p: len(p.question) + len(p.answer), reverse=True)[:shots]
        candidates.append(few_shot_messages(question, [(p.question, p.answer) for p in longest]))
    if "rag" in approaches and documents:
        from advisor.backends.rag import retrieval_options

        options = retrieval_options(settings)
        context_k = max(1, min(settings.k, options.context_k))
        # A chunk holds at most chunk_tokens word pieces, so at most that many words: an upper bound.
        biggest = sorted(documents, key=lambda d: len(d.text), reverse=True)
        hits = [Hit(d.id, 0, " ".join(d.text.split()[: options.chunk_tokens]), 0.0)
                for d in (biggest * context_k)[:context_k]]
        candidates.append(context_messages(question, hits))
    return max(candidates, key=lambda messages: sum(len(m["content"]) for m in messages))


def check_endpoint(approaches: Sequence[str], documents: Sequence[Document], train: Sequence[QAPair],
                   test: Sequence[QAPair], settings: BuildSettings) -> Reply | None:
    """Send the preflight request when the run answers through an endpoint; EndpointError (exit 2, one line)
    when it cannot answer. None without an endpoint."""
    if settings.endpoint is None:
        return None
    from advisor.backends.endpoint import shared_client

    client = shared_client(settings.endpoint, settings.seed)
    return client.preflight(longest_prompt(approaches, documents, train, test, settings), settings.new_tokens)
