"""Prompt first: triggers only without a knowledge gap and without a behaviour gap."""

from __future__ import annotations

import pytest

from advisor.analyses.promptfirst import prompt_first, render_text

NO_GAP = {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "none"}


@pytest.mark.parametrize("answers", [
    NO_GAP,
    {**NO_GAP, "knowledge_change": "yearly"},
    {**NO_GAP, "style_adaptation": "light"},  # the question's own help: a prompt with a few examples gets it right
])
def test_triggers_without_gaps(answers):
    advice = prompt_first(answers, "fine-tuning")
    assert advice.applies is True
    assert advice.knowledge_gap is False and advice.behaviour_gap is False
    assert "prompting" in advice.message and "fine-tuning is the best of the three" in advice.message
    assert any("30" in step for step in advice.how_to_test)
    assert "OpenAI" in advice.source
    assert render_text(advice).startswith("Why few-shot prompting first:")


@pytest.mark.parametrize("change, expected_gap", [
    ({"external_knowledge": "some"}, ("knowledge_gap", True)),
    ({"knowledge_change": "monthly"}, ("knowledge_gap", True)),
    ({"knowledge_change": "unknown"}, ("knowledge_gap", None)),
    ({"external_knowledge": "unknown"}, ("knowledge_gap", None)),
    ({"style_adaptation": "strong"}, ("behaviour_gap", True)),
    ({"style_adaptation": "unknown"}, ("behaviour_gap", None)),
])
def test_does_not_trigger_with_a_gap_or_doubt(change, expected_gap):
    advice = prompt_first({**NO_GAP, **change}, "rag")
    assert advice.applies is False
    key, value = expected_gap
    assert getattr(advice, key) is value
    assert advice.message == "" and render_text(advice) == ""
    assert advice.how_to_test == [] and advice.source == ""
    assert advice.best_of_three == "rag"


def test_cost_pressure_adds_small_model_hint():
    assert "small model" in prompt_first({**NO_GAP, "cost_pressure": "high"}, "fine-tuning").message
    assert "small model" not in prompt_first({**NO_GAP, "cost_pressure": "low"}, "fine-tuning").message


def test_default_rule_base_names_a_best_of_three_for_no_gap(default_compiled):
    from advisor.engine import recommend

    rec = recommend(default_compiled, NO_GAP)
    advice = prompt_first(rec.answers, rec.recommendation, rec.start_with)
    assert rec.start_with == "prompt" and advice.applies and rec.recommendation in advice.message
    assert rec.next_steps[:3] == advice.how_to_test  # the advice's steps are the verdict's next steps


def test_the_rule_base_and_the_advice_agree_on_every_gap_combination(default_compiled):
    """One definition of "no gap": the engine's start_with (the rule base's prompt rule) and the advice's gaps."""
    from itertools import product

    from advisor.engine import recommend
    from advisor.models import CONTRACT_QUESTIONS

    for change, external, style in product(*(("unknown", *CONTRACT_QUESTIONS[q]) for q in NO_GAP)):
        answers = {"knowledge_change": change, "external_knowledge": external, "style_adaptation": style}
        rec = recommend(default_compiled, answers)
        advice = prompt_first(answers)  # the gaps alone, without the verdict
        assert (rec.start_with == "prompt") is advice.applies, answers
