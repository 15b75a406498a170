"""Real pipelines (RAG, fine-tuning, hybrid) built on the user's data; heavy imports happen inside.

Importing this package is cheap: backends are looked up by name and imported only when used.
"""

from __future__ import annotations

import importlib

from advisor.backends.base import APPROACHES, Answer, Backend, BuildSettings, Document, Hit, QAPair

_REGISTRY = {
    "prompt": "advisor.backends.fewshot:PromptBackend",
    "rag": "advisor.backends.rag:RagBackend",
    "fine-tuning": "advisor.backends.finetune:FineTuneBackend",
    "hybrid": "advisor.backends.hybrid:HybridBackend",
}


def backend_class(approach: str) -> type[Backend]:
    """The Backend class for an approach name ('prompt', 'rag', 'fine-tuning', 'hybrid'), imported on demand."""
    module, _, name = _REGISTRY[approach].partition(":")
    return getattr(importlib.import_module(module), name)


__all__ = ["APPROACHES", "Answer", "Backend", "BuildSettings", "Document", "Hit", "QAPair", "backend_class"]
