"""The case libraries: honest labelled scenarios; the default rule base agrees with every one of them.

cases.yaml is the project's own library; cases-published.yaml and cases-heldout.yaml hold cases from published
sources, the held-out third never used to write rules or set weights (its agreement is reported on its own).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.cases import case_warnings, check_cases, load_cases
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE

CASES = Path(__file__).parent / "cases.yaml"
PUBLISHED = Path(__file__).parent / "cases-published.yaml"
HELDOUT = Path(__file__).parent / "cases-heldout.yaml"
LIBRARIES = sorted(Path(__file__).parent.glob("cases*.yaml"))
# the contract's example library lives in the shared folder beside the checkout (not part of this repository)
CONTRACT_LIBRARY = next((p / "shared/contract/example-cases.yaml" for p in Path(__file__).resolve().parents
                         if (p / "shared/contract/example-cases.yaml").exists()), None)

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
    assert len(library.cases) >= 40  # the project's own library; the published ones are checked below
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


@pytest.mark.parametrize("path", LIBRARIES, ids=lambda p: p.name)
def test_rule_base_agrees_with_every_case_library(compiled, rulebase, path):
    report = check_cases(compiled, load_cases(path, rulebase))
    assert report.accuracy == 1.0, report.disagreements
    assert sum(sum(row.values()) for row in report.confusion.values()) == report.total
    assert sum(report.confusion[a][a] for a in RECOMMENDABLE) == report.agree


def test_rule_base_agrees_with_the_contract_examples(compiled, rulebase):
    if CONTRACT_LIBRARY is None:
        pytest.skip("the shared contract folder is not beside this checkout")
    report = check_cases(compiled, load_cases(CONTRACT_LIBRARY, rulebase))
    assert report.total >= 6 and report.accuracy == 1.0, report.disagreements


def test_published_cases_are_sourced_explained_and_a_third_held_out(rulebase):
    published, heldout = load_cases(PUBLISHED, rulebase), load_cases(HELDOUT, rulebase)
    cases = published.cases + heldout.cases
    assert len(cases) >= 40
    assert len({c.name for c in cases}) == len(cases)
    assert all(c.source and len(c.why) > 40 for c in cases)
    assert 0.3 <= len(heldout.cases) / len(cases) <= 0.36
    for approach in RECOMMENDABLE:  # the held-out part has every label, split within each label
        assert any(c.expected == approach for c in heldout.cases), approach


def test_published_cases_cover_the_hybrid_error_in_both_directions(rulebase):
    """Strong style and outside knowledge that should not be hybrid, cases that should, facts with many examples."""
    cases = load_cases(PUBLISHED, rulebase).cases + load_cases(HELDOUT, rulebase).cases

    def count(expected, **wanted):
        return sum(c.expected == expected and all(c.answers.get(k) in (v if isinstance(v, tuple) else (v,))
                                                  for k, v in wanted.items()) for c in cases)

    both = {"style_adaptation": "strong", "external_knowledge": ("some", "most")}
    assert count("fine-tuning", **both) >= 4  # the knowledge travels with the task
    assert count("rag", **both) >= 3  # a tone, or nothing to train on
    assert count("hybrid", **both) >= 6  # both gaps real
    assert count("rag", external_knowledge="most", labeled_examples=("hundreds", "thousands")) >= 6
    assert count("fine-tuning", knowledge_location="in_prompt") >= 5
    assert count("hybrid", knowledge_location="corpus") >= 4
    assert count("rag", style_kind="tone") >= 2 and count("rag", labeled_examples="none") >= 3


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
