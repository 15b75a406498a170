"""The prompt arm: few-shot prompting of the untouched generator, no training.

For each input, the k training pairs whose inputs are most similar to it (cosine similarity of the run's
embedder; Liu et al. 2022, "What Makes Good In-Context Examples for GPT-3?") go into the chat template as
earlier turns. It is the cheapest arm, and the baseline that fine-tuning and retrieval must beat.

`PromptBackend(settings).build(documents, train, out)` embeds the training inputs once and writes
`out/demonstrations.jsonl`, `out/vectors.npy` and `out/manifest.json`; `load(out)` answers with them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from advisor.runrecords import Manifest
from advisor.atomic import staged_dir, write_text
from advisor.backends.base import Answer, Backend, BuildSettings, Document, QAPair
from advisor.errors import InputError

if TYPE_CHECKING:
    from advisor.backends.plan import ArmPlan

MANIFEST = "manifest.json"
DEMOS_FILE = "demonstrations.jsonl"
VECTORS_FILE = "vectors.npy"
MAX_SHOTS = 8
DEMO_TOKEN_BUDGET = 384  # prompt tokens for demonstrations: the 135M model slows and drifts on long prompts


def default_shots(train: Sequence[QAPair]) -> int:
    """The documented rule for k: as many demonstrations as fit in about 384 prompt tokens, 1 to 8.

    A demonstration costs about 1.5 tokens a word (question and answer, medians over the training pairs)
    plus 10 for the chat template's turn markers.
    """
    if not train:
        return 0
    words = statistics.median(len(p.question.split()) + len(p.answer.split()) for p in train)
    per_demo = 1.5 * words + 10
    return max(1, min(MAX_SHOTS, len(train), int(DEMO_TOKEN_BUDGET // per_demo)))


def check_shots(shots: int | None, train: Sequence[QAPair]) -> int:
    """The k to use: the --shots option when given (at most the training pairs), else the rule."""
    if shots is None:
        return default_shots(train)
    if shots > len(train):
        raise InputError(f"--shots {shots} is more than the {len(train)} training pairs; give at most {len(train)}")
    return shots


def plan_shots(plan: ArmPlan, train: Sequence[QAPair] | None) -> ArmPlan:
    """The prompt arm's plan hook: demonstrations per input, checked against the training pairs once known."""
    if train is None:
        return plan
    return replace(plan, shots=check_shots(plan.settings.prompt.shots, train))


def nearest(queries, pool, k: int) -> list[list[int]]:
    """For each query row, the indices of the k most similar pool rows (unit vectors), least similar first.

    One matrix product and a partial sort for the whole batch, not a loop over pairs.
    """
    import numpy as np

    if k == 0 or len(pool) == 0:
        return [[] for _ in range(len(queries))]
    sims = queries @ pool.T
    k = min(k, pool.shape[0])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    ranked = np.take_along_axis(sims, top, axis=1).argsort(axis=1)  # ascending: the closest goes last
    return np.take_along_axis(top, ranked, axis=1).tolist()


class PromptBackend(Backend):
    """The untouched generator, shown the most similar training pairs as solved examples."""

    approach: ClassVar[str] = "prompt"

    def __init__(self, settings: BuildSettings | None = None):
        super().__init__(settings or BuildSettings())
        self.demos: list[tuple[str, str]] = []
        self.vectors: Any = None
        self.shots = 0

    @property
    def embedder(self):
        from advisor.backends.embedder import shared_embedder

        return shared_embedder(self.settings.embedder, self.settings.device)

    def build(self, documents: list[Document], train: list[QAPair], out: Path, progress: bool = True) -> dict[str, Any]:
        """Embed the training inputs once and save them with their answers; documents are not used."""
        import numpy as np

        started = time.perf_counter()
        shots = self.plan_for(train).shots
        assert shots is not None  # resolved against `train`
        vectors = self.embedder.encode([p.question for p in train], progress=progress, desc="embedding examples")
        manifest = {"format": 1, "approach": self.approach, "shots": shots, "examples": len(train),
                    "shots_rule": "option" if self.settings.prompt.shots is not None else "default",
                    "models": {"embedder": self.embedder.name, "generator": self.settings.generator},
                    "settings": self.settings.to_json()}
        with staged_dir(out) as tmp:
            write_text(tmp / DEMOS_FILE, "".join(json.dumps({"question": p.question, "answer": p.answer},
                                                            ensure_ascii=False) + "\n" for p in train))
            np.save(tmp / VECTORS_FILE, vectors)
            write_text(tmp / MANIFEST, Manifest.model_validate(manifest).to_text())
        self.demos = [(p.question, p.answer) for p in train]
        self.vectors, self.shots, self.manifest = vectors, shots, Manifest.model_validate(manifest)
        return {"seconds": round(time.perf_counter() - started, 3), "shots": shots, "examples": len(train)}

    @classmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "PromptBackend":
        """The demonstrations saved by build() in `out`."""
        import numpy as np

        from advisor.runrecords import read_manifest

        out = Path(out)
        manifest = read_manifest(out, cls.approach)
        shots = manifest.shots
        if shots is None or shots < 0:
            raise InputError(f"{out / MANIFEST}: shots: expected a whole number, got {shots!r}; rebuild with "
                             "'advisor build prompt'")
        try:
            demos = [json.loads(line) for line in (out / DEMOS_FILE).read_text(encoding="utf-8").splitlines() if line]
            vectors = np.load(out / VECTORS_FILE, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{out} holds no readable prompt build ({exc}); run 'advisor build prompt' again"
            ) from None
        backend = cls(settings or BuildSettings.from_json(manifest.settings))
        backend.manifest, backend.vectors, backend.shots = manifest, vectors, shots
        backend.demos = [(d["question"], d["answer"]) for d in demos]
        return backend

    def demonstrations(self, questions: list[str]) -> list[list[tuple[str, str]]]:
        """The k most similar training pairs for each question, least similar first."""
        if self.vectors is None:
            raise RuntimeError("build() or load() the PromptBackend before answering")
        found = nearest(self.embedder.encode(questions), self.vectors, self.shots)
        return [[self.demos[i] for i in row] for row in found]

    def answer_many(self, questions: list[str]) -> list[Answer]:
        """Answers with each input's own demonstrations: generated in batches in-process, or sent to the
        run's endpoint (greedy either way)."""
        from advisor.backends.generation import answerer
        from advisor.backends.prompts import few_shot_messages

        if not questions:
            return []
        model = answerer(self.settings)
        start = time.perf_counter()
        demos = self.demonstrations(questions)
        picking = (time.perf_counter() - start) / len(questions)
        replies = model.complete(
            [few_shot_messages(q, d) for q, d in zip(questions, demos)],
            max_new_tokens=self.settings.new_tokens,
            batch_size=self.settings.batch_size,
        )
        return [Answer.from_reply(r, seconds=round(r.seconds + picking, 4)) for r in replies]
