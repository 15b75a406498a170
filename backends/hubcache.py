"""Whether a Hugging Face model is already in the local hub cache, so that it loads with the hub offline."""

from __future__ import annotations

from collections.abc import Sequence


def in_hub_cache(repo_ids: Sequence[str]) -> bool:
    """True when any of `repo_ids` has its config.json in the hub cache; False for ids the hub would refuse."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - transformers and sentence-transformers both bring it
        return False
    try:
        return any(isinstance(try_to_load_from_cache(repo, "config.json"), str) for repo in repo_ids)
    except ValueError:  # not a valid repository id
        return False
