"""Helpers and paths shared by the analyses tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import random
from pathlib import Path

from advisor.engine import compile_rules, recommend
from advisor.models import CONTRACT_QUESTIONS, CaseLibrary

DATA = Path(__file__).parents[1] / "analyses" / "data"
ROOT = Path(__file__).parents[2]
MINI = DATA / "mini_rules.yaml"
SAMPLE_ANSWERS = ROOT / "sample" / "answers.yaml"


def random_answers(rng: random.Random, unknown_share: float = 0.0) -> dict[str, str]:
    """A random answer set over the contract questions (some unknown when unknown_share > 0)."""
    return {
        q: ("unknown" if rng.random() < unknown_share else rng.choice(values))
        for q, values in CONTRACT_QUESTIONS.items()
    }


def synthetic_library(rulebase, n: int = 80, seed: int = 3) -> CaseLibrary:
    """Cases labelled by the rule base itself: its weights agree with every case by construction."""
    compiled = compile_rules(rulebase)
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        answers = random_answers(rng)
        cases.append({"name": f"case {i}", "expected": recommend(compiled, answers).recommendation,
                      "why": "labelled by the reference weights", "answers": answers})
    return CaseLibrary.model_validate({"version": 1, "cases": cases})
