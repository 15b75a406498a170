"""Rule bases: load, validate (schema and references), lint, dump back to YAML, and print the JSON Schema."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from advisor.datafiles import parse_data, read_data_file
from advisor.modelfiles import check_mapping, validation_problems
from advisor.text import show
from advisor.errors import InputError, did_you_mean
from advisor.models import RECOMMENDABLE, CONTRACT_QUESTIONS, RuleBase
from advisor.references import citation_places, short_label

DEFAULT_NAME = "rules/default.yaml"


@dataclass(frozen=True)
class Problem:
    """One problem in a rule base, with its place (e.g. 'rules[3].when').

    An error stops the rule base from loading (`load_rules`, so every command that takes `--rules`, refuses it,
    and `advisor rules check` exits 2); a warning does not (a dead part, a missing help text or source):
    `advisor rules check` lists it and exits 2 for it only with `--strict`.
    """

    file: str
    place: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        place = self.place if self.place.isprintable() else repr(self.place)
        return f"{self.file}: {place}: {self.message}"


def default_rules_text() -> str:
    """The text of the bundled rule base."""
    return resources.files("advisor.rules").joinpath("default.yaml").read_text(encoding="utf-8")


def _read(path: str | os.PathLike | None) -> tuple[Any, str]:
    if path is None:
        return parse_data(default_rules_text(), DEFAULT_NAME, what="rule base"), DEFAULT_NAME
    return read_data_file(path, "rule base"), str(path)


def _validate(data: Any, name: str) -> tuple[RuleBase | None, list[Problem]]:
    from pydantic import ValidationError

    try:
        data = check_mapping(data, name, "rule base")
    except InputError as exc:
        return None, [Problem(name, "(top level)", str(exc).split(": ", 1)[-1])]
    try:
        rulebase = RuleBase.model_validate(data)
    except ValidationError as exc:
        return None, [Problem(name, place, message) for place, message in validation_problems(exc)]
    return rulebase, reference_problems(rulebase, name) + contract_problems(rulebase, name)


def reference_problems(rulebase: RuleBase, name: str) -> list[Problem]:
    """Broken references and duplicates: problems that make a rule base unusable."""
    problems: list[Problem] = []

    def dupes(kind: str, ids: list[str], place: str) -> None:
        seen: set[str] = set()
        for i, ident in enumerate(ids):
            if ident in seen:
                problems.append(Problem(name, f"{place}[{i}].id", f"duplicate {kind} id {show(ident)}"))
            seen.add(ident)

    dupes("factor", [f.id for f in rulebase.factors], "factors")
    dupes("question", [q.id for q in rulebase.questions], "questions")
    dupes("rule", [r.id for r in rulebase.rules], "rules")
    for approach in RECOMMENDABLE:
        if approach not in rulebase.approaches:
            problems.append(Problem(name, "approaches", f"missing approach {show(approach)}"))
    if sorted(rulebase.scoring.tie_order) != sorted(RECOMMENDABLE):
        problems.append(
            Problem(name, "scoring.tie_order", f"must list each of {', '.join(RECOMMENDABLE)} exactly once")
        )
    factor_ids = [f.id for f in rulebase.factors]
    questions: dict[str, Any] = {}
    for qi, q in enumerate(rulebase.questions):
        questions.setdefault(q.id, q)
        if q.factor not in factor_ids:
            problems.append(
                Problem(name, f"questions[{qi}].factor",
                        f"unknown factor {show(q.factor)}{did_you_mean(q.factor, factor_ids)}")
            )
        values = [v.value for v in q.values]
        seen: set[str] = set()
        for vi, value in enumerate(values):
            if value in seen or value == "unknown":
                why = "duplicate value" if value in seen else "reserved value"
                problems.append(Problem(name, f"questions[{qi}].values[{vi}].value", f"{why} {show(value)}"))
            seen.add(value)
        if q.default is not None and q.default not in values:
            problems.append(
                Problem(name, f"questions[{qi}].default",
                        f"unknown value {show(q.default)}{did_you_mean(q.default, values)}; "
                        f"allowed values: {', '.join(values)}")
            )
    problems += _citation_problems(rulebase, name)
    for ri, rule in enumerate(rulebase.rules):
        for qid, wanted in rule.when.items():
            if qid not in questions:
                problems.append(
                    Problem(name, f"rules[{ri}].when",
                            f"unknown question {show(qid)}{did_you_mean(qid, questions)}")
                )
                continue
            values = [v.value for v in questions[qid].values]
            for value in wanted:
                if value not in values:
                    problems.append(
                        Problem(name, f"rules[{ri}].when.{qid}",
                                f"unknown value {show(value)}{did_you_mean(value, values)}; "
                                f"allowed values: {', '.join(values)}")
                    )
    return problems


def _citation_problems(rulebase: RuleBase, name: str) -> list[Problem]:
    """With a references section: duplicate keys, and sources that name no reference (with a did-you-mean)."""
    if rulebase.references is None:
        return []  # plain-text sources: nothing to resolve
    problems: list[Problem] = []
    keys: dict[str, str] = {}
    for i, ref in enumerate(rulebase.references):
        if ref.key in keys:
            problems.append(Problem(name, f"references[{i}].key", f"duplicate reference key {show(ref.key)}"))
        keys.setdefault(ref.key, short_label(ref))
    for place, src in citation_places(rulebase):
        if src not in keys:
            hint = _suggest_key(src, keys) if keys else "; the references section is empty"
            problems.append(Problem(name, place, f"unknown reference {show(src)}{hint}; "
                                    "cite a key of the references section"))
    return problems


def _suggest_key(source: str, labels: dict[str, str]) -> str:
    """A did-you-mean naming the closest key, or the key whose label is closest ('Ovadia 2023' -> 'ovadia-2023')."""
    hint = did_you_mean(source, labels)
    if hint:
        return hint
    by_label = {label: key for key, label in labels.items()}
    close = difflib.get_close_matches(source, list(by_label), n=1, cutoff=0.6)
    return f" (did you mean '{by_label[close[0]]}'?)" if close else ""


def contract_problems(rulebase: RuleBase, name: str) -> list[Problem]:
    """Breaches of the answers contract, which every rule base must keep (errors: answers files written to the
    contract would otherwise be refused or change meaning): the contract questions with their values in order, and
    a neutral default, firing no rule, for every question outside the contract."""
    problems: list[Problem] = []
    by_id = {q.id: (i, q) for i, q in reversed(list(enumerate(rulebase.questions)))}
    for qid, values in CONTRACT_QUESTIONS.items():
        if qid not in by_id:
            problems.append(Problem(name, "questions", f"contract question {show(qid)} is missing"))
            continue
        qi, q = by_id[qid]
        have = tuple(v.value for v in q.values)
        if have != values:
            problems.append(
                Problem(name, f"questions[{qi}].values",
                        f"{show(qid)} must have the contract values {', '.join(values)} in this order, "
                        f"found {', '.join(have)}")
            )
    referenced = {(qid, v) for r in rulebase.rules for qid, vs in r.when.items() for v in vs}
    for qi, q in enumerate(rulebase.questions):
        if q.id not in CONTRACT_QUESTIONS:
            default = next((v for v in q.values if v.value == q.default), None)
            if default is None:
                problems.append(
                    Problem(name, f"questions[{qi}].default",
                            f"question {show(q.id)} is outside the contract and needs a neutral default")
                )
            elif any(default.pull.values()):
                problems.append(
                    Problem(name, f"questions[{qi}].default",
                            f"default {show(q.default)} of question {show(q.id)} must be neutral (no pull)")
                )
            elif (q.id, q.default) in referenced:
                problems.append(
                    Problem(name, f"questions[{qi}].default",
                            f"default {show(q.default)} of question {show(q.id)} must not make a rule fire")
                )
    return problems


def lint_problems(rulebase: RuleBase, name: str) -> list[Problem]:
    """Warnings: what does not change any verdict's meaning but leaves the rule base incomplete or with dead parts."""
    problems: list[Problem] = []
    referenced = {(qid, v) for r in rulebase.rules for qid, vs in r.when.items() for v in vs}
    fed = {q.factor for q in rulebase.questions}
    for fi, factor in enumerate(rulebase.factors):
        if factor.id not in fed:
            problems.append(Problem(name, f"factors[{fi}]", f"factor {show(factor.id)} is fed by no question", True))
    for qi, q in enumerate(rulebase.questions):
        if not q.help.strip():
            problems.append(Problem(name, f"questions[{qi}].help", f"question {show(q.id)} has no help text", True))
        for vi, v in enumerate(q.values):
            pulls = any(v.pull.values())
            if not pulls and (q.id, v.value) not in referenced and v.value != q.default:
                problems.append(
                    Problem(name, f"questions[{qi}].values[{vi}]",
                            f"value {show(v.value)} of {show(q.id)} has no pull and no rule reads it", True)
                )
            if pulls and not v.because.strip():
                problems.append(
                    Problem(name, f"questions[{qi}].values[{vi}].because",
                            f"value {show(v.value)} of {show(q.id)} pulls but says not why", True)
                )
    for ri, rule in enumerate(rulebase.rules):
        if not any(rule.effect.values()) and not rule.note:
            problems.append(Problem(name, f"rules[{ri}]", f"rule {show(rule.id)} has neither an effect nor a note",
                                    True))
        for qid, vs in rule.when.items():
            if not vs:
                problems.append(Problem(name, f"rules[{ri}].when.{qid}", f"rule {show(rule.id)} can never fire", True))
        if not rule.source:
            problems.append(Problem(name, f"rules[{ri}].source", f"rule {show(rule.id)} names no source", True))
    cited = {src for _, src in citation_places(rulebase)}
    for i, ref in enumerate(rulebase.references or ()):
        if ref.key not in cited:
            problems.append(Problem(name, f"references[{i}]", f"reference {show(ref.key)} is cited nowhere", True))
    return problems


def check_rules(path: str | os.PathLike | None = None) -> list[Problem]:
    """Every problem of a rule base: the errors `load_rules` refuses it for (schema, references, the contract)
    and the warnings it loads despite (lint); [] when it is clean. Unreadable file: InputError."""
    data, name = _read(path)
    rulebase, problems = _validate(data, name)
    if rulebase is not None:
        problems += lint_problems(rulebase, name)
    return problems


def parse_rules(data: Any, name: str = "rule base") -> RuleBase:
    """Validate plain data as a rule base; InputError on the first schema or reference problem."""
    rulebase, problems = _validate(data, name)
    if problems:
        more = f" (and {len(problems) - 1} more; run 'advisor rules check' to see all)" if len(problems) > 1 else ""
        raise InputError(f"{problems[0]}{more}")
    assert rulebase is not None
    return rulebase


_DEFAULT_CACHE: list[RuleBase] = []


def load_rules(path: str | os.PathLike | None = None) -> RuleBase:
    """Load and validate a rule base file (YAML or JSON); None means the bundled default. InputError if broken."""
    if path is None and _DEFAULT_CACHE:
        return _DEFAULT_CACHE[0].model_copy(deep=True)
    data, name = _read(path)
    rulebase = parse_rules(data, name)
    if path is None:
        _DEFAULT_CACHE.append(rulebase.model_copy(deep=True))
    return rulebase


def dump_rules(rulebase: RuleBase) -> str:
    """YAML text of a rule base that loads back to an equal rule base (for calibration write-back)."""
    data = rulebase.model_dump(mode="json")
    if data.get("references") is None:
        data.pop("references", None)  # a rule base with plain-text sources stays one
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


def rules_schema() -> dict[str, Any]:
    """The JSON Schema of a rule base file, for editors."""
    schema = RuleBase.model_json_schema()
    schema.setdefault("title", "advisor rule base")
    return schema
