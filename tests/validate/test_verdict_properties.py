"""The verdict's logic as properties over synthetic score tables: the named highest is the highest, only an arm
that beats the untouched model can be favoured, no candidate means inconclusive, and agreement depends on the
numbers, not on which arm was recommended (nor on its price)."""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from advisor.backends import arms, decision, evidence
from advisor.backends.base import BuildSettings, QAPair
from advisor.backends.metrics import choose_metric
from advisor.runrecords import AnswerRecord, ArmResult, Baseline, ValidationRun

RECOMMENDABLE = ("rag", "fine-tuning", "hybrid")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Rec:
    def __init__(self, recommendation: str):
        self.recommendation = recommendation
        self.start_with = recommendation
        self.answers = {"external_knowledge": "most", "style_adaptation": "light"}


def run_of(table: dict[str, list[float]], base: list[float], recommended: str = "rag") -> ValidationRun:
    """What `advisor validate` decides and says for these per-input scores (one metric, `contains`)."""
    n = len(base)
    task = choose_metric([QAPair(f"q{i}", f"Farlane {i}") for i in range(n)], True, "contains")
    assert task.metric == "contains"
    records = {
        arm: [AnswerRecord.model_validate({"line": i + 1, "question": f"q{i}", "gold": "g", "response": f"{arm} {i}",
                                           "contains": s, "baseline_response": "zero", "baseline": {"contains": b}})
              for i, (s, b) in enumerate(zip(scores, base))]
        for arm, scores in table.items()
    }
    results = {arm: ArmResult(status="ok", answers={"contains": round(sum(s) / n, 4)},
                              baseline=Baseline(answers={"contains": round(sum(base) / n, 4)}))
               for arm, s in table.items()}
    per_q = {arm: {i + 1: s for i, s in enumerate(scores)} for arm, scores in table.items()}
    base_q = {i + 1: b for i, b in enumerate(base)}
    return evidence.summarise(_Rec(recommended), task, results, {}, per_q, base_q, records, BuildSettings(),
                              {"questions": n})


def _column(rng: random.Random, n: int, level: float, binary: bool) -> list[float]:
    if binary:
        return [1.0 if rng.random() < level else 0.0 for _ in range(n)]
    return [round(min(1.0, max(0.0, rng.gauss(level, 0.2))), 2) for _ in range(n)]


@st.composite
def tables(draw, min_arms: int = 1) -> tuple[dict[str, list[float]], list[float]]:
    """Per-input scores of one to four arms and of the untouched model: 0/1 or graded, weak to strong."""
    n = draw(st.integers(8, 40))
    binary = draw(st.booleans())
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    drawn = draw(st.lists(st.sampled_from(arms.names()), min_size=min_arms, max_size=4, unique=True))
    levels = st.sampled_from([0.0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.9, 1.0])
    base = _column(rng, n, draw(levels), binary)
    return {arm: _column(rng, n, draw(levels), binary) for arm in sorted(drawn, key=arms.cost_rank)}, base


@PROPERTY
@given(tables(), st.sampled_from(RECOMMENDABLE))
def test_the_named_highest_is_always_the_highest(drawn, recommended):
    table, base = drawn
    run = run_of(table, base, recommended)
    best = run.best_measured
    assert best is not None
    assert run.score(best) == max(run.score(a) for a in table)
    assert (run.verdict or "").startswith(f"On {len(base)} held-out inputs, {evidence._name(best)} scored highest")


@PROPERTY
@given(tables(), st.sampled_from(RECOMMENDABLE))
def test_only_an_arm_that_beats_the_untouched_model_is_favoured_and_it_is_the_cheapest_tied_with_the_top(
        drawn, recommended):
    table, base = drawn
    run = run_of(table, base, recommended)
    assert run.candidates == [a for a in table if run.beats(a, "baseline")]
    if run.favoured is None:
        return
    assert run.favoured in run.candidates and run.beats(run.favoured, "baseline")
    top = max(run.candidates, key=lambda a: (run.score(a), -arms.cost_rank(a)))
    assert run.favoured == top or not run.beats(top, run.favoured)
    cheaper = [a for a in run.candidates if arms.cost_rank(a) < arms.cost_rank(run.favoured)]
    assert all(run.beats(top, a) for a in cheaper)  # a cheaper candidate tied with the top would have won
    assert run.prompt_enough == (run.favoured == "prompt")


@PROPERTY
@given(st.integers(8, 30), st.integers(0, 2**32 - 1), st.sampled_from(["prompt", "rag"]),
       st.sampled_from(["fine-tuning", "hybrid"]), st.sampled_from(RECOMMENDABLE))
def test_a_cheap_arm_tied_with_both_the_best_and_the_untouched_model_never_wins(n, seed, cheap, dear, recommended):
    rng = random.Random(seed)
    best = [1.0 if rng.random() < 0.6 else 0.0 for _ in range(n)]
    # The cheap arm gets a few of the best arm's right answers: between the two, close enough to each to tie.
    cheap_scores = [s if rng.random() < 0.3 else 0.0 for s in best]
    run = run_of({cheap: cheap_scores, dear: best}, [0.0] * n, recommended)
    if run.beats(cheap, "baseline") or run.beats(dear, cheap):
        return  # not the situation of this property
    assert run.favoured != cheap
    assert not run.prompt_enough and "enough" not in (run.verdict or "")


@PROPERTY
@given(tables(), st.sampled_from(RECOMMENDABLE))
def test_no_candidate_means_inconclusive_and_never_that_prompting_is_enough(drawn, recommended):
    table, base = drawn
    run = run_of(table, base, recommended)
    verdict = run.verdict or ""
    if run.candidates:
        assert not run.inconclusive and run.favoured in run.candidates
        assert f"so the evidence favours {evidence._name(run.favoured)}" in verdict
    else:
        assert run.inconclusive and run.favoured is None and not run.prompt_enough
        assert f"the run is inconclusive on {len(base)} inputs" in verdict and "enough" not in verdict
        assert run.agreement in ("cannot_tell", "disagrees")
    if run.inputs_needed is not None and run.inputs_needed.inputs is not None:
        assert run.inputs_needed.inputs > len(base)


def _swap(text: str, x: str, y: str) -> str:
    names = {evidence._name(x): evidence._name(y), evidence._name(y): evidence._name(x)}
    return re.sub("|".join(re.escape(k) for k in names), lambda m: names[m.group(0)], text)


@PROPERTY
@given(tables(min_arms=2), st.data())
def test_the_same_numbers_give_the_same_agreement_whichever_arm_was_recommended(drawn, data):
    table, base = drawn
    x, y = data.draw(st.lists(st.sampled_from(list(table)), min_size=2, max_size=2, unique=True))
    assume(len({round(sum(s), 6) for s in table.values()}) == len(table))  # distinct means: one order of names
    swapped = {**table, x: table[y], y: table[x]}
    one, other = run_of(table, base, x), run_of(swapped, base, y)  # the recommended arm keeps its numbers
    assert one.agreement == other.agreement and one.agrees == other.agrees
    said = evidence.agreement_sentence(one, decision.agreement(one))
    assert said and _swap(said, x, y) == evidence.agreement_sentence(other, decision.agreement(other))


def test_the_issues_small_run_never_says_prompting_is_enough():
    """The numbers of the issue: 8 inputs, rag 4 right, prompting 1, fine-tuning and the untouched model none."""
    run = run_of({"prompt": [1.0] + [0.0] * 7, "rag": [1.0] * 4 + [0.0] * 4, "fine-tuning": [0.0] * 8}, [0.0] * 8)
    verdict = run.verdict or ""
    assert run.best_measured == "rag" and run.favoured in ("rag", None)
    assert not run.prompt_enough and "enough" not in verdict
    assert run.decision is not None and run.decision.comparisons == 6 and run.decision.adjustment == "holm"
    if run.favoured is None:  # 8 inputs: rag against the untouched model is at the edge of Holm's 6 comparisons
        assert run.inputs_needed is not None and run.inputs_needed.a == "rag" and run.inputs_needed.b == "baseline"
        assert f"would take about {run.inputs_needed.inputs} inputs to measure" in verdict
    else:
        assert "The tie rule passes over few-shot prompting (0.12): it is within the noise of rag too" in verdict
    holm = {(c.a, c.b): c for c in run.comparisons}
    assert holm[("rag", "prompt")].tie and holm[("prompt", "baseline")].tie


def test_the_demo_numbers_name_the_hybrid_highest_and_favour_the_cheaper_tie_whatever_was_recommended():
    n = 22
    hybrid = [1.0] * 14 + [0.0] * 8
    rag = [1.0] * 8 + [0.0] * 4 + [1.0] * 2 + [0.0] * 8
    table = {"prompt": [0.0] * 21 + [1.0], "rag": rag, "fine-tuning": [1.0] + [0.0] * 21, "hybrid": hybrid}
    runs = {rec: run_of(table, [0.0] * n, rec) for rec in ("rag", "hybrid")}
    for run in runs.values():
        assert run.best_measured == "hybrid" and run.favoured == "rag" and run.decision.comparisons == 10
        assert "hybrid scored highest (contains 0.64 against 0.00 for the untouched model); rag (0.45) is within " \
            "the noise of it and cheaper, so the evidence favours rag." in (run.verdict or "")
    assert runs["rag"].agreement == runs["hybrid"].agreement == "cannot_tell"
    said = {rec: evidence.agreement_sentence(run, decision.agreement(run)) for rec, run in runs.items()}
    assert said["rag"].startswith("The evidence cannot tell whether the questionnaire's recommendation (rag, "
                                  "contains 0.45) is right: hybrid scored within the noise of it (hybrid minus rag")
    assert said["hybrid"].startswith("The evidence cannot tell whether the questionnaire's recommendation (hybrid, "
                                     "contains 0.64) is right: rag scored within the noise of it (rag minus hybrid")


def test_holm_adjusts_step_down_and_stays_monotone():
    assert decision.holm([0.01, 0.04, 0.03]) == [0.03, 0.06, 0.06]
    assert decision.holm([0.5, 0.001]) == [0.5, 0.002]
    assert decision.holm([]) == []


def test_the_inputs_needed_follow_the_observed_spread():
    a = {i: 1.0 if i < 4 else 0.0 for i in range(8)}
    zero = {i: 0.0 for i in range(8)}
    needed = decision.inputs_needed("rag", "baseline", a, zero, comparisons=6)
    assert needed.difference == 0.5 and needed.questions == 8 and needed.inputs == 14
    assert decision.inputs_needed("rag", "baseline", zero, zero, comparisons=6).inputs is None  # nothing to measure
    wider = decision.inputs_needed("rag", "baseline", a, zero, comparisons=1)
    assert wider.inputs is not None and wider.inputs < 14  # fewer comparisons, a less strict level


def test_memorisation_is_judged_on_training_pairs_and_rewording_on_the_same_held_out_questions():
    from advisor.runrecords import Memorisation, Reworded

    run = run_of({"rag": [1.0] * 6 + [0.0] * 6, "fine-tuning": [1.0] * 3 + [0.0] * 9}, [0.0] * 12)
    # Held-out rewordings that fine-tuning answers no worse than the same questions: not memorisation by itself.
    run.approaches["fine-tuning"].paraphrase = Reworded(questions=5, answers={"contains": 0.2},
                                                        original={"contains": 0.2})
    assert not any("memorised" in s for s in evidence.next_steps(run))
    run.approaches["fine-tuning"].memorisation = Memorisation(questions=8, original={"contains": 0.9},
                                                              reworded={"contains": 0.3})
    run.approaches["rag"].paraphrase = Reworded(questions=5, answers={"contains": 0.2}, original={"contains": 0.6})
    steps = evidence.next_steps(run)
    assert any(s.startswith("Asked its own training questions, fine-tuning scored contains 0.90 as written but 0.30 "
                            "reworded (8 pairs): it memorised") for s in steps)
    assert any(s.startswith("On reworded held-out questions, rag scored contains 0.20 against 0.60 on the same 5 "
                            "questions as written") for s in steps)
