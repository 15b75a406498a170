"""The questionnaire, driven by scripted input through the same code path as the terminal."""

from __future__ import annotations

import pytest

from advisor.models import CONTRACT_QUESTIONS, UNKNOWN
from advisor.questionnaire import Interrupted, parse_reply, run_questionnaire

QIDS = list(CONTRACT_QUESTIONS)
EXTRA = ["knowledge_location", "style_kind"]  # asked after the contract questions; Enter keeps their neutral default


def scripted(replies):
    """An input function that returns the replies in order, then raises the exception given as a reply."""
    replies = list(replies)
    prompts = []

    def read(prompt: str) -> str:
        prompts.append(prompt)
        reply = replies.pop(0)
        if isinstance(reply, BaseException) or (isinstance(reply, type) and issubclass(reply, BaseException)):
            raise reply
        return reply

    read.prompts = prompts  # type: ignore[attr-defined]
    return read


def run(rulebase, replies):
    out: list[str] = []
    read = scripted(replies)
    answers = run_questionnaire(rulebase, read, out.append)
    return answers, "\n".join(out), read


def test_values_numbers_and_empty_default(rulebase):
    replies = ["weekly", "3", "", "HIGH", "required", "2", "some", "hundreds", "internal", "seconds", "corpus", ""]
    answers, out, read = run(rulebase, replies)
    assert answers["knowledge_change"] == "weekly"
    assert answers["external_knowledge"] == "most"
    assert answers["style_adaptation"] == UNKNOWN
    assert answers["hallucination_cost"] == "high"
    assert answers["cost_pressure"] == "medium"
    assert answers["knowledge_location"] == "corpus" and answers["style_kind"] == "not_sure"
    assert list(answers) == QIDS + EXTRA
    assert "Question 4 of 12" in out and "[style_kind] (Enter = not_sure) > " in read.prompts
    assert "1) static  2) yearly" in out


def test_help_is_shown_on_request(rulebase):
    answers, out, _ = run(rulebase, ["?", "static"] + [""] * 11)
    assert "retrain" in out  # from the help of knowledge_change
    assert answers["knowledge_change"] == "static"


def test_invalid_input_is_reasked_with_did_you_mean(rulebase):
    answers, out, read = run(rulebase, ["weekyl", "9", "weekly"] + [""] * 11)
    assert "'weekyl' is not an answer (did you mean 'weekly'?)" in out
    assert "'9' is not an answer" in out
    assert answers["knowledge_change"] == "weekly"
    assert sum("knowledge_change" in p for p in read.prompts) == 3


def test_back_goes_to_the_previous_question(rulebase):
    replies = ["b", "static", "none", "back", "back", "monthly", "most"] + [""] * 10
    answers, out, _ = run(rulebase, replies)
    assert "first question" in out
    assert answers["knowledge_change"] == "monthly"
    assert answers["external_knowledge"] == "most"


def test_ctrl_c_returns_what_was_answered(rulebase):
    with pytest.raises(Interrupted) as stop:
        run_questionnaire(rulebase, scripted(["weekly", "most", KeyboardInterrupt]), lambda _: None)
    assert stop.value.answers == {"knowledge_change": "weekly", "external_knowledge": "most"}


def test_end_of_input_counts_as_an_interruption(rulebase):
    with pytest.raises(Interrupted) as stop:
        run_questionnaire(rulebase, scripted([EOFError]), lambda _: None)
    assert stop.value.answers == {}


def test_parse_reply():
    values = ("none", "some", "most")
    assert parse_reply("", values) == UNKNOWN
    assert parse_reply(" 2 ", values) == "some"
    assert parse_reply("unknown", values) == UNKNOWN
    assert parse_reply("4", values) is None
    assert parse_reply("mostly", values) is None
