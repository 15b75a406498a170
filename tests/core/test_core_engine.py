"""The engine: deterministic, unknown is neutral, confidence behaves, flips are exact, monotone, linear in weights."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.engine import (
    analyse, compile_rules, contributions, decode, encode, raw_scores, recommend, scores, term_weights,
    with_term_weights,
)
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, CONTRACT_QUESTIONS, UNKNOWN, RecommendationOut
from advisor.rulebase import dump_rules, parse_rules

QIDS = list(CONTRACT_QUESTIONS)


def answer_sets(with_unknown: bool = True):
    """Random answer sets over the contract questions (values, 'unknown', or left out)."""
    def value(qid):
        options = list(CONTRACT_QUESTIONS[qid]) + ([UNKNOWN] if with_unknown else [])
        return st.sampled_from(options)
    return st.fixed_dictionaries({}, optional={q: value(q) for q in QIDS}) if with_unknown else \
        st.fixed_dictionaries({q: value(q) for q in QIDS})


def test_recommend_is_deterministic(compiled, support_answers):
    first = recommend(compiled, support_answers).to_dict()
    for _ in range(3):
        assert recommend(compiled, dict(reversed(list(support_answers.items())))).to_dict() == first


def test_contract_json_shape(compiled, support_answers):
    data = recommend(compiled, support_answers).to_dict()
    assert data["version"] == 1
    assert data["recommendation"] == "rag"  # weekly changes, most answers outside the model, citations required
    assert set(data["scores"]) == set(RECOMMENDABLE)
    assert all(0.0 <= s <= 1.0 for s in data["scores"].values())
    assert 0.0 <= data["confidence"] <= 1.0
    for factor in data["factors"]:
        assert {"id", "rag", "fine-tuning", "hybrid", "because"} <= set(factor)
    for flip in data["flips"]:
        assert set(flip) >= {"question", "from", "to", "recommendation"}
    # the typed records dump to the same keys, in the same order, as the dicts the engine built before them
    factor_keys = ["id", "label", "rag", "fine-tuning", "hybrid", "because", "answers", "weight", "source"]
    assert [list(f) for f in data["factors"]] == [factor_keys] * len(data["factors"])
    assert [list(f) for f in data["flips"]] == [["question", "from", "to", "recommendation"]] * len(data["flips"])
    assert [list(r) for r in data["rules"]] == [
        ["id", "when", "rag", "fine-tuning", "hybrid", "because", "source", "note"]] * len(data["rules"])
    assert data["rules"], "the support assistant fires a combination rule"
    assert RecommendationOut.model_validate(data).factors[0].fine_tuning == data["factors"][0]["fine-tuning"]


def test_the_support_assistant_gets_rag(compiled, support_answers):
    rec = recommend(compiled, support_answers)
    assert rec.recommendation == "rag"
    assert rec.scores["rag"] > rec.scores["fine-tuning"]


def test_unknown_and_missing_are_the_same_and_neutral(compiled, support_answers):
    partial = dict(support_answers)
    del partial["cost_pressure"]
    explicit = dict(support_answers, cost_pressure=UNKNOWN)
    none_value = dict(support_answers, cost_pressure=None)
    assert raw_scores(compiled, partial) == raw_scores(compiled, explicit) == raw_scores(compiled, none_value)
    factor = next(f for f in recommend(compiled, explicit).factors if f.id == "cost")
    assert factor.rag == factor.fine_tuning == factor.hybrid == 0.0
    assert "unknown" in factor.because


def test_all_unknown_is_a_tie_broken_toward_the_simplest(compiled):
    rec = recommend(compiled, {})
    assert rec.raw_scores == {"rag": 0.0, "fine-tuning": 0.0, "hybrid": 0.0}
    assert rec.recommendation == "rag"
    assert rec.confidence == 0.0
    assert set(rec.unknown) == set(QIDS)


def test_tie_order_comes_from_the_rule_base(rulebase):
    changed = rulebase.model_copy(deep=True)
    changed.scoring.tie_order = ["hybrid", "fine-tuning", "rag"]
    assert recommend(compile_rules(changed), {}).recommendation == "hybrid"


def test_confidence_falls_as_answers_become_unknown(compiled, support_answers):
    answers = dict(support_answers)
    previous = recommend(compiled, answers).confidence
    for qid in QIDS:
        answers[qid] = UNKNOWN
        now = recommend(compiled, answers).confidence
        assert now <= previous + 1e-9, qid
        previous = now
    assert previous == 0.0


def test_confidence_falls_with_a_smaller_margin(compiled, support_answers):
    clear = recommend(compiled, support_answers)
    close = recommend(compiled, dict(support_answers, labeled_examples="thousands", ml_expertise="strong"))
    assert close.recommendation == clear.recommendation == "rag"
    assert close.margin < clear.margin
    assert close.confidence < clear.confidence


def test_ask_next_names_an_unknown_question(compiled, support_answers):
    answers = dict(support_answers, style_adaptation=UNKNOWN, latency_budget=UNKNOWN)
    rec = recommend(compiled, answers)
    assert rec.ask_next == "style_adaptation"  # strong style would flip it to hybrid; latency barely matters
    assert recommend(compiled, support_answers).ask_next is None


def test_flips_are_exact(compiled, support_answers):
    rec = recommend(compiled, support_answers)
    assert rec.flips, "the support assistant should have at least one flip"
    listed = {(f.question, f.to): f.recommendation for f in rec.flips}
    for qid in QIDS:
        for value in (*CONTRACT_QUESTIONS[qid], UNKNOWN):
            if value == support_answers[qid]:
                continue
            got = recommend(compiled, dict(support_answers, **{qid: value})).recommendation
            if got != rec.recommendation:
                assert listed.get((qid, value)) == got
            else:
                assert (qid, value) not in listed


@settings(max_examples=150, deadline=None)
@given(answers=answer_sets())
def test_flips_rescore_correctly_for_random_answers(compiled, answers):
    rec = recommend(compiled, answers)
    full = rec.answers
    for flip in rec.flips:
        assert flip.from_ == full[flip.question]
        changed = dict(full, **{flip.question: flip.to})
        assert recommend(compiled, changed).recommendation == flip.recommendation != rec.recommendation


@settings(max_examples=100, deadline=None)
@given(answers=answer_sets())
def test_contributions_sum_to_raw_scores(compiled, answers):
    terms = contributions(compiled, answers)
    raw = raw_scores(compiled, answers)
    for a in RECOMMENDABLE:
        assert math.isclose(sum(t[a] for t in terms.values()), raw[a], abs_tol=1e-9)
    weights = term_weights(compiled.rulebase)
    features = contributions(compiled, answers, weighted=False)
    for a in RECOMMENDABLE:
        linear = sum(weights[t] * features[t][a] for t in features)
        assert math.isclose(linear, raw[a], abs_tol=1e-9)


RAG_WARD = ("knowledge_change", "external_knowledge", "traceability", "hallucination_cost")
FT_WARD = ("style_adaptation", "labeled_examples", "cost_pressure")


@settings(max_examples=200, deadline=None)
@given(answers=answer_sets(with_unknown=False), question=st.sampled_from(RAG_WARD + FT_WARD), data=st.data())
def test_monotonicity(compiled, answers, question, data):
    values = CONTRACT_QUESTIONS[question]
    lo = data.draw(st.integers(0, len(values) - 2))
    hi = data.draw(st.integers(lo + 1, len(values) - 1))
    before = scores(compiled, dict(answers, **{question: values[lo]}))
    after = scores(compiled, dict(answers, **{question: values[hi]}))
    raw_before = raw_scores(compiled, dict(answers, **{question: values[lo]}))
    raw_after = raw_scores(compiled, dict(answers, **{question: values[hi]}))
    eps = 1e-12
    if question in RAG_WARD:
        assert after["rag"] >= before["rag"] - eps
        assert after["rag"] - after["fine-tuning"] >= before["rag"] - before["fine-tuning"] - eps
        assert raw_after["rag"] - raw_after["fine-tuning"] >= raw_before["rag"] - raw_before["fine-tuning"] - eps
    else:
        assert after["fine-tuning"] >= before["fine-tuning"] - eps
        assert after["fine-tuning"] - after["rag"] >= before["fine-tuning"] - before["rag"] - eps
        assert raw_after["fine-tuning"] - raw_after["rag"] >= raw_before["fine-tuning"] - raw_before["rag"] - eps


def test_realtime_knowledge_strongly_favours_rag(compiled, support_answers):
    rec = recommend(compiled, dict(support_answers, knowledge_change="realtime"))
    assert rec.recommendation == "rag"
    assert any(r.id == "realtime_needs_retrieval" for r in rec.rules)


def test_both_gaps_point_to_hybrid(compiled, support_answers):
    answers = dict(support_answers, style_adaptation="strong", labeled_examples="thousands", ml_expertise="strong")
    rec = recommend(compiled, answers)
    assert rec.recommendation == "hybrid"
    assert any(r.id == "both_gaps_hybrid" for r in rec.rules)


def test_neither_gap_notes_that_prompting_may_suffice(compiled):
    rec = recommend(compiled, {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "none"})
    assert any("prompting" in note for note in rec.notes) and rec.start_with == "prompt"
    assert not recommend(compiled, {"external_knowledge": "most"}).notes
    # knowledge that changes monthly is a knowledge gap even when none of it lives outside the model
    rec = recommend(compiled, {"knowledge_change": "monthly", "external_knowledge": "none", "style_adaptation": "none"})
    assert not rec.notes and rec.start_with == rec.recommendation


def test_explanation_is_data_with_sources(compiled, support_answers):
    rec = recommend(compiled, support_answers)
    dynamic = next(f for f in rec.factors if f.id == "dynamic_data")
    assert dynamic.answers == {"knowledge_change": "weekly"}
    assert dynamic.source and dynamic.because
    assert dynamic.rag > 0 > dynamic.fine_tuning
    assert dynamic.pull("fine-tuning") == dynamic.fine_tuning and list(dynamic.pulls()) == list(RECOMMENDABLE)
    assert rec.next_steps and "evaluation set" in rec.next_steps[0]


def test_with_term_weights_changes_scores_and_round_trips(rulebase, support_answers):
    weights = term_weights(rulebase)
    assert "factor:dynamic_data" in weights and "rule:both_gaps_hybrid" in weights
    zeroed = with_term_weights(rulebase, dict.fromkeys(weights, 0.0))
    assert raw_scores(compile_rules(zeroed), support_answers) == {"rag": 0.0, "fine-tuning": 0.0, "hybrid": 0.0}
    doubled = with_term_weights(rulebase, {t: 2 * w for t, w in weights.items()})
    base = raw_scores(compile_rules(rulebase), support_answers)
    twice = raw_scores(compile_rules(doubled), support_answers)
    for a in RECOMMENDABLE:
        assert math.isclose(twice[a], 2 * base[a])
    again = parse_rules(yaml.safe_load(dump_rules(doubled)))
    assert term_weights(again) == term_weights(doubled)
    assert term_weights(rulebase) == weights  # the original is untouched
    with pytest.raises(InputError, match="did you mean 'factor:latency'"):
        with_term_weights(rulebase, {"factor:latncy": 1.0})


def test_encode_rejects_unknown_ids_and_values(compiled):
    with pytest.raises(InputError, match=r"unknown question 'knowledge_chnage' \(did you mean 'knowledge_change'\?\)"):
        encode(compiled, {"knowledge_chnage": "weekly"})
    with pytest.raises(InputError, match=r"allowed values: static, yearly"):
        encode(compiled, {"knowledge_change": "hourly"})
    with pytest.raises(InputError):
        encode(compiled, {"knowledge_change": 3})


def test_encode_decode_round_trip(compiled, support_answers):
    # questions outside the contract come back at their default
    extras = {q.id: q.default for q in compiled.rulebase.questions if q.default is not None}
    assert decode(compiled, encode(compiled, support_answers)) == {**support_answers, **extras}


def test_analyse_core_matches_recommend(compiled, support_answers):
    state = encode(compiled, support_answers)
    raw, top, conf, flips, ask = analyse(compiled, state)
    rec = recommend(compiled, support_answers)
    assert RECOMMENDABLE[top] == rec.recommendation
    assert round(conf, 3) == rec.confidence
    assert len(flips) == len(rec.flips)


# ---------------------------------------------------------------- no examples: a forced verdict, with low confidence

NO_EXAMPLES = {"knowledge_change": "static", "external_knowledge": "none", "style_adaptation": "strong",
               "labeled_examples": "none", "ml_expertise": "none"}


def test_no_training_approach_wins_without_examples_and_the_confidence_says_so(compiled):
    """The issue's answers got 'Fine-tuning (LoRA)'; nothing can be trained, so the verdict is forced, and says so."""
    rec = recommend(compiled, NO_EXAMPLES)
    assert rec.recommendation == "rag"
    assert rec.confidence_capped_by == "nothing_to_train_on" and rec.confidence <= 0.3
    assert any("collect 50 or more good examples" in note for note in rec.notes)
    assert rec.to_dict()["confidence_capped_by"] == "nothing_to_train_on"
    # with examples the same answers want fine-tuning, confidently
    tuned = recommend(compiled, {**NO_EXAMPLES, "labeled_examples": "thousands", "ml_expertise": "strong"})
    assert tuned.recommendation == "fine-tuning" and tuned.confidence_capped_by is None and tuned.confidence > 0.5


def test_the_cap_applies_only_where_the_veto_decides(compiled):
    """A knowledge task with no examples is RAG anyway: the veto fires but decides nothing, so no cap."""
    helpdesk = {"knowledge_change": "weekly", "external_knowledge": "most", "style_adaptation": "none",
                "hallucination_cost": "high", "traceability": "preferred", "labeled_examples": "none"}
    rec = recommend(compiled, helpdesk)
    assert rec.recommendation == "rag" and rec.confidence_capped_by is None and rec.confidence > 0.3
    assert "nothing_to_train_on" in {r.id for r in rec.rules}


def test_text_report_says_the_confidence_is_capped(compiled, rulebase):
    from advisor.report import render_text

    text = render_text(recommend(compiled, NO_EXAMPLES), rulebase)
    assert "capped: rule nothing_to_train_on alone decides this verdict" in text.splitlines()[2]
