"""Shared data of the hardening tests (a module with a unique name, so it never clashes with other test folders)."""

from __future__ import annotations

SUPPORT = {
    "knowledge_change": "weekly", "external_knowledge": "most", "style_adaptation": "light",
    "hallucination_cost": "high", "traceability": "required", "cost_pressure": "medium", "ml_expertise": "some",
    "labeled_examples": "hundreds", "data_sensitivity": "internal", "latency_budget": "seconds",
}
ANSWERS = {"version": 1, "project": "Demo", "answers": SUPPORT}
CASES = {"version": 1, "cases": [{"name": "one", "expected": "rag", "why": "because", "answers": SUPPORT}]}
VALIDATION = {"version": 1, "recommended": "rag", "best_measured": "rag", "agrees": True,
              "approaches": {"rag": {"status": "ok", "answers": {"contains": 0.5, "f1": 0.4}}}}
