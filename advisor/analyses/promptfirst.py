"""Few-shot prompting first: when there is neither a knowledge gap nor a behaviour gap, prompting may be enough.

The literature's consensus row (OpenAI's "Optimizing LLM accuracy" guide): RAG closes a knowledge gap,
fine-tuning a behaviour gap, a hybrid both; with neither, start with prompt engineering and a small
evaluation set before building anything. Whether that is the verdict is decided once, by the rule base (a rule
saying `start_with: prompt`; the engine's `Recommendation.start_with`). This module explains it: which gap the
answers show, and the advice with its source (the recommendation JSON's `prompt_first`).

- knowledge gap: `external_knowledge` is some/most, or `knowledge_change` is monthly or faster; none when
  external_knowledge is none and knowledge_change is static or yearly; unknown otherwise.
- behaviour gap: `style_adaptation` is strong; none when it is none or light (a prompt with a few examples gets
  a light style right); unknown otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict

from advisor.models import UNKNOWN
from advisor.outcomes import PROMPT, PROMPT_HEADLINE, prompt_steps

NO_KNOWLEDGE_GAP_CHANGE = ("static", "yearly")
NO_KNOWLEDGE_GAP_EXTERNAL = ("none",)
NO_BEHAVIOUR_GAP_STYLE = ("none", "light")

COST_HINT = (" With high cost pressure, include a prompted small model in the test: fine-tuning to shrink the model "
             "is the reason left to train.")
SOURCE = "OpenAI, \"Optimizing LLM accuracy\" guide: start with prompt engineering and an evaluation set"


class PromptFirstOut(BaseModel):
    """Whether to start with few-shot prompting, and how to test it (the recommendation JSON's `prompt_first`)."""

    model_config = ConfigDict(defer_build=True)
    applies: bool  # the verdict's start_with is `prompt`
    knowledge_gap: Optional[bool]  # None: unknown
    behaviour_gap: Optional[bool]
    message: str  # '' when it does not apply
    how_to_test: list[str]  # the verdict's next steps when it applies
    source: str
    best_of_three: Optional[str]  # the engine's verdict, when given


def gaps(answers: Mapping[str, Any]) -> tuple[bool | None, bool | None]:
    """(knowledge gap, behaviour gap) of the answers: True, False, or None when unknown."""
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
    if style == "strong":
        behaviour_gap: bool | None = True
    elif style in NO_BEHAVIOUR_GAP_STYLE:
        behaviour_gap = False
    else:
        behaviour_gap = None
    return knowledge_gap, behaviour_gap


def prompt_first(answers: Mapping[str, Any], recommendation: str | None = None,
                 start_with: str | None = None) -> PromptFirstOut:
    """Whether to start with few-shot prompting for these answers, and how to test it (always a record).

    `start_with` is the verdict's (`Recommendation.start_with`), which decides; without it (a caller holding
    answers only), the advice applies when neither gap is present.
    """
    knowledge_gap, behaviour_gap = gaps(answers)
    applies = start_with == PROMPT if start_with is not None else knowledge_gap is False and behaviour_gap is False
    message = ""
    if applies:
        best = f" If it falls short, {recommendation} is the best of the three." if recommendation else ""
        message = (
            "Neither a knowledge gap (the knowledge is stable and the model has it) nor a behaviour gap (a prompt "
            "with a few examples gets the style right): few-shot prompting of a general model may be enough. "
            "Measure that first." + best
        )
        if str(answers.get("cost_pressure")) == "high":
            message += COST_HINT
    return PromptFirstOut(
        applies=applies,
        knowledge_gap=knowledge_gap,
        behaviour_gap=behaviour_gap,
        message=message,
        how_to_test=prompt_steps() if applies else [],
        source=SOURCE if applies else "",
        best_of_three=recommendation,
    )


def render_text(advice: PromptFirstOut) -> str:
    """Why the verdict starts with few-shot prompting, as a terminal line ('' when it does not); the headline and
    the next steps already say what to do."""
    if not advice.applies:
        return ""
    hint = COST_HINT if COST_HINT in advice.message else ""
    return f"Why {PROMPT_HEADLINE.lower()}: {advice.source}.{hint}"
