"""Prompt first: when there is neither a knowledge gap nor a behaviour gap, prompting alone may be enough.

The literature's consensus row (OpenAI's "Optimizing LLM accuracy" guide): RAG closes a knowledge gap,
fine-tuning a behaviour gap, a hybrid both; with neither, start with prompt engineering and a small
evaluation set before building anything. From the answers of the contract:

- knowledge gap: `external_knowledge` is some/most, or `knowledge_change` is monthly or faster. None when
  external_knowledge is none or unknown and knowledge_change is static or yearly.
- behaviour gap: `style_adaptation` is light/strong. None when it is none.

Unknown answers count as "maybe a gap" except external_knowledge, since a stable body of general knowledge
is what a base model already has. The advice never replaces the verdict: the best of the three is still named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict

from advisor.models import UNKNOWN

NO_KNOWLEDGE_GAP_CHANGE = ("static", "yearly")
NO_KNOWLEDGE_GAP_EXTERNAL = ("none", UNKNOWN)
NO_BEHAVIOUR_GAP_STYLE = ("none",)

HOW_TO_TEST = [
    "Write 20 or more representative questions with the answers you expect (an evaluation set).",
    "Answer them with a general model and a careful prompt (instructions, a few examples, the output format).",
    "Score the answers (exact match or a checklist per question); build RAG or fine-tune only where the prompt "
    "falls short, and keep the set to compare against.",
]
SOURCE = "OpenAI, \"Optimizing LLM accuracy\" guide: start with prompt engineering and an evaluation set"


class PromptFirstOut(BaseModel):
    """Whether prompting alone may be enough, and how to test it (the recommendation JSON's `prompt_first`)."""

    model_config = ConfigDict(defer_build=True)
    applies: bool
    knowledge_gap: Optional[bool]  # None: unknown
    behaviour_gap: Optional[bool]
    message: str  # '' when it does not apply
    how_to_test: list[str]
    source: str
    best_of_three: Optional[str]  # the engine's verdict, when given


def prompt_first(answers: Mapping[str, Any], recommendation: str | None = None) -> PromptFirstOut:
    """Whether prompting alone may be enough for these answers, and how to test it (always a record)."""
    def get(q: str) -> str:
        value = answers.get(q)
        return UNKNOWN if value is None else str(value)

    change, external, style = get("knowledge_change"), get("external_knowledge"), get("style_adaptation")
    if external in ("some", "most") or change in ("monthly", "weekly", "daily", "realtime"):
        knowledge_gap: bool | None = True
    elif external in NO_KNOWLEDGE_GAP_EXTERNAL and change in NO_KNOWLEDGE_GAP_CHANGE:
        knowledge_gap = False
    else:
        knowledge_gap = None
    if style in ("light", "strong"):
        behaviour_gap: bool | None = True
    elif style in NO_BEHAVIOUR_GAP_STYLE:
        behaviour_gap = False
    else:
        behaviour_gap = None
    applies = knowledge_gap is False and behaviour_gap is False
    message = ""
    if applies:
        best = f" If it is not, {recommendation} is the best of the three." if recommendation else ""
        message = (
            "Neither a knowledge gap (the knowledge is stable and not outside the model) nor a behaviour gap "
            "(no style to learn) is present: prompting a general model alone may be enough. Test that first."
            + best
        )
        if get("cost_pressure") == "high":
            message += (
                " With high cost pressure, include a prompted small model in the test: fine-tuning to shrink "
                "the model is the reason left to train."
            )
    return PromptFirstOut(
        applies=applies,
        knowledge_gap=knowledge_gap,
        behaviour_gap=behaviour_gap,
        message=message,
        how_to_test=list(HOW_TO_TEST) if applies else [],
        source=SOURCE if applies else "",
        best_of_three=recommendation,
    )


def render_text(advice: PromptFirstOut) -> str:
    """The advice as a few terminal lines ('' when it does not apply)."""
    if not advice.applies:
        return ""
    lines = ["Prompt first: " + advice.message, "How to test it:"]
    lines += [f"  {i}. {step}" for i, step in enumerate(advice.how_to_test, 1)]
    return "\n".join(lines)
