"""Adaptive questioning: exact decidedness, informative ranking, and the scripted questionnaire."""

from __future__ import annotations

import itertools
import random

import pytest
from tests.support.analyses import random_answers
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.analyses.adaptive import (
    AdaptiveSession, is_decided, most_informative, rank_questions, run_adaptive_questionnaire,
)
from advisor.engine import compile_rules, encode, pick, raw_state, recommend
from advisor.questionnaire import Interrupted

DECISIVE = {  # a clear RAG case: fresh, external, cited, no training data or skills
    "knowledge_change": "daily", "external_knowledge": "most", "traceability": "required",
    "hallucination_cost": "critical", "labeled_examples": "none", "ml_expertise": "none",
    "style_adaptation": "none", "data_sensitivity": "regulated", "cost_pressure": "low", "latency_budget": "relaxed",
}


def _brute_decided(compiled, state):
    top = pick(compiled, raw_state(compiled, state))
    open_q = [i for i, v in enumerate(state) if v < 0]
    for combo in itertools.product(*[range(-1, len(compiled.values[q])) for q in open_q]):
        trial = list(state)
        for q, v in zip(open_q, combo):
            trial[q] = v
        if pick(compiled, raw_state(compiled, tuple(trial))) != top:
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), known=st.integers(5, 9))
def test_is_decided_matches_brute_force(mini_compiled, seed, known):
    rng = random.Random(seed)
    state = [-1] * 10
    for q in rng.sample(range(10), known):
        state[q] = rng.randrange(len(mini_compiled.values[q]))
    state = tuple(state)
    decision = is_decided(mini_compiled, state)
    assert decision.decided == _brute_decided(mini_compiled, state)
    if not decision.decided:  # the witness really flips it
        answers = {mini_compiled.question_ids[i]: (mini_compiled.values[i][v] if v >= 0 else "unknown")
                   for i, v in enumerate(state)}
        answers.update(decision.witness)
        assert recommend(mini_compiled, answers).recommendation == decision.witness_recommendation
        assert decision.witness_recommendation != decision.recommendation


def test_nothing_known_is_not_decided(default_compiled):
    assert not is_decided(default_compiled, {}).decided
    assert is_decided(default_compiled, DECISIVE).decided  # nothing open


def test_most_informative_can_flip_or_moves_most(default_compiled):
    answers = {"knowledge_change": "static", "external_knowledge": "none"}
    best = most_informative(default_compiled, answers)
    ranked = rank_questions(default_compiled, answers)
    assert best == ranked[0]
    assert best.question not in answers
    before = recommend(default_compiled, answers).recommendation
    for value, approach in best.flips_to.items():
        assert recommend(default_compiled, {**answers, best.question: value}).recommendation == approach != before
    flipping = [r for r in ranked if r.flips_to]
    if flipping:  # questions that can flip come before those that cannot
        assert ranked[: len(flipping)] == flipping
    assert most_informative(default_compiled, DECISIVE) is None


def test_session_back_and_remaining(default_compiled):
    session = AdaptiveSession(default_compiled)
    first = session.next_question()
    session.answer(first, "unknown")
    assert first not in session.remaining() and session.next_question() != first
    assert session.back() == first and session.asked == [] and session.back() is None


def _script(replies):
    it = iter(replies)
    out: list[str] = []

    def read(prompt):
        out.append(prompt)
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return read, out


def _answering(values, extra=()):
    """An input function that answers each question from `values` (by id in the prompt), then `extra`."""
    out: list[str] = []
    extra = list(extra)

    def read(prompt):
        out.append(prompt)
        for qid, value in values.items():
            if prompt.startswith(f"[{qid}]"):
                return value
        if extra:
            return extra.pop(0)
        raise EOFError

    return read, out


def test_questionnaire_stops_early_on_a_decisive_case(default_rules):
    read, prompts = _answering(DECISIVE, extra=["n"])
    lines: list[str] = []
    answers = run_adaptive_questionnaire(default_rules, read, lines.append)
    asked = [p for p in prompts if p.startswith("[")]
    total = len(default_rules.questions)
    assert len(asked) < total
    done = [line for line in lines if line.startswith("Decided after")]
    assert done and f"Decided after {len(asked)} of {total} questions: rag" in done[0]
    defaults = {q.id: q.default for q in default_rules.questions}
    assert sum(v not in ("unknown", defaults[q]) for q, v in answers.items()) == len(asked)
    assert recommend(compile_rules(default_rules), answers).recommendation == "rag"


def test_questionnaire_can_go_on_after_decided(default_rules):
    # the questions outside the contract are answered with Enter: their neutral default
    read, prompts = _answering(DECISIVE, extra=["y", "", ""])
    answers = run_adaptive_questionnaire(default_rules, read, lambda line: None)
    assert answers == {**DECISIVE, "knowledge_location": "not_sure", "style_kind": "not_sure"}
    assert len([p for p in prompts if p.startswith("[")]) == len(default_rules.questions)


def test_help_why_back_and_invalid(default_rules):
    lines: list[str] = []
    read, prompts = _script(["?", "nonsense", "b", "b"])
    with pytest.raises(Interrupted) as stop:
        run_adaptive_questionnaire(default_rules, read, lines.append)
    text = "\n".join(lines)
    assert "Why this question now:" in text
    assert "is not an answer" in text
    assert "nothing to go back to" in text
    assert stop.value.answers == {}


def test_interrupt_keeps_answers(default_rules, default_compiled):
    first = AdaptiveSession(default_compiled).next_question()
    value = default_compiled.values[default_compiled.question_index[first]][-1]  # an answer that does not decide it yet
    read, _ = _script([value])
    with pytest.raises(Interrupted) as stop:
        run_adaptive_questionnaire(default_rules, read, lambda line: None)
    assert stop.value.answers == {first: value}


def test_rank_is_deterministic(mini_compiled):
    answers = random_answers(random.Random(4), unknown_share=0.6)
    assert rank_questions(mini_compiled, answers) == rank_questions(mini_compiled, encode(mini_compiled, answers))
