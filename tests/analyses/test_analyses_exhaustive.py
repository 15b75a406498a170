"""Exhaustive lint: counts, agreement with the engine, and findings checked against brute force."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.analyses.exhaustive import exhaustive_lint
from advisor.engine import analyse, compile_rules, encode, pick, raw_state
from advisor.models import RECOMMENDABLE, RuleBase

from tests.support.analyses import random_answers


@pytest.fixture(scope="module")
def mini_report(mini_compiled):
    return exhaustive_lint(mini_compiled)


@pytest.fixture(scope="module")
def default_report(default_compiled):
    return exhaustive_lint(default_compiled)


def _grid_index(compiled, state):
    return tuple(v if v >= 0 else len(compiled.values[i]) for i, v in enumerate(state))


def test_counts_sum_to_every_combination(mini_report, mini_compiled):
    total = math.prod(len(v) + 1 for v in mini_compiled.values)
    assert total == 7 * 4 * 4 * 5 * 4 * 4 * 4 * 5 * 4 * 4
    assert mini_report.total == total
    assert sum(mini_report.wins.values()) == total
    assert mini_report.answered_total == math.prod(len(v) for v in mini_compiled.values)
    assert sum(mini_report.wins_answered.values()) == mini_report.answered_total
    assert mini_report.verdicts.size == total


def test_default_rule_base_counts_and_no_dead_rules(default_report, default_compiled):
    """The bundled rule base: every rule fires; a rule that never decides is only allowed as a pure note."""
    assert sum(default_report.wins.values()) == default_report.total
    assert all(count > 0 for count in default_report.wins_answered.values())
    for rule in default_report.rules:
        assert not rule["never_fires"], rule["id"]
        if rule["never_decides"]:
            assert rule["note_only"], f"rule {rule['id']} has an effect that never changes a verdict"
    assert not [w for w in default_report.warnings], default_report.warnings
    for q in default_report.questions:
        assert q["decisive_contexts"] > 0, q["id"]


def test_verdicts_agree_with_engine_on_samples(mini_report, mini_compiled, default_report, default_compiled):
    rng = random.Random(7)
    for report, compiled in ((mini_report, mini_compiled), (default_report, default_compiled)):
        for _ in range(400):
            state = encode(compiled, random_answers(rng, unknown_share=0.3))
            expected = pick(compiled, raw_state(compiled, state))
            assert report.verdicts[_grid_index(compiled, state)] == expected


def test_all_unknown_is_a_tie_and_examples_are_ties(mini_report, mini_compiled):
    assert mini_report.ties >= 1  # every score 0 when nothing is known
    assert mini_report.ties_answered <= mini_report.ties
    assert mini_report.near_answered <= mini_report.near
    for example in mini_report.tie_examples:
        raw = raw_state(mini_compiled, encode(mini_compiled, example))
        top = pick(mini_compiled, raw)
        assert raw[top] - max(raw[a] for a in range(3) if a != top) <= 1e-9
    for example in mini_report.near_examples:
        raw = raw_state(mini_compiled, encode(mini_compiled, example))
        top = pick(mini_compiled, raw)
        assert 1e-9 < raw[top] - max(raw[a] for a in range(3) if a != top) < mini_report.near_margin


def test_note_only_rule_is_reported_as_never_deciding(mini_report):
    rows = {r["id"]: r for r in mini_report.rules}
    assert rows["note_only"]["fires"] > 0 and rows["note_only"]["never_decides"] and rows["note_only"]["note_only"]
    assert rows["both_gaps"]["decisive"] > 0
    neutral = {(d["question"], d["value"]) for d in mini_report.dead_answers if d["reason"] == "neutral"}
    assert ("hallucination_cost", "medium") in neutral and ("latency_budget", "seconds") in neutral
    text = mini_report.render_text()
    assert "2,867,200 answer combinations" in text and "note_only" in text


def _tiny_rulebase(pulls_a, pulls_b, pulls_c, effect, weight) -> RuleBase:
    def q(qid, pulls):
        return {"id": qid, "factor": qid, "text": qid, "help": "h",
                "values": [{"value": f"v{i}", "pull": dict(zip(RECOMMENDABLE, p)), "because": "x"}
                           for i, p in enumerate(pulls)]}

    return RuleBase.model_validate({
        "version": 1, "name": "tiny",
        "approaches": {a: {"label": a} for a in RECOMMENDABLE},
        "factors": [{"id": "a"}, {"id": "b"}, {"id": "c", "weight": 0.5}],
        "questions": [q("a", pulls_a), q("b", pulls_b), q("c", pulls_c)],
        "rules": [
            {"id": "r1", "when": {"a": ["v0"], "b": ["v1"]}, "effect": dict(zip(RECOMMENDABLE, effect)),
             "weight": weight, "because": "x"},
            {"id": "dead_weight", "when": {"c": ["v0"]}, "effect": {"rag": 0.0}, "weight": 1.0, "because": "x",
             "note": "a note"},
        ],
    })


def _brute(compiled, near):
    sizes = [len(v) + 1 for v in compiled.values]
    wins, ties, close = [0, 0, 0], 0, 0
    decisive = [0] * len(compiled.rule_ids)
    grid = np.empty(sizes, dtype=int)
    close_grid = np.zeros(sizes, dtype=bool)
    for idx in itertools.product(*(range(s) for s in sizes)):
        state = tuple(v if v < sizes[i] - 1 else -1 for i, v in enumerate(idx))
        raw, top, *_ = analyse(compiled, state)
        grid[idx] = top
        wins[top] += 1
        margin = raw[top] - max(raw[a] for a in range(3) if a != top)
        ties += margin <= 1e-9
        close_grid[idx] = margin < near
        close += 1e-9 < margin < near
        for ri, conds in enumerate(compiled.rule_conds):
            if all(state[qi] in allowed for qi, allowed in conds):
                alt = [raw[a] - compiled.rule_weighted_effect[ri][a] for a in range(3)]
                decisive[ri] += pick(compiled, alt) != top
    return wins, ties, close, decisive, grid, close_grid


pull = st.tuples(*[st.sampled_from([0.0, 0.3, 0.5, 1.0, -0.2])] * 3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pulls_a=st.lists(pull, min_size=1, max_size=3),
    pulls_b=st.lists(pull, min_size=2, max_size=3),
    pulls_c=st.lists(pull, min_size=1, max_size=2),
    effect=pull,
    weight=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
)
def test_matches_brute_force_on_random_tiny_rule_bases(pulls_a, pulls_b, pulls_c, effect, weight):
    compiled = compile_rules(_tiny_rulebase(pulls_a, pulls_b, pulls_c, effect, weight))
    report = exhaustive_lint(compiled, near_margin=0.25)
    wins, ties, close, decisive, grid, close_grid = _brute(compiled, 0.25)
    assert [report.wins[a] for a in RECOMMENDABLE] == wins
    assert report.ties == ties and report.near == close
    assert [r["decisive"] for r in report.rules] == decisive
    assert (report.verdicts == grid).all()
    for q in report.questions:
        axis = compiled.question_index[q["id"]]
        assert q["decisive_contexts"] == int((grid.max(axis=axis) != grid.min(axis=axis)).sum())
    answered = close_grid[tuple(slice(0, len(v)) for v in compiled.values)]
    for h in report.hotspots:
        axis = compiled.question_index[h["question"]]
        v = compiled.values[axis].index(h["value"])
        assert h["close_calls"] == int(answered.take(v, axis=axis).sum())
        assert h["lift"] >= 1.2


def test_json_shape(mini_report):
    data = mini_report.to_dict()
    assert data["combinations"] == mini_report.total
    assert set(data["wins"]) == set(RECOMMENDABLE)
    assert {"count", "fully_answered", "examples"} <= set(data["ties"])
    assert "verdicts" not in data


def test_too_many_combinations_is_bad_input():
    from advisor.errors import InputError

    values = [{"value": f"v{i}"} for i in range(30)]
    rulebase = RuleBase.model_validate({
        "version": 1, "approaches": {a: {"label": a} for a in RECOMMENDABLE}, "factors": [{"id": "f"}],
        "questions": [{"id": f"q{i}", "factor": "f", "text": "?", "values": values} for i in range(6)],
    })
    with pytest.raises(InputError, match="answer combinations"):
        exhaustive_lint(compile_rules(rulebase))


# ---------------------------------------------------------------- nothing to train on


def test_default_rule_base_never_lets_a_training_approach_win_without_examples(default_report):
    """Over every combination with labeled_examples=none, neither fine-tuning nor the hybrid wins.

    The rule base before this check let fine-tuning win 46,296 and the hybrid 20,584 such combinations.
    """
    u = default_report.untrainable
    assert u is not None and u["combinations"] == default_report.total // 5  # four values and unknown
    assert u["fine-tuning"] == {"wins": 0, "wins_fully_answered": 0}
    assert u["hybrid"] == {"wins": 0, "wins_fully_answered": 0}
    assert "example" not in u and not any("nothing can be trained" in w for w in default_report.warnings)
    assert default_report.to_dict()["training_without_examples"] == u


def _examples_rulebase(tuned_pull: float) -> RuleBase:
    def q(qid, pulls):
        return {"id": qid, "factor": qid, "text": qid, "help": "h",
                "values": [{"value": v, "pull": dict(zip(RECOMMENDABLE, p)), "because": "x"} for v, p in pulls]}

    return RuleBase.model_validate({
        "version": 1, "name": "examples",
        "approaches": {a: {"label": a} for a in RECOMMENDABLE},
        "factors": [{"id": "labeled_examples"}, {"id": "style"}],
        "questions": [q("labeled_examples", [("none", (0.4, -1.0, -1.0)), ("many", (0.0, 0.5, 0.5))]),
                      q("style", [("none", (0.3, -0.5, -0.5)), ("strong", (-0.3, tuned_pull, 0.2))])],
    })


@pytest.mark.parametrize("tuned_pull", [0.5, 2.0])
def test_training_without_examples_is_counted_against_the_engine(tuned_pull):
    """Brute force: the engine's verdict for every combination with labeled_examples=none, against the lint's count."""
    compiled = compile_rules(_examples_rulebase(tuned_pull))
    report = exhaustive_lint(compiled)
    expected = {"fine-tuning": 0, "hybrid": 0}
    for style in ("none", "strong", "unknown"):
        top = RECOMMENDABLE[pick(compiled, raw_state(compiled, encode(compiled, {"labeled_examples": "none",
                                                                               "style": style})))]
        if top in expected:
            expected[top] += 1
    assert {a: report.untrainable[a]["wins"] for a in expected} == expected
    found = [w for w in report.warnings if "nothing can be trained without examples" in w]
    assert bool(found) == (sum(expected.values()) > 0)
    if found:
        assert report.untrainable["example"]["labeled_examples"] == "none"
        assert "fine-tuning" in report.render_text().split("nothing to train on")[1]


def test_rule_base_without_the_question_skips_the_check():
    report = exhaustive_lint(compile_rules(_tiny_rulebase([(0, 0, 0)], [(0, 0, 0), (1, 0, 0)], [(0, 0, 0)],
                                                          (0, 0, 0), 1.0)))
    assert report.untrainable is None and "nothing to train on" not in report.render_text()
