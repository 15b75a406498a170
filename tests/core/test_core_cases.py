"""The case library: honest labelled scenarios; the rule base must agree with at least 90% of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.cases import case_warnings, check_cases, load_cases
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE

CASES = Path(__file__).parent / "cases.yaml"

CONTRACT_EXAMPLES = [
    "IT helpdesk over runbooks and ticket history",
    "documentation assistant for a product that ships weekly",
    "email replies drafted in the company's tone",
    "SQL generation for one fixed warehouse schema at high volume",
    "insurance claims assistant in a regulated tone over current policy documents",
    "medical-information answers in a strict format over the latest product labels",
]


@pytest.fixture(scope="module")
def library(rulebase):
    return load_cases(CASES, rulebase)


def test_library_is_large_varied_and_explained(library):
    assert len(library.cases) >= 40
    names = [c.name for c in library.cases]
    assert len(set(names)) == len(names)
    for approach in RECOMMENDABLE:
        assert sum(c.expected == approach for c in library.cases) >= 8, approach
    assert all(len(c.why) > 20 for c in library.cases)


def test_library_holds_the_contract_examples(library):
    names = {c.name for c in library.cases}
    assert set(CONTRACT_EXAMPLES) <= names


def test_library_covers_the_situations_the_issue_names(library):
    def any_case(**wanted):
        return any(all(c.answers.get(k) == v for k, v in wanted.items()) for c in library.cases)

    assert any_case(ml_expertise="none")
    assert any_case(data_sensitivity="regulated")
    assert any_case(cost_pressure="high", latency_budget="subsecond")
    assert any_case(style_adaptation="strong", external_knowledge="most")
    assert any_case(external_knowledge="none", style_adaptation="light")  # prompting-first


def test_rule_base_agrees_with_at_least_90_percent(compiled, library):
    report = check_cases(compiled, library)
    assert report.total == len(library.cases)
    assert report.accuracy >= 0.9, report.disagreements
    assert sum(sum(row.values()) for row in report.confusion.values()) == report.total
    assert sum(report.confusion[a][a] for a in RECOMMENDABLE) == report.agree


def test_a_mislabelled_case_shows_up_as_a_disagreement(compiled, rulebase, write):
    path = write("cases.yaml", {"version": 1, "cases": [
        {"name": "wrong on purpose", "expected": "hybrid", "why": "a test",
         "answers": {"knowledge_change": "realtime", "external_knowledge": "most"}}]})
    report = check_cases(compiled, load_cases(path, rulebase))
    assert report.agree == 0
    assert report.disagreements[0]["expected"] == "hybrid" and report.disagreements[0]["got"] == "rag"


def test_bad_case_libraries(rulebase, write):
    with pytest.raises(InputError, match=r"cases\[0\].expected"):
        load_cases(write("a.yaml", {"version": 1, "cases": [{"name": "x", "expected": "prompting", "why": "y",
                                                             "answers": {}}]}), rulebase)
    with pytest.raises(InputError, match="unknown question 'knowledge'"):
        load_cases(write("b.yaml", {"version": 1, "cases": [{"name": "x", "expected": "rag", "why": "y",
                                                             "answers": {"knowledge": "weekly"}}]}), rulebase)


def test_a_case_without_why_is_checked_with_a_warning(compiled, rulebase, write):
    path = write("hand.yaml", {"version": 1, "cases": [
        {"name": "explained", "expected": "rag", "why": "docs change weekly",
         "answers": {"knowledge_change": "weekly", "external_knowledge": "most"}},
        {"name": "written by hand", "expected": "rag",
         "answers": {"knowledge_change": "realtime", "external_knowledge": "most"}},
        {"name": "blank why", "expected": "rag", "why": "  ", "answers": {"knowledge_change": "daily"}}]})
    library = load_cases(path, rulebase)
    assert case_warnings(library, str(path)) == [
        f"{path}: cases[1].why: case 'written by hand' says not why it expects rag "
        "(warning: the case is still checked)",
        f"{path}: cases[2].why: case 'blank why' says not why it expects rag (warning: the case is still checked)",
    ]
    report = check_cases(compiled, library)
    assert (report.total, report.agree) == (3, 3)


def test_cases_command_warns_about_a_missing_why_and_still_checks(write):
    from click.testing import CliRunner

    from advisor import cli

    path = write("hand.yaml", {"version": 1, "cases": [
        {"name": "no comment", "expected": "fine-tuning", "answers": {"knowledge_change": "realtime"}}]})
    result = CliRunner().invoke(cli.main, ["cases", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"{path}: cases[0].why: case 'no comment' says not why it expects "
                                     "fine-tuning (warning: the case is still checked)")
    assert "0 of 1 cases agree" in result.stdout and "disagree: no comment" in result.stdout
