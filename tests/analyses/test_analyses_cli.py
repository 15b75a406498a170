"""The depth commands through click's CliRunner: exit status and messages."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from click.testing import CliRunner
from tests.support.analyses import MINI, SAMPLE_ANSWERS, synthetic_library
from tests.support.cli import assert_input_error

from advisor import cli
from advisor.analyses.calibrate import write_rule_base
from advisor.engine import term_weights, with_term_weights
from advisor.rulebase import load_rules

MAIN = cli.main


def invoke(*args, **kwargs):
    return CliRunner().invoke(MAIN, [str(a) for a in args], catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A synthetic case library labelled by the mini rule base, and a spoiled copy of that rule base."""
    tmp = tmp_path_factory.mktemp("cal")
    mini = load_rules(MINI)
    library = synthetic_library(mini, n=60, seed=9)
    cases = tmp / "cases.yaml"
    cases.write_text(yaml.safe_dump(library.model_dump(mode="json"), sort_keys=False))
    weights = term_weights(mini)
    spoiled = with_term_weights(mini, {t: w * (3.0 if i % 2 else 0.3) for i, (t, w) in enumerate(weights.items())})
    rules = write_rule_base(tmp / "spoiled.yaml", spoiled)
    return {"cases": cases, "rules": rules, "tmp": tmp, "library": library}


def test_calibrate_text_and_written_rules(files):
    out = files["tmp"] / "calibrated.yaml"
    result = invoke("calibrate", files["cases"], "--rules", files["rules"], "--output", out)
    assert result.exit_code == 0, result.output
    assert "agreement on held-out cases (CV)" in result.output and "Weights that moved" in result.output
    assert f"wrote {out}" in result.output
    assert load_rules(out).name.endswith("(calibrated)")


def test_calibrate_json(files):
    out = files["tmp"] / "c2.yaml"
    result = invoke("calibrate", files["cases"], "--rules", files["rules"], "--output", out, "--format", "json",
                    "--cv", "3", "--seed", "1")
    data = json.loads(result.stdout)
    assert data["folds"] == 3 and data["output"] == str(out)
    assert data["cv_agreement"]["calibrated"] > data["cv_agreement"]["hand"]
    assert {"term", "hand", "calibrated", "change", "relative"} <= set(data["weights"][0])


def test_calibrate_bad_input(files, tmp_path):
    few = tmp_path / "few.yaml"
    data = files["library"].model_dump(mode="json")
    few.write_text(yaml.safe_dump({"version": 1, "cases": data["cases"][:4]}))
    assert_input_error(invoke("calibrate", few, "--output", tmp_path / "o.yaml"), "too few", "few.yaml")
    dup = tmp_path / "dup.yaml"
    dup.write_text(yaml.safe_dump({"version": 1, "cases": data["cases"] + data["cases"][:1]}))
    assert_input_error(invoke("calibrate", dup, "--output", tmp_path / "o.yaml"), "duplicate case name")
    bad_label = tmp_path / "label.yaml"
    bad_label.write_text(yaml.safe_dump({"version": 1, "cases": [{**data["cases"][0], "expected": "rga"}]}))
    assert_input_error(invoke("calibrate", bad_label, "--output", tmp_path / "o.yaml"), "label.yaml", "expected")
    bad_answer = tmp_path / "answer.yaml"
    case = {**data["cases"][0], "answers": {**data["cases"][0]["answers"], "latency_budget": "fast"}}
    bad_answer.write_text(yaml.safe_dump({"version": 1, "cases": [case]}))
    assert_input_error(invoke("calibrate", bad_answer, "--output", tmp_path / "o.yaml"), "latency_budget", "fast")
    assert_input_error(invoke("calibrate", files["cases"], "--output", tmp_path / "o.txt"), ".yaml")
    assert not (tmp_path / "o.yaml").exists()


def test_add_validation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "validation.json").write_text(json.dumps(
        {"recommended": "rag", "best_measured": "hybrid", "agrees": False, "approaches": {}}))
    library = tmp_path / "cases.yaml"
    result = invoke("add-validation", run, "--answers", SAMPLE_ANSWERS, "--to", library)
    assert result.exit_code == 0, result.output
    assert "expected hybrid" in result.output
    cases = yaml.safe_load(library.read_text())["cases"]
    assert cases[0]["expected"] == "hybrid" and cases[0]["source"] == [str(run / "validation.json")]
    assert_input_error(invoke("add-validation", run, "--answers", SAMPLE_ANSWERS, "--to", library), "already there")
    assert_input_error(invoke("add-validation", run, "--to", library), "--answers")


def test_calibrated_rules_work_with_recommend(files):
    out = files["tmp"] / "for-recommend.yaml"
    assert invoke("calibrate", files["cases"], "--rules", files["rules"], "--output", out).exit_code == 0
    result = invoke("recommend", SAMPLE_ANSWERS, "--rules", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rule_base"].endswith("(calibrated)")


def test_rules_check_exhaustive_text_and_json():
    total = math.prod(len(q.values) + 1 for q in load_rules(None).questions)  # each value, or unknown
    text = invoke("rules", "check", "--exhaustive")
    assert text.exit_code == 0, text.output
    assert f"{total:,} answer combinations" in text.output and "Ties (top two equal" in text.output
    assert "a training approach wins in: fine-tuning 0, hybrid 0 (none: as it must be)" in text.output
    data = json.loads(invoke("rules", "check", "--exhaustive", "--format", "json", "--near", "0.2").stdout)
    assert data["near_ties"]["margin"] == 0.2
    assert sum(data["wins"].values()) == data["combinations"] == total


def test_rules_check_exhaustive_on_a_custom_rule_base():
    result = invoke("rules", "check", MINI, "--exhaustive")
    assert "rule 'note_only'" not in result.output.split("finding(s)")[-1]  # a note is no finding
    assert "note_only" in result.output and "(a note, no effect)" in result.output


def test_what_if_text_shows_old_and_new():
    result = invoke("recommend", SAMPLE_ANSWERS, "--set", "knowledge_change=static", "--set", "external_knowledge=none",
                    "--set", "style_adaptation=strong", "--set", "labeled_examples=thousands")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "What if knowledge_change=static (was monthly)" in out
    assert "before" in out and "after" in out and "<- changed" in out
    assert "Factors whose pull changed" in out


@pytest.mark.parametrize("item, fragment", [
    ("knowledge_change", "expected QUESTION=VALUE"),
    ("knowlege_change=static", "did you mean 'knowledge_change'"),
    ("knowledge_change=statc", "did you mean 'static'"),
])
def test_what_if_bad_set(item, fragment):
    assert_input_error(invoke("recommend", SAMPLE_ANSWERS, "--set", item), fragment)


def _answers_with_costs(tmp_path, costs):
    data = yaml.safe_load(SAMPLE_ANSWERS.read_text())
    data["costs"] = costs
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


COSTS = {"queries_per_day": 2000, "tokens_per_query": 800, "price_per_1k_tokens": 0.002, "fine_tuning_cost": 400,
         "vector_store_per_month": 50}


def test_costs_in_json_text_and_reports(tmp_path):
    path = _answers_with_costs(tmp_path, COSTS)
    data = json.loads(invoke("recommend", path, "--format", "json").stdout)
    rows = {r["approach"]: r for r in data["costs"]["rows"]}
    # RAG: 2000 * 30 * (800 + 1500) * 0.000002 + 50 = 326
    assert rows["rag"]["total_per_month"] == 326.0
    assert data["costs"]["break_even"]["fine_tuning_cheaper"] in ("above", "always", "below", "never")
    assert "Estimated cost a month" in invoke("recommend", path).output
    html = tmp_path / "r.html"
    md = tmp_path / "r.md"
    assert invoke("report", path, "-o", html).exit_code == 0 and invoke("report", path, "-o", md).exit_code == 0
    page = html.read_text()
    assert "<svg" in page and "queries a day" in page and "Assumptions" in page or "assumption" in page.lower()
    assert "| rag |" in md.read_text()


@pytest.mark.parametrize("costs, fragment", [
    ({**COSTS, "queries_per_day": -3}, "costs.queries_per_day: must not be negative"),
    ({**COSTS, "tokens_per_query": "many"}, "costs.tokens_per_query: must be a number"),
    ({**COSTS, "querys_per_day": 5}, "did you mean 'queries_per_day'"),
])
def test_costs_bad_input_exit_2(tmp_path, costs, fragment):
    assert_input_error(invoke("recommend", _answers_with_costs(tmp_path, costs)), fragment, "answers.yaml")


def test_robustness_in_text_and_json():
    out = invoke("recommend", SAMPLE_ANSWERS).output
    assert "Robustness: Stable in" in out
    data = json.loads(invoke("recommend", SAMPLE_ANSWERS, "--format", "json").stdout)
    assert 0.0 <= data["sensitivity"]["stability"] <= 1.0 and data["sensitivity"]["perturbations"] == 500
    assert data["prompt_first"]["applies"] is False


DECISIVE = {
    "knowledge_change": "daily", "external_knowledge": "most", "traceability": "required",
    "hallucination_cost": "critical", "labeled_examples": "none", "ml_expertise": "none",
    "style_adaptation": "none", "data_sensitivity": "regulated", "cost_pressure": "low", "latency_budget": "relaxed",
}


def _adaptive_order(answers):
    """The questions `ask --adaptive` asks for these answers, in order, until it is decided."""
    from advisor.analyses.adaptive import AdaptiveSession
    from advisor.engine import compile_rules

    session = AdaptiveSession(compile_rules(load_rules(None)))
    order = []
    while not (session.asked and session.decided()):
        q = session.next_question()
        if q is None:
            break
        order.append(q)
        session.answer(q, answers[q])
    return order


def test_ask_adaptive_stops_early_and_saves(tmp_path):
    order = _adaptive_order(DECISIVE)
    assert len(order) < 10
    saved = tmp_path / "answers.yaml"
    replies = "\n".join([DECISIVE[q] for q in order] + ["n"]) + "\n"
    result = invoke("ask", "--adaptive", "--save-answers", saved, input=replies)
    assert result.exit_code == 0, result.output
    assert f"Decided after {len(order)} of {len(load_rules(None).questions)} questions: rag" in result.output
    assert "Recommendation: RAG" in result.output
    data = yaml.safe_load(saved.read_text())["answers"]
    assert {q: data[q] for q in order} == {q: DECISIVE[q] for q in order}
    assert sum(v == "unknown" for v in data.values()) == 10 - len(order)
    again = invoke("recommend", saved, "--format", "json")
    assert json.loads(again.stdout)["recommendation"] == "rag"


def test_ask_adaptive_can_go_on(tmp_path):
    order = _adaptive_order(DECISIVE)
    everything = {**DECISIVE, "knowledge_location": "not_sure", "style_kind": "not_sure"}
    rest = [q for q in everything if q not in order]
    from advisor.analyses.adaptive import AdaptiveSession
    from advisor.engine import compile_rules

    session = AdaptiveSession(compile_rules(load_rules(None)))
    for q in order:
        session.answer(q, DECISIVE[q])
    more = []
    while (q := session.next_question()) is not None:
        more.append(q)
        session.answer(q, everything[q])
    assert sorted(more) == sorted(rest)
    saved = tmp_path / "all.yaml"
    replies = "\n".join([DECISIVE[q] for q in order] + ["y"] + [everything[q] for q in more]) + "\n"
    result = invoke("ask", "--adaptive", "--save-answers", saved, input=replies)
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(saved.read_text())["answers"] == everything


def test_recommend_perturbation_options():
    args = ("recommend", SAMPLE_ANSWERS, "--format", "json", "--perturbations", "50", "--seed", "3")
    a = json.loads(invoke(*args).stdout)
    b = json.loads(
        invoke("recommend", SAMPLE_ANSWERS, "--format", "json", "--perturbations", "50", "--seed", "3").stdout
    )
    assert a["sensitivity"] == b["sensitivity"] and a["sensitivity"]["perturbations"] == 50
    assert a["sensitivity"]["seed"] == 3


def test_what_if_in_reports(tmp_path):
    md = invoke("recommend", SAMPLE_ANSWERS, "--set", "style_adaptation=strong", "--format", "markdown").output
    assert "## What if: style_adaptation = strong (was light)" in md
    assert "| recommendation | rag | hybrid |" in md
    page = tmp_path / "w.html"
    invoke("recommend", SAMPLE_ANSWERS, "--set", "style_adaptation=strong", "--format", "html", "-o", page)
    assert 'id="what-if"' in page.read_text()
    plain = invoke("recommend", SAMPLE_ANSWERS, "--format", "markdown").output
    assert "What if" not in plain


def test_cases_with_duplicate_names_exit_2(tmp_path):
    path = tmp_path / "cases.yaml"
    case = {"name": "Helpdesk", "expected": "rag", "why": "x", "answers": {"knowledge_change": "daily"}}
    path.write_text(yaml.safe_dump({"version": 1, "cases": [case, {**case, "name": "helpdesk "}]}))
    assert_input_error(invoke("cases", path), "cases[1].name: duplicate case name", "cases.yaml")


def test_recommend_with_depth_stays_light():
    """Robustness, prompt first and costs run inside `recommend`: no numpy, scipy, scikit-learn or jinja2."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom advisor.cli import main\n"
        f"try:\n    main(['recommend', {str(SAMPLE_ANSWERS)!r}, '--format', 'json'])\n"
        "except SystemExit:\n    pass\n"
        "print('MODULES', ' '.join(sorted(m for m in sys.modules if '.' not in m)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    modules = set(out.split("MODULES", 1)[1].split())
    assert '"sensitivity"' in out
    for heavy in ("numpy", "scipy", "sklearn", "jinja2"):
        assert heavy not in modules, heavy
