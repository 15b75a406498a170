"""Fixtures for the core tests: the bundled rule base, compiled once, and files written on demand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from advisor.engine import compile_rules
from advisor.rulebase import load_rules

HERE = Path(__file__).parent

SUPPORT = {
    "knowledge_change": "weekly",
    "external_knowledge": "most",
    "style_adaptation": "light",
    "hallucination_cost": "high",
    "traceability": "required",
    "cost_pressure": "medium",
    "ml_expertise": "some",
    "labeled_examples": "hundreds",
    "data_sensitivity": "internal",
    "latency_budget": "seconds",
}

VALIDATION = {
    "version": 1, "recommended": "rag", "best_measured": "hybrid", "agrees": False,
    "metric": "contains", "metric_reason": "gold answers are short (median 3 words)",
    "questions": 20, "seed": 0, "test_fraction": 0.3,
    "baseline": {"answers": {"exact_match": 0.0, "f1": 0.05, "contains": 0.0},
                 "latency_ms": {"p50": 900.0, "p95": 1300.0}},
    "approaches": {
        "rag": {"status": "ok", "approach": "rag", "questions": 20,
                "retrieval": {"k": 5, "questions": 20, "recall_at_k": 0.95, "mrr": 0.8},
                "answers": {"exact_match": 0.3, "f1": 0.5, "contains": 0.6},
                "baseline": {"answers": {"exact_match": 0.0, "f1": 0.05, "contains": 0.0}},
                "latency_ms": {"p50": 1500.0, "p95": 2100.0}, "build_seconds": 12.3, "peak_memory_mb": 900.0,
                "train": None, "models": {"generator": "gen", "embedder": "emb"}},
        "fine-tuning": {"status": "failed", "error": "out of memory while training <adapter>"},
        "hybrid": {"status": "ok", "approach": "hybrid", "questions": 20,
                   "answers": {"exact_match": 0.4, "f1": 0.6, "contains": 0.8},
                   "latency_ms": {"p50": 1600.0, "p95": 2300.0}, "build_seconds": 95.0},
    },
    "comparisons": [{"a": "hybrid", "b": "rag", "metric": "contains", "difference": 0.2,
                     "ci95": [0.05, 0.35], "tie": False}],
    "verdict": "Hybrid answered more held-out questions correctly than RAG.",
    "challenged_answers": [{"question": "external_knowledge", "answer": "none",
                            "evidence": "closed-book F1 was 0.05 and retrieval lifted it to 0.61"}],
    "next_steps": ["Collect more held-out pairs to narrow the interval."],
    "stages": [{"name": "rag: build", "seconds": 12.3}],
}


@pytest.fixture(scope="session")
def rulebase():
    """The bundled rule base (a fresh copy per session; do not mutate)."""
    return load_rules()


@pytest.fixture(scope="session")
def compiled(rulebase):
    """The bundled rule base, compiled."""
    return compile_rules(rulebase)


@pytest.fixture
def support_answers():
    """A complete answer set (an internal support assistant)."""
    return dict(SUPPORT)


@pytest.fixture
def write(tmp_path):
    """write(name, data_or_text) -> path: YAML for .yaml/.yml, JSON for .json, text as is."""

    def _write(name: str, content) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif name.endswith(".json"):
            path.write_text(json.dumps(content), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def answers_file(write):
    """An answers file for the support assistant, with a hostile project name."""
    return write("answers.yaml", {"version": 1, "project": "Acme <script>alert(1)</script> | x",
                                  "answers": dict(SUPPORT)})


@pytest.fixture
def validation_dir(write):
    """A folder holding a hand-written validation.json, with one failed approach."""
    path = write("val/validation.json", VALIDATION)
    return path.parent
