"""The bundled rule base: loads, lints clean, follows the contract, documents everything; the linter finds problems."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from advisor.engine import compile_rules, encode, _fires
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, CONTRACT_QUESTIONS
from advisor.rulebase import check_rules, default_rules_text, dump_rules, load_rules, parse_rules, rules_schema

HERE = Path(__file__).parent
FACTORS = {"dynamic_data", "external_knowledge", "model_customization", "hallucination", "transparency", "cost",
           "technical_expertise", "training_data", "privacy", "latency", "knowledge_location", "behaviour_kind"}
EXTRA_QUESTIONS = {"knowledge_location": ("not_sure", "in_prompt", "corpus"),
                   "style_kind": ("not_sure", "tone", "format")}
CASE_LIBRARIES = sorted(HERE.glob("cases*.yaml"))


def default_data() -> dict:
    return yaml.safe_load(default_rules_text())


def problems_of(data, write) -> list[str]:
    return [str(p) for p in check_rules(write("rules.yaml", data))]


def test_bundled_rule_base_lints_clean():
    assert check_rules() == []


def test_contract_questions_ids_values_and_order_match_exactly(rulebase):
    ids = [q.id for q in rulebase.questions]
    assert ids[: len(CONTRACT_QUESTIONS)] == list(CONTRACT_QUESTIONS)
    for q in rulebase.questions:
        assert tuple(v.value for v in q.values) == {**CONTRACT_QUESTIONS, **EXTRA_QUESTIONS}[q.id]
        assert (q.default is None) == (q.id in CONTRACT_QUESTIONS), q.id


def test_extra_questions_default_to_a_neutral_answer_no_rule_reads(rulebase, compiled):
    """Leaving the new questions out keeps an answers file's meaning: the default pulls nothing and fires nothing."""
    for q in rulebase.questions[len(CONTRACT_QUESTIONS):]:
        default = next(v for v in q.values if v.value == q.default)
        assert not any(default.pull.values()) and default.label, q.id
        assert not any(q.default in r.when.get(q.id, []) for r in rulebase.rules), q.id
    contract_only = {"knowledge_change": "weekly", "external_knowledge": "most", "style_adaptation": "strong"}
    explicit = {**contract_only, **{q: vs[0] for q, vs in EXTRA_QUESTIONS.items()}}
    from advisor.engine import recommend

    a, b = recommend(compiled, contract_only), recommend(compiled, explicit)
    assert (a.recommendation, a.raw_scores, a.confidence) == (b.recommendation, b.raw_scores, b.confidence)


def test_contract_table_in_models_matches_the_contract_text():
    # the answers contract, as published; a guard against editing CONTRACT_QUESTIONS by accident
    assert CONTRACT_QUESTIONS["knowledge_change"] == ("static", "yearly", "monthly", "weekly", "daily", "realtime")
    assert CONTRACT_QUESTIONS["labeled_examples"] == ("none", "tens", "hundreds", "thousands")
    assert CONTRACT_QUESTIONS["hallucination_cost"] == ("low", "medium", "high", "critical")
    assert len(CONTRACT_QUESTIONS) == 10


def test_factors_are_the_twelve_named_ones_and_each_is_fed(rulebase):
    assert {f.id for f in rulebase.factors} == FACTORS
    assert {q.factor for q in rulebase.questions} == FACTORS


def test_every_question_and_pull_is_documented(rulebase):
    for q in rulebase.questions:
        assert q.text.endswith("?") and len(q.help) > 40, q.id
        for v in q.values:
            if v.value == q.default:
                continue  # the neutral default: no pull, by design
            assert any(v.pull.get(a) for a in RECOMMENDABLE), f"{q.id}={v.value} has no pull"
            assert v.because and v.source, f"{q.id}={v.value} lacks because/source"


def test_a_confidence_cap_must_be_a_share(write):
    data = default_data()
    data["rules"][0]["confidence_when_decisive"] = 1.5
    assert any("rules[0].confidence_when_decisive" in p for p in problems_of(data, write))
    data["rules"][0]["confidence_when_decisive"] = 0.25
    assert problems_of(data, write) == []


def test_every_rule_is_documented(rulebase):
    for rule in rulebase.rules:
        assert rule.because and rule.source, rule.id
        assert any(rule.effect.get(a) for a in RECOMMENDABLE) or rule.note, rule.id


def test_every_approach_has_next_steps(rulebase):
    for a in RECOMMENDABLE:
        assert len(rulebase.approaches[a].next_steps) >= 3


def _case_states(compiled):
    cases = [c for path in CASE_LIBRARIES for c in yaml.safe_load(path.read_text())["cases"]]
    return [encode(compiled, c["answers"]) for c in cases]


def test_every_rule_fires_in_at_least_one_case(compiled):
    states = _case_states(compiled)
    for ri, rid in enumerate(compiled.rule_ids):
        assert any(_fires(compiled, ri, s) for s in states), f"rule {rid} applies to no case"


def test_every_value_of_every_question_appears_in_a_case(compiled):
    states = _case_states(compiled)
    for qi, qid in enumerate(compiled.question_ids):
        seen = {s[qi] for s in states}
        for vi, value in enumerate(compiled.values[qi]):
            assert vi in seen, f"{qid}={value} appears in no case"


def test_monotone_directions_hold_in_the_pulls(rulebase):
    pulls = {q.id: [(v.pull.get("rag", 0), v.pull.get("fine-tuning", 0)) for v in q.values] for q in rulebase.questions}
    for qid in ("knowledge_change", "external_knowledge", "traceability", "hallucination_cost"):
        for (r0, f0), (r1, f1) in zip(pulls[qid], pulls[qid][1:]):
            assert r1 >= r0 and f1 <= f0, qid
    for qid in ("style_adaptation", "labeled_examples", "cost_pressure"):
        for (r0, f0), (r1, f1) in zip(pulls[qid], pulls[qid][1:]):
            assert f1 >= f0 and r1 <= r0, qid


def test_dump_rules_round_trips(rulebase):
    text = dump_rules(rulebase)
    again = parse_rules(yaml.safe_load(text), "dumped")
    assert again == rulebase
    assert dump_rules(again) == text


def test_schema_describes_the_rule_base():
    schema = rules_schema()
    assert schema["type"] == "object"
    assert {"version", "questions", "factors", "rules"} <= set(schema["properties"])


def test_load_rules_from_file_equals_default(write, rulebase):
    assert load_rules(write("copy.yaml", default_rules_text())) == rulebase


def test_lint_reports_unknown_question_in_rule_with_place_and_suggestion(write):
    data = default_data()
    data["rules"][3]["when"] = {"latncy_budget": ["subsecond"]}
    problems = problems_of(data, write)
    assert any("rules[3].when: unknown question 'latncy_budget' (did you mean 'latency_budget'?)" in p
               for p in problems), problems


def test_lint_reports_unknown_value_and_unfed_factor_and_duplicates_together(write):
    data = default_data()
    data["rules"][0]["when"] = {"knowledge_change": ["realtme"]}
    data["factors"].append({"id": "orphan", "weight": 1.0})
    data["rules"].append(copy.deepcopy(data["rules"][1]))
    problems = problems_of(data, write)
    text = "\n".join(problems)
    assert "unknown value 'realtme' (did you mean 'realtime'?)" in text
    assert "factor 'orphan' is fed by no question" in text
    assert "duplicate rule id 'both_gaps_hybrid'" in text
    assert len(problems) >= 3


def test_lint_reports_missing_contract_question_and_value_without_pull(write):
    data = default_data()
    data["questions"] = [q for q in data["questions"] if q["id"] != "latency_budget"]
    data["factors"] = [f for f in data["factors"] if f["id"] != "latency"]
    data["rules"] = [r for r in data["rules"] if "latency_budget" not in r["when"]]
    data["questions"][3]["values"][0]["pull"] = {}
    text = "\n".join(problems_of(data, write))
    assert "contract question 'latency_budget' is missing" in text
    assert "value 'low' of 'hallucination_cost' has no pull and no rule reads it" in text


def test_lint_requires_neutral_default_for_extra_questions(write):
    data = default_data()
    extra = {"id": "budget", "factor": "cost", "text": "Budget?", "help": "How much money is there?",
             "values": [{"value": "small", "pull": {"rag": 0.2}, "because": "x"}, {"value": "big", "because": "y"}]}
    data["questions"].append(dict(extra))
    assert any("needs a neutral default" in p for p in problems_of(data, write))
    data["questions"][-1]["default"] = "small"
    assert any("must be neutral" in p for p in problems_of(data, write))
    data["questions"][-1]["default"] = "big"
    assert problems_of(data, write) == []


def test_lint_reports_schema_errors_with_place(write):
    data = default_data()
    data["factors"][0]["weight"] = -1
    data["questions"][2]["values"][0]["pul"] = {}
    text = "\n".join(problems_of(data, write))
    assert "factors[0].weight" in text
    assert "questions[2].values[0].pul: unknown field" in text


def test_load_rules_with_broken_reference_is_one_input_error(write):
    data = default_data()
    data["questions"][0]["factor"] = "dynamic_dat"
    data["rules"][0]["when"] = {"nope": ["x"]}
    with pytest.raises(InputError) as err:
        load_rules(write("broken.yaml", data))
    message = str(err.value)
    assert "broken.yaml: questions[0].factor: unknown factor 'dynamic_dat' (did you mean 'dynamic_data'?)" in message
    assert "and 1 more" in message


def test_load_rules_rejects_wrong_version_and_missing_file(write, tmp_path):
    data = default_data()
    data["version"] = 2
    with pytest.raises(InputError, match="unsupported version 2"):
        load_rules(write("v2.yaml", data))
    with pytest.raises(InputError, match="not found"):
        load_rules(tmp_path / "missing.yaml")


def test_compile_is_plain_data(compiled):
    assert isinstance(compiled.weighted_pulls, tuple) and isinstance(compiled.weighted_pulls[0][0][0], float)
    assert compiled.order == (0, 1, 2)
    assert compile_rules(load_rules()).importance == compiled.importance


def test_extra_question_with_neutral_default_leaves_contract_answers_alone(write, rulebase, compiled):
    from advisor.engine import raw_scores
    from tests.support.core import SUPPORT

    data = default_data()
    data["questions"].append({
        "id": "budget", "factor": "cost", "text": "Is there budget for GPUs?", "help": "Training needs GPU hours.",
        "default": "unsure",
        "values": [{"value": "unsure", "because": "neutral"},
                   {"value": "none", "pull": {"fine-tuning": -0.5, "hybrid": -0.5}, "because": "no GPUs to train on"}],
    })
    extended = load_rules(write("extended.yaml", data))
    assert check_rules(write("extended2.yaml", data)) == []
    ext = compile_rules(extended)
    assert raw_scores(ext, SUPPORT) == raw_scores(compiled, SUPPORT)
    from advisor.engine import recommend

    rec = recommend(ext, SUPPORT)
    assert rec.answers["budget"] == "unsure" and "budget" not in rec.unknown
    assert raw_scores(ext, dict(SUPPORT, budget="none"))["fine-tuning"] < raw_scores(ext, SUPPORT)["fine-tuning"]
