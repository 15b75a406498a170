"""What answering cost, measured: tokens per answer, cost at the run's prices, throughput, empty and cut answers.

Tokens come from each reply (an endpoint's `usage`, or counted in-process); prices are per million tokens,
from --price-in/--price-out or the answers file's `costs:` section, and apply to the arms an endpoint
answered (the price is the endpoint's). Pure functions; nothing is read or run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from advisor.runrecords import Usage

if TYPE_CHECKING:
    from advisor.backends.base import Answer
    from advisor.backends.generation import Reply
    from advisor.backends.options import EndpointOptions


def measure_usage(answers: Sequence[Answer] | Sequence[Reply], seconds: float | None,
                  endpoint: EndpointOptions | None = None) -> Usage:
    """The usage of these answers; `seconds` is the wall time spent answering them (None when unknown).

    Throughput is reported only when every answer was generated in that time (none read from the cache);
    cost only when an endpoint with prices answered and every answer has its token counts."""
    n = len(answers)
    prompt = [a.prompt_tokens for a in answers]
    completion = [a.completion_tokens for a in answers]
    counted = n > 0 and all(t is not None for t in prompt + completion)
    usage = Usage(answers=n, empty=sum(1 for a in answers if not a.text.strip()),
                  cut=sum(1 for a in answers if a.finish_reason == "length"),
                  cached=sum(1 for a in answers if a.cached))
    if counted:
        usage.prompt_tokens = sum(t or 0 for t in prompt)
        usage.completion_tokens = sum(t or 0 for t in completion)
        usage.prompt_tokens_per_answer = round(usage.prompt_tokens / n, 1)
        usage.completion_tokens_per_answer = round(usage.completion_tokens / n, 1)
    if n and seconds and seconds > 0 and usage.cached == 0:
        usage.answers_per_second = round(n / seconds, 3)
    if endpoint is not None:
        usage.concurrency = endpoint.concurrency
        if endpoint.price_in is not None or endpoint.price_out is not None:
            usage.price_in, usage.price_out = endpoint.price_in or 0.0, endpoint.price_out or 0.0
            usage.price_source, usage.currency = endpoint.price_source, endpoint.currency
            if counted and usage.prompt_tokens is not None and usage.completion_tokens is not None:
                cost = (usage.prompt_tokens * usage.price_in + usage.completion_tokens * usage.price_out) / 1e6
                usage.cost = round(cost, 6)
                usage.cost_per_1000_answers = round(cost / n * 1000, 4)
    return usage

