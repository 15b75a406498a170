"""The run's cache of an endpoint's answers, so an interrupted or repeated run does not pay twice.

One JSON Lines file in the run's folder, one answer a line, keyed by a hash of (model, messages, generation
settings): it holds answers and token counts, never a prompt, a URL or a key. It is read once when the
client is made and appended to as each answer arrives; a line cut by a crash is skipped on the next read.
If the file disappears meanwhile (a build replaced its folder), the next answer writes everything again.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from advisor.atomic import write_text
from advisor.backends.generation import Reply

CACHE_FILE = "answers-cache.jsonl"


class ReplyCache:
    """Replies by key, in memory and in `folder`/answers-cache.jsonl."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / CACHE_FILE
        self.replies: dict[str, Reply] = {}
        self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return
        for line in lines:
            try:
                row = json.loads(line)
                self.replies[str(row["key"])] = Reply(**{**row["reply"], "cached": True})
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by an interrupted run, or from another version: answer it again

    def get(self, key: str) -> Reply | None:
        """The cached reply for `key`, marked as cached, or None."""
        return self.replies.get(key)

    def put(self, key: str, reply: Reply) -> None:
        """Keep `reply` under `key`, in memory and on disk at once."""
        self.replies[key] = Reply(**{**asdict(reply), "cached": True})
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text(self.path, "".join(self._line(k, r) for k, r in self.replies.items()))
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(self._line(key, reply))

    @staticmethod
    def _line(key: str, reply: Reply) -> str:
        data = {k: v for k, v in asdict(reply).items() if k != "cached"}
        return json.dumps({"key": key, "reply": data}, ensure_ascii=False) + "\n"
