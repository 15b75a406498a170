"""The typed files of a build and of a validation run: manifest.json, metrics.json and validation.json.

The backends produce them and the reports, the web app and the case library read them back through the
readers here, so every file is checked the same way: a field of the wrong type is one input error naming the
file and the field (exit 2), never a half-rendered report. Fields not named here are kept (`extra="allow"`),
so a newer or older run still reads; every named field has its type.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from advisor.errors import InputError
from advisor.models import UNKNOWN

MANIFEST_FILE = "manifest.json"
METRICS_FILE = "metrics.json"
VALIDATION_FILE = "validation.json"
PROGRESS_FILE = "progress.json"  # the stage now running, for readers such as `advisor serve`

Scores = dict[str, float]  # metric name -> mean over the questions, 0 to 1
Arm = str  # what `advisor build` builds: a name in the arm registry (advisor.backends.arms)
Status = Literal["ok", "failed", "not_applicable"]
WeakPart = Literal["retrieval", "generator"]
Agreement = Literal["agrees", "disagrees", "cannot_tell"]
RecordKind = Literal["answer", "paraphrase", "trained", "trained_paraphrase"]
Pair = Annotated[list[float], Field(min_length=2, max_length=2)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, defer_build=True)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data: the fields that were set, by name (extras included)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def to_text(self) -> str:
        """The file's text: indented JSON, ending with a newline."""
        import json

        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- manifest.json


class Models(_Record):
    """The models a pipeline was built or measured with."""

    embedder: Optional[str] = None
    generator: Optional[str] = None


class Manifest(_Record):
    """A built pipeline's manifest: what loading it relies on. Each backend adds its own fields."""

    approach: Arm
    format: Optional[int] = None
    models: Models = Field(default_factory=Models)
    settings: dict[str, Any] = Field(default_factory=dict)  # BuildSettings.to_json(), read by BuildSettings
    retrieval: dict[str, Any] = Field(default_factory=dict)  # the index's own description (ChunkIndex.describe)
    generator: Optional[str] = None
    generator_path: Optional[str] = None
    shots: Optional[int] = None  # the prompt arm's examples per input
    context_k: Optional[int] = None  # the hybrid's retrieved chunks per question
    interrupted: bool = False


def read_manifest(out: str | os.PathLike, approach: str | None = None, needs: tuple[str, ...] = ()) -> Manifest:
    """OUT/manifest.json, typed; InputError when it is missing, of another approach, or lacks a field in `needs`.

    `needs` names fields a loader cannot do without, dotted for nested ones (`models.embedder`); `generator`
    is satisfied by either `generator` or `generator_path`.
    """
    from advisor.modelfiles import read_model_file

    folder = Path(out)
    path = folder / MANIFEST_FILE
    if not path.exists():
        if not folder.is_dir():
            raise InputError(f"{out} does not exist; build a pipeline into it with 'advisor build' first")
        inside = built_pipelines(folder)
        if inside:
            raise InputError(f"{out} is not itself a built pipeline but holds {len(inside)}: "
                             f"{', '.join(str(p) for p in inside)}; give one of them")
        raise InputError(f"{out} holds no built pipeline (no {MANIFEST_FILE}); run 'advisor build' first")
    manifest: Manifest = read_model_file(path, Manifest, "manifest")
    if approach is not None and manifest.approach != approach:
        raise InputError(f"{out} holds a '{manifest.approach}' build, not '{approach}'")
    for field in needs:
        if field == "generator":
            value: Any = manifest.generator or manifest.generator_path
        else:
            value = manifest
            for part in field.split("."):
                value = getattr(value, part, None)
        if not isinstance(value, str) or not value:
            raise InputError(f"{path}: {field}: missing; rebuild the pipeline with 'advisor build'")
    return manifest


def built_pipelines(folder: Path) -> list[Path]:
    """The subfolders of `folder` that hold a built pipeline (a validation run's arms), sorted by name."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file())
    except OSError:
        return []


# ---------------------------------------------------------------- metrics.json


class Retrieval(_Record):
    """How well retrieval found the source, and how often the answer reached the generator."""

    k: Optional[int] = None
    questions: Optional[int] = None
    recall_at_k: Optional[float] = None
    mrr: Optional[float] = None
    answer_in_context: Optional[float] = None
    metric_when_in_context: Optional[float] = None


class AnsweredBy(_Record):
    """What answered an arm and where: a model behind an endpoint (its host only: never a key, credentials or a
    query string of its URL) or a model loaded in-process (its device)."""

    kind: Literal["endpoint", "local"]
    model: str
    host: Optional[str] = None
    device: Optional[str] = None
    precision: Optional[str] = None  # the weights in-process when not fp32: bf16, fp16 or nf4 (--dtype, --quantize)

    def describe(self) -> str:
        """'MODEL at HOST' or 'MODEL (in-process, DEVICE)', with the precision when it is not plain fp32."""
        if self.kind == "endpoint":
            return f"{self.model} at {self.host}"
        held = f", {self.precision}" if self.precision not in (None, "fp32") else ""
        return f"{self.model} (in-process, {self.device or 'cpu'}{held})"


class Usage(_Record):
    """What an arm's answers cost, from the tokens the model reported (an endpoint's `usage`, or counted
    in-process): totals and means per answer over the held-out answers, their cost at the run's prices,
    throughput, and how many answers were empty, cut by the token limit, or read from the run's cache."""

    answers: int
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None
    prompt_tokens_per_answer: Optional[float] = None
    completion_tokens_per_answer: Optional[float] = None
    price_in: Optional[float] = None  # per million prompt tokens
    price_out: Optional[float] = None  # per million completion tokens
    price_source: Optional[str] = None
    currency: Optional[str] = None
    cost: Optional[float] = None
    cost_per_1000_answers: Optional[float] = None
    answers_per_second: Optional[float] = None
    concurrency: Optional[int] = None
    empty: int = 0
    cut: int = 0
    cached: int = 0


class JudgeScore(_Record):
    """An optional LLM judge's grades of an arm's responses: the share it called correct (over those it gave a
    verdict on), how many it graded, how many replies were off-format, why it failed if it did, its usage."""

    correct: Optional[float] = None
    graded: int = 0
    off_format: int = 0
    failed: Optional[str] = None
    usage: Optional[Usage] = None


class Judge(_Record):
    """Which judge graded the run (host only), with which rubric, and what ranked the arms."""

    model: str
    host: str
    rubric_version: int
    ranked_by: str  # the LLM-free rule's metric: the judge is reported beside it, never instead of it
    note: str = ""


class Baseline(_Record):
    """The untouched model's mean scores on the same questions, what answered and what it cost."""

    answers: Scores = Field(default_factory=dict)
    answered_by: Optional[AnsweredBy] = None
    usage: Optional[Usage] = None
    judge: Optional[JudgeScore] = None


class Reworded(_Record):
    """Scores on the reworded held-out questions (the pairs' `paraphrase`), and on the same questions as written."""

    questions: int
    answers: Scores = Field(default_factory=dict)
    original: Scores = Field(default_factory=dict)  # the same held-out questions as written: like with like


class Memorisation(_Record):
    """A trained arm on training pairs that have a rewording: the questions it was trained on, and reworded.

    A model that answers its training questions well but their rewordings badly memorised wording.
    """

    questions: int
    original: Scores = Field(default_factory=dict)
    reworded: Scores = Field(default_factory=dict)


class Interval(_Record):
    """A paired bootstrap of a mean difference: the difference, its 95% interval, and whether that holds 0."""

    difference: float
    low: float
    high: float
    confidence: Optional[float] = None
    questions: int
    tie: bool
    p_value: Optional[float] = None  # two-sided, from the same resamples


class Latency(_Record):
    """Milliseconds per answer."""

    p50: Optional[float] = None
    p95: Optional[float] = None
    batch_size: Optional[int] = None


class Split(_Record):
    """How the pairs were split into training and held-out ones."""

    seed: Optional[int] = None
    test_fraction: Optional[float] = None  # None when the pairs' `split` fields fixed the split
    pinned: Optional[bool] = None  # the pairs' `split` fields fixed which are held out
    train: Optional[int] = None
    test: Optional[int] = None
    eval_limit: Optional[int] = None


class TrainFacts(_Record):
    """What a training run did: steps, losses, speed and how it was launched."""

    seconds: Optional[float] = None
    steps: Optional[int] = None
    epochs: Optional[int] = None
    best_step: Optional[int] = None
    train_examples: Optional[int] = None
    val_examples: Optional[int] = None
    trainable_parameters: Optional[int] = None
    final_train_loss: Optional[float] = None
    final_val_loss: Optional[float] = None
    best_val_loss: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    tokens_per_second: Optional[float] = None
    padding_waste: Optional[float] = None
    stopped_early: Optional[bool] = None
    interrupted: Optional[bool] = None
    launcher: Optional[str] = None
    world_size: Optional[int] = None
    per_process_batch: Optional[int] = None
    accumulation: Optional[int] = None
    rank_tokens: list[int] = Field(default_factory=list)


class Measurements(_Record):
    """metrics.json: one built arm measured on the held-out inputs (`advisor build`, and each stage of validate)."""

    approach: Optional[str] = None
    questions: Optional[int] = None
    task: Optional[str] = None
    metric: Optional[str] = None
    metric_reason: Optional[str] = None
    answers: Scores = Field(default_factory=dict)
    retrieval: Optional[Retrieval] = None
    baseline: Optional[Baseline] = None
    compared_to_baseline: dict[str, Interval] = Field(default_factory=dict)
    paraphrase: Optional[Reworded] = None
    memorisation: Optional[Memorisation] = None
    latency_ms: Optional[Latency] = None
    build_seconds: Optional[float] = None
    eval_seconds: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    models: Models = Field(default_factory=Models)
    answered_by: Optional[AnsweredBy] = None
    usage: Optional[Usage] = None
    judge: Optional[JudgeScore] = None
    split: Optional[Split] = None
    build: dict[str, Any] = Field(default_factory=dict)  # each backend's own build facts (chunks, reuse, ...)
    train: Optional[TrainFacts] = None
    settings: dict[str, Any] = Field(default_factory=dict)  # BuildSettings.to_json()
    interrupted: bool = False


def read_metrics(out: str | os.PathLike) -> Measurements:
    """OUT/metrics.json, typed; InputError naming the file and field when it is missing or malformed."""
    from advisor.modelfiles import read_model_file

    path = Path(out) / METRICS_FILE
    if not path.exists():
        raise InputError(f"{out} holds no measurements (no {METRICS_FILE}); run 'advisor build' first")
    result: Measurements = read_model_file(path, Measurements, "metrics file")
    return result


class AnswerRecord(_Record):
    """One line of answers.jsonl: an input, the arm's output and its scores (one field per metric, e.g. `f1`)."""

    kind: RecordKind = "answer"
    line: int
    question: str
    gold: str
    references: list[str] = Field(default_factory=list)
    response: str
    sources: list[str] = Field(default_factory=list)
    expected_source: Optional[str] = None
    in_context: Optional[bool] = None
    baseline_response: Optional[str] = None
    baseline: Optional[Scores] = None
    finish_reason: Optional[str] = None  # "stop", "length" (cut by the token limit), or None when not told
    empty: Optional[bool] = None  # the model sent no text
    prompt_tokens: Optional[int] = None
    completion_tokens: Optional[int] = None

    def score(self, metric: str) -> float | None:
        """The output's `metric`, or None when it was not scored."""
        value = (self.model_extra or {}).get(metric)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def baseline_score(self, metric: str) -> float | None:
        """The untouched model's `metric` on the same input, or None when it was not measured."""
        return None if self.baseline is None else self.baseline.get(metric)


# ---------------------------------------------------------------- validation.json


class ArmResult(Measurements):
    """One arm in validation.json: its measurements, or why it failed or did not apply."""

    status: Optional[Status] = None
    error: Optional[str] = None
    reason: Optional[str] = None

    @property
    def state(self) -> str:
        """`ok`, `failed` or `not_applicable`; runs written before `status` existed are `ok` when they scored."""
        return self.status or ("ok" if self.answers else "missing")

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def score(self, metric: str) -> float | None:
        """The arm's mean `metric`, or None when it was not measured."""
        return self.answers.get(metric) if self.ok else None


class Comparison(_Record):
    """Arm a against arm b (or `baseline`, the untouched model) on the ranking metric: the bootstrap's interval,
    its p-value and the p-value adjusted for every comparison of the run; `tie` is decided on the adjusted one."""

    a: str
    b: str
    metric: Optional[str] = None
    difference: Optional[float] = None
    ci95: Optional[Pair] = None
    questions: Optional[int] = None
    tie: bool = False
    p_value: Optional[float] = None
    p_adjusted: Optional[float] = None


class DecisionRule(_Record):
    """The rule the verdict was decided by: the adjustment over the run's comparisons and the equivalence margin."""

    adjustment: str = "holm"
    comparisons: int = 0
    alpha: float = 0.05
    equivalence_margin: float = 0.05
    higher_is_better: bool = True  # the ranking metric's direction (backends.metrics.METRICS)


class InputsNeeded(_Record):
    """How many held-out inputs would make a difference measurable, from the paired variance observed."""

    a: str
    b: str
    difference: float
    sd: float
    questions: int  # inputs the run had
    inputs: Optional[int] = None  # inputs needed; None when no difference was observed


class ChallengedAnswer(_Record):
    """A questionnaire answer the measurements call into question, with the numbers that do."""

    question: str
    answer: str = ""
    evidence: str = ""


class ArmOutput(_Record):
    """One arm's output for an example input, and its score."""

    text: str = ""
    score: Optional[float] = None


class Example(_Record):
    """A held-out input with every arm's output beside the references."""

    line: Optional[int] = None
    input: str = ""
    references: list[str] = Field(default_factory=list)
    outputs: dict[str, ArmOutput] = Field(default_factory=dict)


class Diagnosis(_Record):
    """For a retrieving arm: how often the answer reached the generator, and which part is weak."""

    approach: str
    answer_in_context: float
    metric_when_in_context: Optional[float] = None
    metric: str
    weak_part: Optional[WeakPart] = None


class Stage(_Record):
    """One stage of a validation run and its time."""

    name: str
    seconds: Optional[float] = None
    peak_memory_mb: Optional[float] = None
    build_seconds: Optional[float] = None
    eval_seconds: Optional[float] = None


class PairsOrigin(_Record):
    """Where the run's pairs came from, when some were drafted by `advisor draft`: how many drafted pairs were
    used, how many of them a person accepted or edited, and how many a person rejected (never used)."""

    drafted: int
    reviewed: int
    rejected: int = 0
    pairs: int


def provenance_sentence(origin: Optional[PairsOrigin]) -> Optional[str]:
    """'On N drafted pairs, M reviewed by a person.' and, while none were, the caveat; None for people's pairs."""
    if origin is None or not origin.drafted:
        return None
    people = origin.pairs - origin.drafted
    of = f" (of {origin.pairs} pairs; {people} written by people)" if people else ""
    text = f"Measured on {origin.drafted} drafted pairs{of}, {origin.reviewed} reviewed by a person."
    if not origin.reviewed:
        text += (" None has been reviewed yet, so the scores measure agreement with a model's questions and "
                 "answers, not with what your users ask: review them (advisor serve --review PAIRS) before "
                 "trusting the ranking.")
    return text


class ValidationRun(_Record):
    """validation.json, written by `advisor validate`: every arm measured, the ranking, the verdict."""

    version: Optional[int] = None
    recommended: Optional[str] = None  # the questionnaire's best of the three approaches
    start_with: Optional[str] = None  # the questionnaire's outcome to act on first: `prompt`, or `recommended`
    best_measured: Optional[str] = None  # the highest scorer, whatever the tie rule favours
    favoured: Optional[str] = None  # the arm the evidence favours after the tie rule; None when inconclusive
    candidates: list[str] = Field(default_factory=list)  # the arms that beat the untouched model beyond the noise
    inconclusive: bool = False
    agreement: Optional[Agreement] = None  # judged on the questionnaire's outcome to act on first (`start_with`)
    agrees: Optional[bool] = None  # True for `agrees`, False for `disagrees`, None when the evidence cannot tell
    prompt_enough: bool = False
    tied_with_best: list[str] = Field(default_factory=list)
    decision: Optional[DecisionRule] = None
    inputs_needed: Optional[InputsNeeded] = None
    task: Optional[str] = None
    metric: Optional[str] = None
    metric_reason: Optional[str] = None
    metrics_reported: list[str] = Field(default_factory=list)
    questions: Optional[int] = None
    held_out: Optional[int] = None
    train_pairs: Optional[int] = None
    seed: Optional[int] = None
    test_fraction: Optional[float] = None  # None when the pairs' `split` fields fixed the split
    split_pinned: bool = False  # the pairs' `split` fields fixed which are held out; no fraction was used
    baseline: Optional[Baseline] = None
    approaches: dict[str, ArmResult] = Field(default_factory=dict)
    comparisons: list[Comparison] = Field(default_factory=list)
    examples: list[Example] = Field(default_factory=list)
    models: Models = Field(default_factory=Models)
    answers: Optional[dict[str, str]] = None
    answers_file: Optional[str] = None
    retrieval_diagnosis: list[Diagnosis] = Field(default_factory=list)
    challenged_answers: list[ChallengedAnswer] = Field(default_factory=list)
    verdict: Optional[str] = None
    next_steps: list[str] = Field(default_factory=list)
    stages: list[Stage] = Field(default_factory=list)
    total_seconds: Optional[float] = None
    model_warning: Optional[str] = None  # set when the arms did not all answer with the same base model
    judge: Optional[Judge] = None  # the optional LLM judge, when one graded the run
    pairs_origin: Optional[PairsOrigin] = None  # set when some pairs were drafted by `advisor draft`

    def arm(self, name: str) -> ArmResult:
        """The arm's block; an empty one (state `missing`) when it was not run."""
        return self.approaches.get(name) or ArmResult()

    def score(self, who: str, metric: str | None = None) -> float | None:
        """Mean `metric` (default: the ranking one) of an arm or of `baseline`; None when not measured."""
        metric = metric or self.metric or ""
        if who == "baseline":
            return self.baseline.answers.get(metric) if self.baseline else None
        return self.arm(who).score(metric)

    def comparison(self, a: str, b: str) -> Comparison | None:
        """The comparison of a with b, turned so that `difference` is a - b; None when they were not compared."""
        for c in self.comparisons:
            if (c.a, c.b) == (a, b):
                return c
            if (c.a, c.b) == (b, a):
                return c.model_copy(update={
                    "a": a, "b": b,
                    "difference": None if c.difference is None else -c.difference,
                    "ci95": None if c.ci95 is None else [-c.ci95[1], -c.ci95[0]],
                })
        return None

    def beats(self, a: str, b: str) -> bool:
        """a did better than b beyond the noise (after the adjustment for the run's comparisons)."""
        c = self.comparison(a, b)
        sign = 1.0 if self.decision is None or self.decision.higher_is_better else -1.0
        return c is not None and c.difference is not None and not c.tie and sign * c.difference > 0

    @property
    def evidence_favours(self) -> str | None:
        """The arm the evidence favours: `favoured`, or for runs written before it, `best_measured` (which held it)."""
        return self.favoured if "favoured" in self.model_fields_set else self.best_measured

    @property
    def agreement_state(self) -> Agreement | None:
        """`agreement`, or for runs written before it, what `agrees` said (True or False)."""
        if self.agreement is None and self.agrees is not None:
            return "agrees" if self.agrees else "disagrees"
        return self.agreement

    def differing_answers(self, answers: dict[str, str],
                          defaults: dict[str, str] | None = None) -> list[tuple[str, str, str]] | None:
        """(question, the run's answer, the given answer) for each answer that differs; None when the run
        records no answers. A question missing on either side counts as its default in `defaults` (a question
        added to the rule base after the run), else UNKNOWN."""
        if self.answers is None:
            return None
        defaults = defaults or {}

        def on(side: dict[str, str], q: str) -> str:
            return side.get(q, defaults.get(q, UNKNOWN))

        return [(q, on(self.answers, q), on(answers, q)) for q in dict.fromkeys([*self.answers, *answers])
                if on(self.answers, q) != on(answers, q)]


def validation_path(given: str | os.PathLike) -> Path:
    """validation.json itself, or the one in the folder given."""
    path = Path(given)
    if path.is_dir() or path.suffix.lower() != ".json":
        path = path / VALIDATION_FILE
    return path


def load_validation(given: str | os.PathLike) -> ValidationRun:
    """A validation run from validation.json or its folder, typed; InputError naming the file and field if not."""
    from advisor.modelfiles import read_model_file

    path = validation_path(given)
    if not path.exists():
        raise InputError(f"validation file '{path}' not found (run 'advisor validate' to create it, "
                         "or give validation.json or the folder holding it)")
    run: ValidationRun = read_model_file(path, ValidationRun, "validation file")
    return run
