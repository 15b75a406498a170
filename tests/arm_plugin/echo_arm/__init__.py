"""A small arm from outside the core, registered through the `advisor.arms` entry-point group.

It answers each input with the reference of the training pair sharing the most words with it: no model, so
the test that registers it runs fast, yet it is a real arm that builds, saves, loads and answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from advisor.atomic import write_text
from advisor.backends.arms import Arm
from advisor.backends.base import Answer, Backend, BuildSettings, Document, QAPair
from advisor.runrecords import Manifest, read_manifest

PAIRS_FILE = "pairs.jsonl"


class EchoOptions(BaseModel):
    """The echo arm's options: how many shared words make a match (below it, the answer is empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_overlap: int = Field(1, ge=0)


class EchoBackend(Backend):
    """Answers with the reference of the most similar training input, by shared words."""

    approach: ClassVar[str] = "echo"

    def __init__(self, settings: BuildSettings | None = None):
        super().__init__(settings or BuildSettings())
        self.pairs: list[tuple[str, str]] = []

    def build(self, documents: list[Document], train: list[QAPair], out: Path, progress: bool = True) -> dict[str, Any]:
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / PAIRS_FILE, "".join(json.dumps([p.question, p.answer]) + "\n" for p in train))
        manifest = {"format": 1, "approach": self.approach, "settings": self.settings.to_json()}
        write_text(out / "manifest.json", Manifest.model_validate(manifest).to_text())
        self.pairs = [(p.question, p.answer) for p in train]
        return {"examples": len(train)}

    @classmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "EchoBackend":
        manifest = read_manifest(out, cls.approach)
        backend = cls(settings or BuildSettings.from_json(manifest.settings))
        lines = (Path(out) / PAIRS_FILE).read_text(encoding="utf-8").splitlines()
        backend.pairs = [tuple(json.loads(line)) for line in lines if line]  # type: ignore[misc]
        return backend

    def answer_many(self, questions: list[str]) -> list[Answer]:
        options = self.settings.options_for(ECHO)
        assert isinstance(options, EchoOptions)
        answers = []
        for question in questions:
            words = set(question.lower().split())
            overlap, answer = max(((len(words & set(q.lower().split())), a) for q, a in self.pairs), default=(0, ""))
            answers.append(Answer(answer if overlap >= options.min_overlap else ""))
        return answers


ECHO = Arm("echo", "echo of the nearest pair", 5, "echo_arm:EchoBackend", EchoOptions, "echo", build_seconds=1.0)
# A record that takes a built-in arm's name: registering it must be refused.
CLASH = Arm("rag", "another rag", 6, "echo_arm:EchoBackend", EchoOptions, "echo")
