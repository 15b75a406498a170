"""The closed-book baseline: the untouched model's answers, cached across builds, approaches and re-runs.

Every arm is compared with the same untouched answers, so they are generated once per (model, answer length,
prompt) and question and read back from the cache afterwards. Light at import: the generator is imported only
when a baseline has to be generated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from advisor.atomic import write_text
from advisor.backends.base import BuildSettings
from advisor.backends.distributed import from_main, map_sharded, on_main
from advisor.backends.generation import Reply


def default_baseline_cache() -> Path:
    """Where closed-book answers are cached across builds and approaches: <advisor cache>/baselines."""
    from advisor.backends.generator import cache_root

    return cache_root() / "baselines"


def _baseline_file(cache_dir: Path, generator: str, max_new_tokens: int) -> Path:
    """The cache file of one (model, answer length, closed-book prompt)."""
    from advisor.backends.prompts import closed_book_messages

    prompt = json.dumps(closed_book_messages("{question}"))
    key = hashlib.sha256(f"{generator}|{max_new_tokens}|{prompt}".encode()).hexdigest()[:16]
    return Path(cache_dir) / f"baseline-{key}.json"


def baseline_answers(
    questions: Sequence[str], settings: BuildSettings, generator: Any = None, cache_dir: Path | None = None
) -> list[str]:
    """The untouched model's closed-book answers (the texts of `baseline_replies`)."""
    return [r.text for r in baseline_replies(questions, settings, generator, cache_dir)]


def baseline_replies(
    questions: Sequence[str], settings: BuildSettings, generator: Any = None, cache_dir: Path | None = None
) -> list[Reply]:
    """The untouched model's closed-book replies, cached per (model, max_new_tokens, prompt) and question, so
    every approach and every re-run reuses them; only missing questions are generated. The model is the run's
    endpoint when it has one, else the generator (`generator`: a loaded one, a name, or None for settings')."""
    from advisor.backends.generation import answerer
    from advisor.backends.generator import resolve
    from advisor.backends.prompts import closed_book_messages

    model: Any = None
    if generator is None and settings.endpoint is not None:
        model = answerer(settings)
        resolved = f"endpoint:{settings.endpoint.model}|seed={settings.seed}"
    elif generator is None or isinstance(generator, str):
        name = generator or settings.generator
        resolved = resolve(name).name
    else:  # an already loaded generator (anything with .name and .complete or .chat)
        model = generator
        resolved = str(generator.name)
    path = _baseline_file(cache_dir or default_baseline_cache(), resolved, settings.new_tokens)
    cached: dict[str, str] = {}
    details: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cached, details = dict(data.get("answers", {})), dict(data.get("replies", {}))
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, ValueError):
            cached, details = {}, {}
    cached, details = from_main((cached, details))  # under a launcher every rank answers from the main's cache
    missing = list(dict.fromkeys(q for q in questions if q not in cached))
    if missing:
        if model is None:
            from advisor.backends.generator import generator_for

            model = generator_for(settings, generator)
        fresh = map_sharded(lambda part: _complete(model, [closed_book_messages(q) for q in part], settings),
                            missing)
        for question, reply in zip(missing, fresh):
            cached[question] = reply.text
            details[question] = {k: v for k, v in asdict(reply).items() if k not in ("text", "cached")}
        record = {"generator": resolved, "max_new_tokens": settings.new_tokens, "answers": cached,
                  "replies": details}
        on_main(write_text, path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    fresh_ones = set(missing)
    return [Reply(text=cached[q], cached=q not in fresh_ones, **_reply_fields(details.get(q))) for q in questions]


def _complete(model: Any, conversations: list[list[dict[str, str]]], settings: BuildSettings) -> list[Reply]:
    """Replies from anything that answers chat messages: `complete` (replies) or just `chat` (texts)."""
    if hasattr(model, "complete"):
        return list(model.complete(conversations, max_new_tokens=settings.new_tokens,
                                   batch_size=settings.batch_size))
    return [Reply(text) for text in model.chat(conversations, max_new_tokens=settings.new_tokens)]


def _reply_fields(saved: Any) -> dict[str, Any]:
    """A cached reply's ending, tokens and time, kept only when well formed (older caches hold texts only)."""
    if not isinstance(saved, dict):
        return {}
    fields: dict[str, Any] = {}
    if isinstance(saved.get("finish_reason"), str):
        fields["finish_reason"] = saved["finish_reason"]
    for name in ("prompt_tokens", "completion_tokens"):
        if isinstance(saved.get(name), int) and not isinstance(saved.get(name), bool):
            fields[name] = saved[name]
    if isinstance(saved.get("seconds"), (int, float)) and not isinstance(saved.get("seconds"), bool):
        fields["seconds"] = float(saved["seconds"])
    return fields
