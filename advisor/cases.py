"""Case libraries: labelled scenarios checked against a rule base (how a rule base is tested and calibrated)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from advisor.answers import normalise_answers
from advisor.modelfiles import read_model_file
from advisor.text import show
from advisor.engine import CompiledRules, Recommendation, recommend
from advisor.errors import InputError
from advisor.models import APPROACHES, CaseLibrary, RuleBase
from advisor.outcomes import PROMPT


@dataclass
class CaseReport:
    """How far a rule base agrees with a case library."""

    total: int
    agree: int
    confusion: dict[str, dict[str, int]]
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share of cases where the recommendation is the expected approach (1.0 for an empty library)."""
        return self.agree / self.total if self.total else 1.0

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON: total, agree, accuracy, confusion (expected -> got -> count), disagreements."""
        return {
            "total": self.total,
            "agree": self.agree,
            "accuracy": round(self.accuracy, 4),
            "confusion": self.confusion,
            "disagreements": self.disagreements,
        }


def load_cases(path: str | os.PathLike, rulebase: RuleBase) -> CaseLibrary:
    """Read a case library and check every case's answers against the rule base; InputError names the case."""
    name = str(path)
    library = read_model_file(path, CaseLibrary, "case library")
    check_library(library, name)
    for i, case in enumerate(library.cases):
        normalise_answers(case.answers, rulebase, f"{name}: cases[{i}] ({case.name}).answers")
    return library


def check_library(library: CaseLibrary, name: str = "case library") -> None:
    """Problems the schema cannot see: duplicate case names (InputError naming both places)."""
    seen: dict[str, int] = {}
    for i, case in enumerate(library.cases):
        key = case.name.strip().lower()
        if key in seen:
            raise InputError(f"{name}: cases[{i}].name: duplicate case name '{case.name}' (also cases[{seen[key]}])")
        seen[key] = i


def case_warnings(library: CaseLibrary, name: str = "case library") -> list[str]:
    """Things worth fixing that do not stop a library from being checked: a case that says not why."""
    return [
        f"{name}: cases[{i}].why: case {show(case.name)} says not why it expects {case.expected} "
        f"(warning: the case is still checked)"
        for i, case in enumerate(library.cases) if not case.why.strip()
    ]


def verdict_for(case_expected: str, rec: Recommendation) -> str:
    """What a case's label is checked against: `prompt` against the verdict's start_with (few-shot prompting
    first, or an approach), an approach against the recommendation (the best of the three, as libraries written
    before `prompt` existed mean it)."""
    return rec.start_with if case_expected == PROMPT else rec.recommendation


def check_cases(compiled: CompiledRules, library: CaseLibrary) -> CaseReport:
    """Score every case; count agreements and build the confusion table (expected -> got).

    The table has a `prompt` row and column only when some case expects `prompt`.
    """
    labels = ([PROMPT] if any(c.expected == PROMPT for c in library.cases) else []) + list(APPROACHES)
    confusion = {a: dict.fromkeys(labels, 0) for a in labels}
    agree = 0
    disagreements = []
    for case in library.cases:
        answers = normalise_answers(case.answers, compiled.rulebase, case.name)
        rec = recommend(compiled, answers)
        got = verdict_for(case.expected, rec)
        confusion[case.expected][got] += 1
        if got == case.expected:
            agree += 1
        else:
            disagreements.append({
                "name": case.name,
                "expected": case.expected,
                "got": got,
                "why": case.why,
                "scores": rec.scores,
            })
    return CaseReport(total=len(library.cases), agree=agree, confusion=confusion, disagreements=disagreements)
