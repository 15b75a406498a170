"""Who answers a chat prompt: the generator loaded in-process, or an OpenAI-compatible endpoint.

The untouched model, `prompt` and `rag` build the same chat messages either way and hand them to
`answerer(settings)`: with `settings.endpoint` they go to its `/v1/chat/completions` (greedy, the run's
max tokens, the run's seed), without it to the shared in-process generator. The tuned arms always answer
in-process with their adapter. Light module: nothing heavy is imported until a model is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from advisor.backends.base import BuildSettings
    from advisor.runrecords import AnsweredBy


def through_endpoint(arm: str) -> bool:
    """Whether an endpoint answers for `arm` when the run has one: the untouched model and every arm that does
    not train (prompt, rag); the arms that train answer in-process with their adapter."""
    from advisor.backends import arms

    if arm == arms.BASELINE:
        return True
    found = arms.registry().get(arm)
    return found is not None and not found.trains


@dataclass(frozen=True)
class Reply:
    """One generated answer, how it ended and what it cost.

    `finish_reason` is "stop" (the model ended it), "length" (cut by the token limit) or None when the
    server did not say; token counts are None when the server sent no `usage`. `seconds` is the request's
    own latency (in-process: the batch's share); `cached` marks an answer read from the run's cache.
    """

    text: str
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    cached: bool = False

    @property
    def empty(self) -> bool:
        """The model sent no text at all (or only white space)."""
        return not self.text.strip()

    @property
    def cut(self) -> bool:
        """The answer was cut by the token limit."""
        return self.finish_reason == "length"


class ChatModel(Protocol):
    """Anything that answers batches of chat messages greedily: the local Generator or the endpoint client."""

    name: str

    def complete(self, conversations: list[list[dict[str, str]]], max_new_tokens: int = 32,
                 batch_size: int = 8) -> list[Reply]:
        """Greedy replies to each conversation, in order."""
        ...


def uses_endpoint(settings: BuildSettings) -> bool:
    """Whether the untouched model, `prompt` and `rag` answer through an endpoint in this run."""
    return settings.endpoint is not None


def answerer(settings: BuildSettings) -> ChatModel:
    """The model that answers for the untouched model, `prompt` and `rag`: the endpoint when one is given,
    else the generator loaded once in this process."""
    if settings.endpoint is not None:
        from advisor.backends.endpoint import shared_client

        return shared_client(settings.endpoint, settings.seed)
    from advisor.backends.generator import generator_for

    return generator_for(settings)


def questions_per_call(settings: BuildSettings) -> int:
    """Questions handed to one `answer_many` call: a generation batch in-process; through an endpoint, enough
    to keep every request slot busy (four rounds of --concurrency) between progress updates."""
    if settings.endpoint is None:
        return settings.batch_size
    return max(settings.batch_size, 4 * settings.endpoint.concurrency)


def answered_by(settings: BuildSettings, arm: str) -> AnsweredBy:
    """What answered `arm` and where: the endpoint's model and host, or the local model and device."""
    from advisor.runrecords import AnsweredBy

    if settings.endpoint is not None and through_endpoint(arm):
        from advisor.backends.endpoint import host_of

        return AnsweredBy(kind="endpoint", model=settings.endpoint.model, host=host_of(settings.endpoint.url))
    from advisor.backends.precision import held_as

    precision = held_as(settings.device, settings.dtype, settings.quantize)
    held = {} if precision is None else {"precision": precision}
    return AnsweredBy(kind="local", model=local_name(settings.generator), device=settings.device, **held)


def local_name(generator: str) -> str:
    """The generator's display name (the default's canonical name; a folder or hub id as given)."""
    from advisor.backends.generator import resolve

    try:
        return resolve(generator).name
    except Exception:  # an unresolvable name is reported where it is used; here it only labels
        return generator


_QUANTISED = re.compile(r"[._-](q\d[\w.]*|f16|bf16|fp16|fp32|gguf|awq|gptq|int[48]|[0-9]+bit)([._-].*)?$")


def base_model_key(name: str) -> str:
    """A loose key for "the same base model": the last path part, lower case, without a tag (`:8b`,
    `@main`), a `.gguf` ending or a quantisation suffix (`.Q4_1-...`, `-AWQ`, `-fp16`)."""
    last = Path(name.rstrip("/")).name or name
    last = re.split(r"[:@]", last, maxsplit=1)[0].lower()
    last = last.removesuffix(".gguf")
    return _QUANTISED.sub("", last) or last
