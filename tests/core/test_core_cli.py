"""The command line via click's CliRunner: exit status and messages for good input and every class of bad input."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from tests.support.cli import assert_input_error

from advisor import cli
from advisor.models import CaseReportOut, RecommendationOut

from tests.support.core import SUPPORT


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args, **kwargs):
    return runner.invoke(cli.main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def test_version_and_registered_commands(runner):
    result = invoke(runner, "--version")
    assert result.exit_code == 0 and result.output.startswith("advisor ")
    assert {"ask", "recommend", "report", "cases", "rules", "build", "query", "validate"} <= set(cli.main.commands)


def test_recommend_text(runner, answers_file):
    result = invoke(runner, "recommend", answers_file)
    assert result.exit_code == 0
    assert "Recommendation: RAG" in result.output
    assert "What would change this recommendation" in result.output
    assert "Next steps" in result.output


def test_recommend_json_is_the_contract(runner, answers_file):
    result = invoke(runner, "recommend", answers_file, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    RecommendationOut.model_validate(data)
    assert data["recommendation"] == "rag"
    assert [f["id"] for f in data["factors"]][:2] == ["dynamic_data", "external_knowledge"]
    assert all({"question", "from", "to", "recommendation"} <= set(f) for f in data["flips"])


def test_recommend_json_from_a_json_answers_file(runner, write):
    path = write("a.json", {"version": 1, "answers": SUPPORT})
    result = invoke(runner, "recommend", path, "--format", "json")
    assert json.loads(result.stdout)["recommendation"] == "rag"


@pytest.mark.parametrize("fmt,marker", [("markdown", "## Why"), ("html", "<!DOCTYPE html>")])
def test_recommend_markdown_and_html_to_a_file(runner, answers_file, tmp_path, fmt, marker):
    out = tmp_path / f"out.{fmt}"
    result = invoke(runner, "recommend", answers_file, "--format", fmt, "--output", out)
    assert result.exit_code == 0
    assert marker in out.read_text()


def test_report_html_and_markdown(runner, answers_file, tmp_path, validation_dir):
    html = tmp_path / "r.html"
    result = invoke(runner, "report", answers_file, "--output", html, "--validation", validation_dir)
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert "Evidence" in text and "out of memory" in text
    md = tmp_path / "r.md"
    assert invoke(runner, "report", answers_file, "-o", md).exit_code == 0
    assert "## What would change this recommendation" in md.read_text()


def test_report_needs_a_known_ending(runner, answers_file, tmp_path):
    assert_input_error(invoke(runner, "report", answers_file, "-o", tmp_path / "r.pdf"), "'.pdf'", ".md", ".html")


def test_report_with_missing_or_malformed_validation(runner, answers_file, tmp_path, write):
    assert_input_error(invoke(runner, "report", answers_file, "-o", tmp_path / "r.html", "--validation",
                              tmp_path / "nowhere"), "validation.json", "not found")
    bad = write("bad/validation.json", '{"approaches": {\n  "rag": oops}\n}')
    assert_input_error(invoke(runner, "report", answers_file, "-o", tmp_path / "r.html", "--validation",
                              bad.parent), "validation.json: line 2: malformed JSON")


# ---------------------------------------------------------------- bad answers files


def test_missing_answers_file(runner, tmp_path):
    assert_input_error(invoke(runner, "recommend", tmp_path / "nope.yaml"), "nope.yaml", "not found")


def test_empty_answers_file(runner, write):
    assert_input_error(invoke(runner, "recommend", write("empty.yaml", "  \n")), "empty.yaml", "empty")


def test_malformed_yaml_names_file_and_line(runner, write):
    path = write("bad.yaml", "version: 1\nanswers:\n  knowledge_change: [weekly\n  x: y\n")
    assert_input_error(invoke(runner, "recommend", path), "bad.yaml: line", "malformed YAML")


def test_malformed_json_names_file_and_line(runner, write):
    path = write("bad.json", '{"version": 1,\n "answers": {,}}')
    assert_input_error(invoke(runner, "recommend", path), "bad.json: line 2: malformed JSON")


def test_wrong_version(runner, write):
    path = write("v2.yaml", {"version": 2, "answers": {}})
    assert_input_error(invoke(runner, "recommend", path), "v2.yaml: version: unsupported version 2")


def test_not_a_mapping(runner, write):
    assert_input_error(invoke(runner, "recommend", write("list.yaml", "- a\n- b\n")), "list.yaml", "mapping")


def test_unknown_question_id(runner, write):
    path = write("a.yaml", {"version": 1, "answers": {"knowldge_change": "weekly"}})
    assert_input_error(invoke(runner, "recommend", path), "unknown question 'knowldge_change'",
                       "(did you mean 'knowledge_change'?)", "latency_budget")


def test_unknown_value(runner, write):
    path = write("a.yaml", {"version": 1, "answers": {"external_knowledge": "mots"}})
    assert_input_error(invoke(runner, "recommend", path), "external_knowledge: unknown value 'mots'",
                       "(did you mean 'most'?)", "allowed values: none, some, most, unknown")


def test_yaml_boolean_value(runner, write):
    path = write("a.yaml", "version: 1\nanswers:\n  traceability: no\n")
    assert_input_error(invoke(runner, "recommend", path), "traceability: False is not text")


def test_unknown_top_level_field(runner, write):
    path = write("a.yaml", {"version": 1, "answer": {}})
    assert_input_error(invoke(runner, "recommend", path), "answer: unknown field")


def test_rule_base_with_broken_reference(runner, answers_file, write):
    from advisor.rulebase import default_rules_text

    data = yaml.safe_load(default_rules_text())
    data["rules"][3]["when"] = {"latncy": ["subsecond"]}
    rules = write("rules.yaml", data)
    assert_input_error(invoke(runner, "recommend", answers_file, "--rules", rules),
                       "rules.yaml: rules[3].when: unknown question 'latncy'")


def test_usage_errors_exit_2(runner):
    result = invoke(runner, "recommend")
    assert result.exit_code == 2 and "Missing argument" in result.output


# ---------------------------------------------------------------- internal faults


def test_internal_fault_is_exit_1_with_one_line(runner, answers_file, monkeypatch):
    import advisor.engine

    def boom(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(advisor.engine, "recommend", boom)
    monkeypatch.delenv("ADVISOR_DEBUG", raising=False)
    result = invoke(runner, "recommend", answers_file)
    assert result.exit_code == 1
    assert "error: internal fault: RuntimeError: kaboom" in result.stderr
    assert "Traceback" not in result.output
    debug = invoke(runner, "--debug", "recommend", answers_file)
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


# ---------------------------------------------------------------- cases and rules


def test_cases_json_and_text(runner, write):
    library = {"version": 1, "cases": [
        {"name": "support", "expected": "rag", "why": "docs", "answers": SUPPORT},
        {"name": "mislabelled", "expected": "fine-tuning", "why": "on purpose", "answers": SUPPORT},
    ]}
    path = write("cases.yaml", library)
    result = invoke(runner, "cases", path, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    CaseReportOut.model_validate(data)
    assert (data["total"], data["agree"], data["accuracy"]) == (2, 1, 0.5)
    assert data["disagreements"][0]["name"] == "mislabelled"
    assert data["confusion"]["fine-tuning"]["rag"] == 1
    text = invoke(runner, "cases", path)
    assert text.exit_code == 0 and "1 of 2 cases agree" in text.output and "mislabelled" in text.output


def test_cases_with_a_bad_answer_name_the_case(runner, write):
    path = write("cases.yaml", {"version": 1, "cases": [
        {"name": "typo", "expected": "rag", "why": "x", "answers": {"latency_budget": "fast"}}]})
    assert_input_error(invoke(runner, "cases", path), "cases[0] (typo)", "unknown value 'fast'")


def test_rules_check_default_is_ok(runner):
    result = invoke(runner, "rules", "check")
    assert result.exit_code == 0 and "ok" in result.output


def test_rules_check_reports_every_problem(runner, write):
    from advisor.rulebase import default_rules_text

    data = yaml.safe_load(default_rules_text())
    data["rules"][3]["when"] = {"latncy": ["subsecond"]}
    data["factors"].append({"id": "orphan"})
    path = write("rules.yaml", data)
    result = invoke(runner, "rules", "check", path)
    assert result.exit_code == 2
    assert "rules.yaml: rules[3].when: unknown question 'latncy'" in result.stderr
    assert "factor 'orphan' is fed by no question" in result.stderr
    assert "Traceback" not in result.output


def test_rules_schema_is_json_schema(runner):
    result = invoke(runner, "rules", "schema")
    schema = json.loads(result.stdout)
    assert result.exit_code == 0 and "questions" in schema["properties"]


# ---------------------------------------------------------------- ask


def test_ask_saves_answers_writes_report_and_prints(runner, tmp_path):
    saved, report = tmp_path / "answers.yaml", tmp_path / "report.html"
    replies = "\n".join(["weekly", "most", "?", "light", "high", "required", "2", "some", "hundreds", "internal",
                         "seconds", "", ""]) + "\n"
    result = invoke(runner, "ask", "--save-answers", saved, "--report", report, "--project", "Demo", input=replies)
    assert result.exit_code == 0, result.output
    assert "Question 12 of 12" in result.output
    assert "Recommendation: RAG" in result.output
    data = yaml.safe_load(saved.read_text())
    assert data["version"] == 1 and data["project"] == "Demo"
    assert data["answers"] == {**SUPPORT, "knowledge_location": "not_sure", "style_kind": "not_sure"}
    assert "Demo" in report.read_text()
    again = invoke(runner, "recommend", saved, "--format", "json")
    assert json.loads(again.stdout)["recommendation"] == "rag"


def test_ask_interrupted_saves_what_was_answered(runner, tmp_path, monkeypatch):
    lines = iter(["weekly\n", "most\n"])

    def read_line():
        try:
            return next(lines)
        except StopIteration:
            raise KeyboardInterrupt from None

    monkeypatch.setattr(cli, "_read_line", read_line)
    saved = tmp_path / "partial.yaml"
    result = invoke(runner, "ask", "--save-answers", saved)
    assert result.exit_code == 130
    assert str(saved) in result.stderr and "saved 2 answer(s)" in result.stderr
    assert yaml.safe_load(saved.read_text())["answers"] == {"knowledge_change": "weekly", "external_knowledge": "most"}


def test_ask_end_of_input_without_save_option_uses_the_default_file(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(runner, "ask", input="static\n")
    assert result.exit_code == 130
    assert cli.PARTIAL_ANSWERS in result.stderr
    saved = yaml.safe_load((tmp_path / cli.PARTIAL_ANSWERS).read_text())
    assert saved["answers"] == {"knowledge_change": "static"}


# ---------------------------------------------------------------- depth analyses wired into the core commands


def test_recommend_adds_depth_fields_unless_disabled(runner, answers_file):
    data = json.loads(invoke(runner, "recommend", answers_file, "--format", "json").stdout)
    assert "sensitivity" in data and "prompt_first" in data
    RecommendationOut.model_validate(data)
    plain = json.loads(invoke(runner, "recommend", answers_file, "--format", "json", "--no-depth").stdout)
    assert "sensitivity" not in plain
    assert "Robustness" in invoke(runner, "recommend", answers_file).output


def test_recommend_what_if(runner, answers_file):
    result = invoke(runner, "recommend", answers_file, "--set", "style_adaptation=strong", "--format", "json")
    data = json.loads(result.stdout)
    assert data["recommendation"] == "hybrid"
    assert data["what_if"]["before"]["recommendation"] == "rag" and data["what_if"]["verdict_changed"]
    text = invoke(runner, "recommend", answers_file, "--set", "style_adaptation=strong").output
    assert "What if style_adaptation=strong" in text
    assert_input_error(invoke(runner, "recommend", answers_file, "--set", "style_adaptation=stronk"), "stronk")


def test_answers_file_may_carry_costs(runner, write, tmp_path):
    costs = {"queries_per_day": 2000, "tokens_per_query": 800, "price_per_1k_tokens": 0.002,
             "retrieved_tokens_per_query": 1500, "vector_store_per_month": 50, "fine_tuning_cost": 400}
    path = write("a.yaml", {"version": 1, "answers": SUPPORT, "costs": costs})
    assert "Estimated cost a month" in invoke(runner, "recommend", path).output
    html = tmp_path / "r.html"
    assert invoke(runner, "report", path, "-o", html).exit_code == 0
    assert 'id="costs"' in html.read_text()
    bad = write("b.yaml", {"version": 1, "answers": SUPPORT, "costs": {"tokens_per_query": 10}})
    assert_input_error(invoke(runner, "recommend", bad), "costs.queries_per_day: missing")


def test_rules_check_exhaustive(runner):
    result = invoke(runner, "rules", "check", "--exhaustive", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)


def test_ask_adaptive_stops_once_decided(runner, tmp_path):
    saved = tmp_path / "a.yaml"
    # asked most informative first: labeled_examples, knowledge_change, external_knowledge, knowledge_location,
    # traceability, style_adaptation; then the rest cannot change the verdict
    replies = "thousands\nstatic\nnone\n\n\nstrong\n" + "\n" * 6 + "n\n"
    result = invoke(runner, "ask", "--adaptive", "--save-answers", saved, input=replies)
    assert result.exit_code == 0, result.output
    assert "Adaptive questionnaire" in result.output
    assert "Recommendation: Fine-tuning" in result.output
    assert yaml.safe_load(saved.read_text())["answers"]["style_adaptation"] == "strong"
