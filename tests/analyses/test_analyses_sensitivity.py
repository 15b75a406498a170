"""Sensitivity: the smallest flipping weight change is exact and minimal; perturbation stability is seeded."""

from __future__ import annotations

import random

import yaml
from tests.support.analyses import SAMPLE_ANSWERS, random_answers
from hypothesis import example, given, settings
from hypothesis import strategies as st

from advisor.analyses.sensitivity import analyse_sensitivity, smallest_flip, stability, summarise
from advisor.engine import compile_rules, recommend, term_weights, with_term_weights


def _sample():
    return yaml.safe_load(SAMPLE_ANSWERS.read_text())["answers"]


def _verdict(rulebase, answers, term, weight):
    return recommend(compile_rules(with_term_weights(rulebase, {term: weight})), answers).recommendation


def test_deterministic_and_in_range(default_compiled):
    a = analyse_sensitivity(default_compiled, _sample(), n=300, seed=5)
    b = analyse_sensitivity(default_compiled, _sample(), n=300, seed=5)
    assert a.to_dict() == b.to_dict()
    assert 0.0 <= a.stability <= 1.0
    assert a.perturbations == 300
    kept = round(a.stability * 300)
    assert kept + sum(a.alternatives.values()) == 300


def test_other_seed_same_shape(mini_compiled):
    answers = random_answers(random.Random(11))
    share, alts = stability(mini_compiled, answers, n=200, seed=1)
    assert 0.0 <= share <= 1.0 and all(v > 0 for v in alts.values())
    assert recommend(mini_compiled, answers).recommendation not in alts


def test_flip_is_exact_on_sample(default_rules, default_compiled):
    answers = _sample()
    flip = smallest_flip(default_compiled, answers)
    assert flip is not None
    before = recommend(default_compiled, answers).recommendation
    w = term_weights(default_rules)[flip["term"]]
    delta = flip["change"] * w
    assert _verdict(default_rules, answers, flip["term"], w + delta * 1.02) == flip["to"] != before
    assert _verdict(default_rules, answers, flip["term"], w + delta * 0.98) == before


def test_nothing_known_nothing_flips(mini_compiled):
    result = analyse_sensitivity(mini_compiled, {}, n=50)
    assert result.smallest_flip is None
    assert result.stability == 1.0
    assert "No change of a single weight" in result.summary()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
@example(seed=1437)  # an exact tie
@example(seed=7523)  # just past the flip a second rival, further on a third
@example(seed=4582)  # needs more than four digits of the change
@example(seed=488)  # the flip sits exactly at weight 0 (a rule switched off)
def test_flip_is_minimal_over_every_weight(mini, mini_compiled, seed):
    """No weight changed by less than the reported relative change (either way) flips the verdict."""
    answers = random_answers(random.Random(seed), unknown_share=0.2)
    before = recommend(mini_compiled, answers).recommendation
    flip = smallest_flip(mini_compiled, answers)
    limit = abs(flip["change"]) * 0.97 if flip else 1.0
    for term, w in term_weights(mini).items():
        for sign in (-1, 1):
            new = max(0.0, w * (1 + sign * min(limit, 50.0)))
            assert _verdict(mini, answers, term, new) == before, (term, new)
    if flip:
        w = term_weights(mini)[flip["term"]]
        assert flip["change"] >= -1.0
        sign = 1 if flip["direction"] == "raise" else -1
        assert flip["tie"] == (flip["change"] == 0)
        step = sign * max(abs(flip["change"]) * (1 + 1e-4), 1e-6)  # just past: further on, a third may win
        assert _verdict(mini, answers, flip["term"], max(0.0, w * (1 + step))) == flip["to"]


def test_a_tie_is_flipped_by_the_slightest_change(mini, mini_compiled):
    answers = {"knowledge_change": "realtime", "external_knowledge": "some", "style_adaptation": "strong",
               "hallucination_cost": "high", "traceability": "required", "cost_pressure": "medium",
               "ml_expertise": "some", "data_sensitivity": "regulated", "latency_budget": "subsecond"}
    result = analyse_sensitivity(mini_compiled, answers, n=100)
    assert result.smallest_flip["tie"] is True and result.smallest_flip["change"] == 0.0
    assert "tied" in result.summary()
    assert result.stability < 1.0  # random changes tip a tie either way


def test_summary_text():
    text = summarise({"stability": 0.934, "perturbations": 500, "spread": 0.2, "alternatives": {"hybrid": 33},
                      "smallest_flip": {"term": "factor:dynamic_data", "weight": 1.0, "new_weight": 0.7,
                                        "change": -0.3, "to": "hybrid"}})
    assert text.startswith("Stable in 93% of 500 random changes of all weights (each within ±20%).")
    assert "lowering the weight of factor 'dynamic_data' from 1.00 to 0.70 (-30%) makes it hybrid" in text
