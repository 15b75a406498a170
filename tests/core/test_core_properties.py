"""Property-based robustness: random answer sets, random files and random rule-base mutations never crash.

The only acceptable outcomes are success or an InputError (exit status 2 with one message).
"""

from __future__ import annotations

import copy
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advisor.answers import load_answers
from advisor.datafiles import parse_data
from advisor.engine import compile_rules, recommend
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, CONTRACT_QUESTIONS
from advisor.rulebase import check_rules, default_rules_text, lint_problems, parse_rules

DEFAULT = yaml.safe_load(default_rules_text())
QIDS = list(CONTRACT_QUESTIONS)
ALL_VALUES = sorted({v for vs in CONTRACT_QUESTIONS.values() for v in vs} | {"unknown"})

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
keys = st.one_of(st.sampled_from(QIDS), st.text(max_size=15))
values = st.one_of(st.sampled_from(ALL_VALUES), junk)


def check_outcome(fn, *args):
    """Run fn; return its result, or None if it raised InputError. Anything else fails the test."""
    try:
        return fn(*args)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return None


def assert_valid(rec):
    assert rec.recommendation in RECOMMENDABLE
    assert 0.0 <= rec.confidence <= 1.0
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in rec.scores.values())


@settings(max_examples=300, deadline=None)
@given(answers=st.dictionaries(keys, values, max_size=12))
def test_random_answer_sets_only_succeed_or_raise_input_error(compiled, answers):
    rec = check_outcome(recommend, compiled, answers)
    if rec is not None:
        assert_valid(rec)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200), suffix=st.sampled_from([".yaml", ".json"]))
def test_random_answers_files_only_succeed_or_raise_input_error(rulebase, tmp_path, text, suffix):
    path = tmp_path / f"answers{suffix}"
    path.write_text(text, encoding="utf-8")
    check_outcome(load_answers, path, rulebase)


@settings(max_examples=150, deadline=None)
@given(data=st.fixed_dictionaries({"version": st.one_of(st.just(1), junk),
                                   "answers": st.dictionaries(keys, values, max_size=12)}),
       project=st.one_of(st.none(), junk))
def test_random_answers_documents(rulebase, data, project):
    from advisor.answers import normalise_answers
    from advisor.models import AnswersFile
    from pydantic import ValidationError

    data = dict(data, project=project)
    try:
        model = AnswersFile.model_validate(data)
    except ValidationError:
        return
    check_outcome(normalise_answers, model.answers, rulebase, "answers")


def _paths(node, prefix=()):
    """Every path (tuple of keys/indices) into a nested structure."""
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _paths(child, (*prefix, i))


PATHS = [p for p in _paths(DEFAULT) if p]


def _mutate(data, path, action, new):
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        if isinstance(parent, list):
            parent.pop(last)
        else:
            del parent[last]
    elif action == "replace":
        parent[last] = new
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif action == "rename" and isinstance(parent, dict):
        parent[str(new)] = parent.pop(last)
    return data


mutation = st.tuples(st.sampled_from(PATHS), st.sampled_from(["delete", "replace", "duplicate", "rename"]), junk)


@settings(max_examples=300, deadline=None)
@given(mutations=st.lists(mutation, min_size=1, max_size=4),
       answers=st.dictionaries(st.sampled_from(QIDS), st.sampled_from(ALL_VALUES), max_size=10))
def test_rule_base_mutations_only_succeed_or_raise_input_error(mutations, answers):
    data = copy.deepcopy(DEFAULT)
    for path, action, new in mutations:
        try:
            _mutate(data, path, action, new)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed the place
    rulebase = check_outcome(parse_rules, data, "mutated.yaml")
    if rulebase is None:
        return
    lint_problems(rulebase, "mutated.yaml")  # must not crash either
    compiled = compile_rules(rulebase)
    rec = check_outcome(recommend, compiled, answers)
    if rec is not None:
        assert_valid(rec)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_rule_check_of_mutated_files_never_crashes(tmp_path, mutations):
    data = copy.deepcopy(DEFAULT)
    for path, action, new in mutations:
        try:
            _mutate(data, path, action, new)
        except (KeyError, IndexError, TypeError):
            continue
    target = tmp_path / "rules.yaml"
    try:
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    except yaml.YAMLError:
        return
    problems = check_outcome(check_rules, target)
    assert problems is None or all(str(p).startswith(str(target)) for p in problems)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=120))
def test_parse_data_only_raises_input_error(text):
    check_outcome(parse_data, text, "x.yaml")
    check_outcome(parse_data, text, "x.json", True)
