"""What a verdict tells you to do first: start with few-shot prompting, or build one of the three approaches.

The contract's `recommendation` is always the best of RAG, fine-tuning and the hybrid. `start_with` (added
beside it) is the outcome to act on first: `prompt` when a rule of the rule base that says `start_with: prompt`
fires (in the bundled one, `no_gap_prompting`: neither a knowledge gap nor a behaviour gap), otherwise the
recommendation itself. Prompting has one name for people everywhere (`PROMPT_LABEL`): the questionnaire's
outcome, the validation's `prompt` arm, the case library's `prompt` label and the cost table's row.
"""

from __future__ import annotations

from advisor.samplesize import MEASURABLE_INPUTS

PROMPT = "prompt"
PROMPT_LABEL = "few-shot prompting"  # how people see `prompt`, in every output
PROMPT_HEADLINE = "Few-shot prompting first"
PROMPT_SUMMARY = (
    "Neither a knowledge gap nor a behaviour gap to close: a general model with instructions and a few solved "
    "examples in the prompt may be enough. Measure that before building retrieval or training anything."
)


def prompt_steps(fallback_label: str | None = None) -> list[str]:
    """The next steps of the prompt-first outcome; the last names the best of the three, if the prompt falls short."""
    steps = [
        f"Write an evaluation set: {MEASURABLE_INPUTS} or more representative inputs with the outputs you expect.",
        "Answer them with a general model and a careful prompt: instructions, a few solved examples (few-shot), "
        "the output format.",
        "Score the answers (exact match or a checklist per input) and keep the set as the prompt's regression test.",
    ]
    if fallback_label:
        steps.append(
            f"If the prompt falls short, the best of the three approaches for these answers is {fallback_label}: "
            "run `advisor validate` to measure few-shot prompting against it on your data."
        )
    return steps

