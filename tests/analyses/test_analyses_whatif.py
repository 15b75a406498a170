"""What-if: --set parsing errors and the before/after difference."""

from __future__ import annotations

import pytest
import yaml
from tests.support.analyses import SAMPLE_ANSWERS

from advisor.analyses.whatif import parse_sets, what_if
from advisor.errors import InputError


def _sample():
    return yaml.safe_load(SAMPLE_ANSWERS.read_text())["answers"]


@pytest.mark.parametrize("item, message", [
    ("knowledge_change", "expected QUESTION=VALUE"),
    ("knowlege_change=static", "did you mean 'knowledge_change'"),
    ("knowledge_change=statik", "did you mean 'static'"),
    ("knowledge_change=", "unknown value ''"),
])
def test_bad_sets(default_compiled, item, message):
    with pytest.raises(InputError) as err:
        parse_sets([item], default_compiled)
    assert message in str(err.value)
    assert item.split("=")[0] in str(err.value)


def test_set_twice_is_an_error(default_compiled):
    with pytest.raises(InputError, match="set twice"):
        parse_sets(["traceability=none", "traceability=required"], default_compiled)


def test_parse_accepts_unknown_and_case(default_compiled):
    assert parse_sets(["traceability = None", "latency_budget=unknown"], default_compiled) == {
        "traceability": "none", "latency_budget": "unknown"}


def test_what_if_changes_verdict_and_explains(default_compiled):
    answers = _sample()
    changes = parse_sets(["knowledge_change=static", "external_knowledge=none", "traceability=none",
                          "style_adaptation=strong", "labeled_examples=thousands"], default_compiled)
    result = what_if(default_compiled, answers, changes)
    assert result.before.recommendation == "rag"
    assert result.verdict_changed and result.after.recommendation != "rag"
    changed_factors = {f.id for f in result.factor_changes}
    assert {"dynamic_data", "external_knowledge"} <= changed_factors
    for f in result.factor_changes:
        assert any(abs(d) > 0 for d in f.delta.values())
    before_rules = {r.id for r in result.before.rules}
    after_rules = {r.id for r in result.after.rules}
    assert set(result.rules_started) == after_rules - before_rules
    assert set(result.rules_stopped) == before_rules - after_rules
    text = result.render_text()
    assert "before" in text and "after" in text and "<- changed" in text
    assert "knowledge_change=static (was monthly)" in text
    data = result.to_dict()
    assert data["before"]["recommendation"] == "rag" and data["verdict_changed"] is True


def test_what_if_same_answers_changes_nothing(default_compiled):
    answers = _sample()
    result = what_if(default_compiled, answers, {"knowledge_change": answers["knowledge_change"]})
    assert not result.changes and not result.factor_changes and not result.verdict_changed
    assert "nothing changes" in result.render_text()
