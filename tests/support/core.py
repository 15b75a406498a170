"""Shared data of the core tests (a module with a unique name, so it never clashes with other test folders)."""

from __future__ import annotations

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
