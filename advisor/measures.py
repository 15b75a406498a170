"""The names of what a validation measures, as readers see them: metrics and arms. One table for every output."""

from __future__ import annotations

from advisor.outcomes import PROMPT_LABEL

METRIC_LABELS = {"accuracy": "accuracy", "macro_f1": "macro-F1", "chrf": "chrF", "bleu": "BLEU", "rouge_l": "ROUGE-L",
                 "contains": "contains", "f1": "token F1", "exact_match": "exact match"}
ARM_LABELS = {"untouched": "untouched model (zero-shot)", "prompt": PROMPT_LABEL, "rag": "RAG",
              "fine-tuning": "fine-tuning", "hybrid": "hybrid"}
