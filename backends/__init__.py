"""Real pipelines (RAG, fine-tuning, hybrid) built on the user's data; heavy imports happen inside.

Importing this package is cheap: each arm's backend is named by its record in `advisor.backends.arms` and
imported only when used.
"""

from __future__ import annotations

from advisor.backends.base import Answer, Backend, BuildSettings, Document, Hit, QAPair


def backend_class(approach: str) -> type[Backend]:
    """The Backend class of an arm ('prompt', 'rag', 'fine-tuning', 'hybrid' or a registered one), imported now."""
    from advisor.backends import arms

    return arms.get(approach).backend_class()


__all__ = ["Answer", "Backend", "BuildSettings", "Document", "Hit", "QAPair", "backend_class"]
