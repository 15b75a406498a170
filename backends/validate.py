"""Validate a recommendation with evidence: build every approach on the user's data, measure them side by
side on one held-out split against the untouched model, and say whether the evidence agrees.

Layout of OUT: one folder per approach (each a normal `advisor build` output, reused on a re-run when its
inputs are unchanged), `validation.json` (contract shape), `report.html` and `report.md`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.atomic import write_text
from advisor.backends import arms
from advisor.backends.base import BuildSettings
from advisor.backends.plan import ArmPlan
from advisor.backends.options import EndpointOptions
from advisor.backends.runner import BuildInputs
from advisor.errors import InputError, first_line
from advisor.samplesize import MEASURABLE_INPUTS, pairs_for
from advisor.runrecords import (
    MANIFEST_FILE,
    PROGRESS_FILE,
    VALIDATION_FILE,
    ArmResult,
    Measurements,
    Stage,
    ValidationRun,
    read_metrics,
)

if TYPE_CHECKING:
    from advisor.engine import Recommendation
    from advisor.models import AnswersFile, RuleBase

STAGE_FILE = "stage.json"
MIN_PAIRS = 20
MIN_TEST = 8
# What a stage measures; raised when evaluation measures more, so that stages measured before are not reused.
EVALUATION_VERSION = 2  # 2: paraphrases beside the same questions as written, memorisation on training pairs


@dataclass
class ValidationInputs:
    """Everything validated before any model loads."""

    rulebase: RuleBase
    recommendation: Recommendation
    project: str | None
    data: BuildInputs
    not_applicable: dict[str, str]
    document: AnswersFile | None = None  # the answers file as read (its costs: feed the report's estimate)


def parse_approaches(text: str | Sequence[str] | None, has_documents: bool = True) -> list[str]:
    """'rag,hybrid' -> ['rag', 'hybrid'], checked; None -> every arm that applies (no retrieval without documents)."""
    needing = arms.needing_documents()
    if text is None:
        return [a for a in arms.names() if has_documents or a not in needing]
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    for name in names:
        arms.get(name, "--approaches: ", "some of")
    if not names:
        raise InputError(f"--approaches: name at least one of {', '.join(arms.names())}")
    if not has_documents:
        from advisor.backends.runner import require_documents

        require_documents(names, f"--approaches {','.join(n for n in names if n in needing)}: ")
    return list(dict.fromkeys(names))


def prepare_validation(
    answers_path: str | Path,
    docs_dir: str | Path | None,
    qa_file: str | Path,
    out_dir: str | Path,
    settings: BuildSettings,
    approaches: Sequence[str] | str | None,
    rules_path: str | Path | None = None,
) -> tuple[ValidationInputs, list[str]]:
    """Check answers, rule base, documents, pairs, options and model names; recommend. No model is loaded."""
    from advisor.answers import load_answers
    from advisor.backends.runner import prepare_build
    from advisor.engine import compile_rules, recommend
    from advisor.rulebase import load_rules

    from advisor.backends.runner import ENDPOINT_CACHE, with_cache

    rulebase = load_rules(rules_path)
    answers_file, answers = load_answers(answers_path, rulebase)
    rec = recommend(compile_rules(rulebase), answers)
    chosen = parse_approaches(approaches, docs_dir is not None)
    settings = with_cache(with_prices(settings, getattr(answers_file, "costs", None), answers_path),
                          Path(out_dir) / ENDPOINT_CACHE)
    untrainable = tuned_not_applicable(settings, chosen)
    measured = [a for a in chosen if a not in untrainable]
    data = prepare_build(measured, docs_dir, qa_file, out_dir, settings,
                         (VALIDATION_FILE, PROGRESS_FILE, *arms.names()), "validation", untouched_beside_tuned=False)
    if len(data.pairs) < MIN_PAIRS:
        raise InputError(
            f"{qa_file}: {len(data.pairs)} question/answer pairs are too few for a meaningful comparison; "
            f"give at least {MIN_PAIRS} ({pairs_for(settings.test_fraction)} or more at --test-fraction "
            f"{settings.test_fraction:g} hold out the {MEASURABLE_INPUTS} inputs that make differences measurable)"
        )
    if len(data.test) < MIN_TEST:
        raise InputError(
            f"--test-fraction {settings.test_fraction} holds out only {len(data.test)} of "
            f"{len(data.pairs)} pairs; at least {MIN_TEST} are needed (raise --test-fraction or add pairs)"
        )
    skipped = {} if docs_dir is not None else {a: "no documents" for a in arms.needing_documents()}
    skipped.update(untrainable)
    project = getattr(answers_file, "project", None)
    return ValidationInputs(rulebase, rec, project, data, skipped, answers_file), measured


def tuned_not_applicable(settings: BuildSettings, chosen: Sequence[str]) -> dict[str, str]:
    """With an endpoint, the tuned arms train --generator in-process; without trainable weights there (--generator
    none, or a name that resolves to no weights) they are not applicable, with the reason and how to enable them."""
    from advisor.backends.generator import resolve

    tuned = [a for a in chosen if arms.get(a).trains]
    if settings.endpoint is None or not tuned:
        return {}
    how = ("an endpoint cannot be trained: give --generator with the endpoint model's base weights (a local "
           "folder, a Hugging Face id in the cache, or a GPU machine that holds them) to measure it")
    if settings.generator.strip().lower() == "none":
        return {a: f"{a} trains weights in-process and --generator is none; {how}" for a in tuned}
    try:
        resolve(settings.generator)
    except InputError as exc:
        return {a: f"{a} trains weights in-process ({exc}); {how}" for a in tuned}
    return {}


def with_prices(settings: BuildSettings, costs: object, answers_path: str | Path) -> BuildSettings:
    """The endpoint's prices: --price-in/--price-out when given, else the answers file's `costs:` token price."""
    endpoint = settings.endpoint
    if endpoint is None:
        return settings
    if endpoint.price_in is not None or endpoint.price_out is not None:
        return replace(settings, endpoint=endpoint.model_copy(update={"price_source": "--price-in/--price-out"}))
    if not costs:
        return settings
    from advisor.analyses.costs import parse_costs

    parsed = parse_costs(costs, str(answers_path))
    per_million = round(parsed.price_per_token * 1e6, 6)
    source = f"{answers_path}: costs ({parsed.price_source})"
    return replace(settings, endpoint=endpoint.model_copy(update={
        "price_in": per_million, "price_out": per_million, "price_source": source, "currency": parsed.currency}))


def fingerprint(plan: ArmPlan, inputs: ValidationInputs) -> str:
    """What a stage's result depends on: documents, pairs, split, task and settings. Same print, same numbers.

    A reused RAG index (`plan.rag_index`) is left out: where the index came from does not change the numbers."""
    payload = {
        "approach": plan.name,
        "evaluation": EVALUATION_VERSION,
        "documents": sorted((d.id, d.sha256) for d in inputs.data.documents),
        "pairs": [(p.question, p.references, p.source, p.paraphrase, p.split) for p in inputs.data.pairs],
        "task": [inputs.data.task.metric, list(inputs.data.task.reported)],
        "settings": plan.settings.to_json(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _reusable(folder: Path, print_: str) -> Measurements | None:
    """The measurements of a finished stage with the same fingerprint, or None (also when unreadable)."""
    try:
        stage = json.loads((folder / STAGE_FILE).read_text(encoding="utf-8"))
        metrics = read_metrics(folder)
    except (OSError, ValueError, InputError):
        return None
    if not isinstance(stage, dict) or stage.get("fingerprint") != print_ or metrics.interrupted:
        return None
    return metrics


class Progress:
    """Stage-by-stage progress with an estimate of the time left, scaled by how fast earlier stages went.

    Given `path`, every step is also written there atomically (state, stage, fraction done, pid of the run).
    """

    def __init__(self, plan: list[tuple[str, float]], echo: Callable[[str], None], path: Path | None = None):
        self.plan, self.echo, self.path = plan, echo, path
        self.done_estimate = 0.0
        self.done_actual = 0.0
        self.started = time.perf_counter()

    def start(self, index: int) -> None:
        name, _ = self.plan[index]
        remaining = sum(est for _, est in self.plan[index:])
        speed = self.done_actual / self.done_estimate if self.done_estimate > 30 else 1.0
        self.echo(f"[{index + 1}/{len(self.plan)}] {name} (about {_minutes(remaining * speed)} left)")
        self._record("running", index, remaining * speed)

    def finish(self, index: int, seconds: float, note: str = "") -> None:
        self.done_estimate += self.plan[index][1]
        self.done_actual += seconds
        self.echo(f"      done in {seconds:.0f} s{note}")

    def done(self) -> None:
        """Record that the run has finished and written its results."""
        self._record("done", len(self.plan), 0.0)

    def _record(self, state: str, index: int, seconds_left: float) -> None:
        if self.path is None:
            return
        total = sum(est for _, est in self.plan) or 1.0
        data = {
            "state": state,
            "stage": self.plan[index][0] if index < len(self.plan) else None,
            "stage_number": min(index + 1, len(self.plan)),
            "stages": len(self.plan),
            "fraction_done": 1.0 if state == "done" else round(self.done_estimate / total, 3),
            "seconds_left": round(seconds_left),
            "pid": os.getpid(),
            "updated": time.time(),
        }
        write_text(self.path, json.dumps(data) + "\n")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _estimate(approaches: Sequence[str], inputs: ValidationInputs, settings: BuildSettings) -> list[tuple[str, float]]:
    answered = settings.answered(inputs.data.test)
    reworded = sum(1 for p in answered if p.paraphrase)
    per_eval = (len(answered) + reworded) * arms.ANSWER_SECONDS
    memorised = 2 * len(settings.answered([p for p in inputs.data.train if p.paraphrase])) * arms.ANSWER_SECONDS
    plan = [("load models", 15.0), (arms.BASELINE_LABEL, len(answered) * arms.ANSWER_SECONDS * 0.5)]
    for approach in approaches:
        arm = arms.get(approach)
        scale = len(inputs.data.documents) / 12 if arm.scales_with == "documents" else len(inputs.data.train) / 50
        answering = per_eval + (memorised if arm.trains else 0.0)
        plan.append((approach, arm.build_seconds * max(scale, 0.2) + answering * arm.answer_factor))
    return plan


def load_models(settings: BuildSettings, approaches: Sequence[str]) -> None:
    """Load the generator (and the embedder, if anything retrieves) once; every stage shares them. With an
    endpoint the untouched model, prompt and rag answer there, and the tuned arms load their own copy."""
    from advisor.backends.generator import generator_for

    if settings.endpoint is None:
        generator_for(settings)
    if any(arms.get(a).embeds for a in approaches):
        from advisor.backends.embedder import shared_embedder

        shared_embedder(settings.embedder, settings.device)


def run_stage(
    plan: ArmPlan,
    inputs: ValidationInputs,
    docs_dir: Path | None,
    qa_file: Path,
    out: Path,
    progress: bool,
) -> tuple[Measurements, bool]:
    """Build and evaluate one arm as its plan says into out/<arm>, or reuse an earlier identical run."""
    from advisor.backends.distributed import on_main
    from advisor.backends.runner import build_and_evaluate

    approach = plan.name
    folder = out / approach
    print_ = fingerprint(plan, inputs)
    reused = on_main(_reusable, folder, print_)
    if reused is not None:
        return reused, True
    metrics = build_and_evaluate(
        approach,
        docs_dir,
        qa_file,
        folder,
        progress=progress,
        baseline_cache=out / ".baseline",
        inputs=inputs.data,
        plan=plan,
    )
    on_main(write_text, folder / STAGE_FILE, json.dumps({"fingerprint": print_, "approach": approach}) + "\n")
    return metrics, False


def validate(
    answers_path: str | Path,
    docs_dir: str | Path | None,
    qa_file: str | Path,
    out_dir: str | Path,
    settings: BuildSettings | None = None,
    *,
    approaches: Sequence[str] | None = None,
    rules_path: str | Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    judge: EndpointOptions | None = None,
) -> ValidationRun:
    """Recommend, build and measure the approaches, write OUT/validation.json and the reports; return the former.

    A backend that fails is recorded as failed with its reason and the others still run; Ctrl-C stops the
    run, and the stages finished so far are reused by the next run with the same inputs. `judge`, an optional
    LLM judge behind an endpoint, grades the responses beside the LLM-free rule, which still ranks the arms.
    """
    from advisor.backends import distributed
    from advisor.backends.data import describe_documents
    from advisor.backends.draftfile import pairs_origin
    from advisor.backends.endpoint import EndpointError
    from advisor.backends.evidence import verdict
    from advisor.backends.baselines import baseline_replies
    from advisor.backends.measure import measure

    out = Path(out_dir)
    inputs, chosen = prepare_validation(answers_path, docs_dir, qa_file, out, settings or BuildSettings(), approaches,
                                        rules_path)
    settings = inputs.data.settings
    answered = settings.answered(inputs.data.test)
    distributed.check_run(list(inputs.data.plans.values()), len(inputs.data.train), len(answered))
    distributed.barrier()  # every rank has checked OUT before any rank writes there
    if settings.endpoint is not None:  # one preflight request: a fault is one line before anything is said or run
        from advisor.backends.preflight import check_endpoint

        check_endpoint(chosen, inputs.data.documents, inputs.data.train, inputs.data.test, settings)
    rec = inputs.recommendation
    first = f"few-shot prompting first, then {rec.recommendation}" if rec.start_with != rec.recommendation \
        else rec.recommendation
    echo(f"recommendation from the answers: {first} (confidence {rec.confidence:.2f})")
    echo(
        f"validating the untouched model, {', '.join(chosen)} on {describe_documents(inputs.data.documents)} and "
        f"{len(inputs.data.pairs)} pairs ({len(inputs.data.train)} for training, {len(inputs.data.test)} held out, "
        f"seed {settings.seed}); "
        f"ranked by {inputs.data.task.metric}"
    )
    for arm, why in inputs.not_applicable.items():
        echo(f"{arm}: not applicable: {why}")
    if settings.endpoint is not None:
        from advisor.backends.generation import answered_by

        echo(f"the untouched model, prompt and rag answer through {answered_by(settings, 'prompt').describe()} "
             f"({settings.endpoint.concurrency} requests in flight)")
    out.mkdir(parents=True, exist_ok=True)

    bar = Progress(_estimate(chosen, inputs, settings), echo, out / PROGRESS_FILE if distributed.is_main() else None)
    stages: list[Stage] = []
    results: dict[str, ArmResult] = {}

    bar.start(0)
    with measure() as m:
        load_models(settings, chosen)
    stages.append(Stage(name="load models", seconds=m.seconds, peak_memory_mb=m.peak_memory_mb))
    bar.finish(0, m.seconds)

    bar.start(1)
    baseline_usage = None
    with measure() as m:
        try:
            replies = baseline_replies([p.question for p in answered], settings, cache_dir=out / ".baseline")
        except EndpointError as exc:  # each arm asks again; where it still fails, it is compared without it
            replies = []
            echo(f"      the untouched model could not be measured: {exc}")
    if replies:
        from advisor.backends.usage import measure_usage

        baseline_usage = measure_usage(replies, m.seconds, settings.endpoint)
    stages.append(Stage(name=arms.BASELINE_LABEL, seconds=m.seconds))
    bar.finish(1, m.seconds)

    for i, approach in enumerate(chosen, 2):
        bar.start(i)
        plan = inputs.data.plans[approach]
        if all(arms.get(a).trains for a in chosen[i - 2:]):  # the memory check counted on one copy of the weights
            from advisor.backends.generator import release_shared

            release_shared()
        source = plan.arm.reuses_index_of
        if source is not None and (out / source / MANIFEST_FILE).is_file():  # this run's stage of it built it
            plan = replace(plan, rag_index=str(out / source))
        started = time.perf_counter()
        try:
            metrics, reused = run_stage(
                plan,
                inputs,
                Path(docs_dir) if docs_dir is not None else None,
                Path(qa_file),
                out,
                progress,
            )
            results[approach] = ArmResult.model_validate({"status": "ok", **metrics.to_json()})
            note = " (reused the earlier run: same inputs)" if reused else ""
        except KeyboardInterrupt:
            echo(f"interrupted during {approach}; finished stages are kept and reused by the next run")
            raise
        except Exception as exc:  # one backend failing must not sink the others
            reason = first_line(exc)
            results[approach] = ArmResult(status="failed", approach=approach, error=reason)
            note = f" — FAILED: {reason}"
        seconds = time.perf_counter() - started
        stages.append(Stage(name=approach, seconds=round(seconds, 2), build_seconds=results[approach].build_seconds,
                            eval_seconds=results[approach].eval_seconds))
        bar.finish(i, seconds, note)

    judged = None
    if judge is not None and distributed.is_main():
        from advisor.backends.judge import judge_run
        from advisor.backends.runner import with_cache

        judge = with_cache(BuildSettings(endpoint=judge), out / ".judge-cache").endpoint
        assert judge is not None
        echo(f"judging the responses with {judge.model} (never the default: the LLM-free rule still ranks)")
        judged = judge_run(judge, out, [a for a in arms.names() if a in results and results[a].ok],
                           inputs.data.task.metric, settings.seed)
        for arm, score in judged[1].items():
            if arm in results:
                results[arm].judge = score
    validation = summarise_run(rec, inputs, results, settings, out)
    validation.pairs_origin = pairs_origin(qa_file, len(inputs.data.pairs))
    if validation.pairs_origin is not None:  # the verdict says where its pairs came from
        validation.verdict = verdict(validation)
    if judged is not None:
        validation.judge = judged[0]
        if validation.baseline is not None and "untouched" in judged[1]:
            validation.baseline.judge = judged[1]["untouched"]
    if validation.baseline is not None and baseline_usage is not None and baseline_usage.answers_per_second:
        validation.baseline.usage = baseline_usage  # timed when generated, before the arms read it from the cache
    validation.stages = stages
    validation.total_seconds = round(time.perf_counter() - bar.started, 1)
    distributed.on_main(write_text, out / VALIDATION_FILE, validation.to_text())
    distributed.on_main(write_reports, out, rec, inputs, validation, answers_path)
    bar.done()
    return validation


def summarise_run(
    rec: Recommendation, inputs: ValidationInputs, results: dict[str, ArmResult], settings: BuildSettings, out: Path
) -> ValidationRun:
    """Read each arm's per-question records from OUT and hand everything to evidence.summarise."""
    from advisor.backends.evaluation import read_answers
    from advisor.backends.evidence import summarise

    metric = inputs.data.task.metric
    ok = [a for a in arms.names() if a in results and results[a].ok]
    records = {a: read_answers(out / a) for a in ok}
    per_q = {a: {r.line: r.score(metric) or 0.0 for r in rows} for a, rows in records.items()}
    base_q = next(({r.line: s for r in rows if (s := r.baseline_score(metric)) is not None}
                   for rows in records.values()), {})
    counts = {"questions": len(settings.answered(inputs.data.test)), "held_out": len(inputs.data.test),
              "train_pairs": len(inputs.data.train),
              "pinned": int(any(p.split for p in inputs.data.pairs))}  # the pairs' split fields fixed the split
    return summarise(rec, inputs.data.task, results, inputs.not_applicable, per_q, base_q, records, settings, counts)


def write_reports(
    out: Path, rec: Recommendation, inputs: ValidationInputs, validation: ValidationRun, answers_path: str | Path
) -> None:
    """report.html and report.md in OUT, with the evidence section: the one report path of `advisor report
    ANSWERS --validation OUT` (robustness, few-shot prompting first, unknowns and costs included)."""
    from advisor import assessment
    from advisor.engine import compile_rules
    from advisor.models import AnswersFile

    document = inputs.document or AnswersFile(version=1, project=inputs.project, answers=dict(rec.answers))
    result = assessment.assess(document, dict(rec.answers), inputs.rulebase, compile_rules(inputs.rulebase),
                               str(answers_path))
    for name, fmt in (("report.html", "html"), ("report.md", "markdown")):
        write_text(out / name, assessment.render_report(result, fmt, answers_file=str(answers_path),
                                                        validation=validation))
