"""Score any backend the same way on held-out pairs: retrieval, answers, the closed-book baseline, latency.

Shared by RAG, fine-tuning, hybrid and validate, so their numbers compare one for one. `evaluate` runs three
named steps over one `_Evaluation` (answer, score, record), plus the paraphrase and memorisation checks; the
statistics are in `statistics`, the closed-book answers in `baselines`. Light at import: the generator is
imported only when a baseline has to be generated.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.atomic import write_text
from advisor.backends.base import Answer, Backend, BuildSettings, QAPair
from advisor.backends.baselines import baseline_replies
from advisor.backends.distributed import is_main, map_sharded, on_main
from advisor.backends.generation import Reply, answered_by, questions_per_call
from advisor.backends.metrics import Task, answer_in_context, choose_metric, score_all
from advisor.backends.metrics import label as metric_label
from advisor.backends.statistics import bootstrap_ci, percentile
from advisor.backends.usage import measure_usage
from advisor.runrecords import AnswerRecord, Measurements, Usage

ANSWERS_FILE = "answers.jsonl"


# ---------------------------------------------------------------- retrieval

def retrieval_scores(backend: Backend, pairs: Sequence[QAPair], k: int) -> dict[str, Any] | None:
    """Document recall@k and MRR@k over every pair with a source, scored by document id; None if the backend
    does not retrieve or no pair names its source."""
    scored = [p for p in pairs if p.source]
    if not scored:
        return None
    many = getattr(backend, "retrieve_many", None)
    if many is not None:
        results = map_sharded(lambda questions: many(questions, k), [p.question for p in scored])
    else:
        results = map_sharded(
            lambda questions: [backend.retrieve(q, k) for q in questions], [p.question for p in scored]
        )
    if any(r is None for r in results):
        return None
    hits = 0
    reciprocal = 0.0
    for pair, ranked in zip(scored, results):
        rank = next((i for i, h in enumerate(ranked[:k]) if h.doc_id == pair.source), None)
        if rank is not None:
            hits += 1
            reciprocal += 1 / (rank + 1)
    return {
        "k": k,
        "questions": len(scored),
        "recall_at_k": round(hits / len(scored), 4),
        "mrr": round(reciprocal / len(scored), 4),
    }


# ---------------------------------------------------------------- answering


def _answer_all(backend: Backend, questions: list[str], batch_size: int, progress: bool, desc: str) -> list[Answer]:
    """Answers in the questions' order; under a launcher each rank answers its shard (progress on the main one)."""
    return map_sharded(lambda part: _answer_shard(backend, part, batch_size, progress and is_main(), desc), questions)


def _through_endpoint(backend: Backend, settings: BuildSettings) -> bool:
    """True when this arm's answers come from the run's endpoint rather than an in-process model."""
    from advisor.backends.generation import through_endpoint

    return settings.endpoint is not None and through_endpoint(backend.approach)


def _answer_shard(backend: Backend, questions: list[str], batch_size: int, progress: bool, desc: str) -> list[Answer]:
    """Answers to one shard of questions, batch by batch, each timed (behind a progress bar when asked)."""
    bar = None
    if progress and questions:
        from tqdm import tqdm

        bar = tqdm(total=len(questions), desc=desc, unit="question", leave=False)
    answers: list[Answer] = []
    try:
        for start in range(0, len(questions), batch_size):
            batch = questions[start : start + batch_size]
            t0 = time.perf_counter()
            got = backend.answer_many(batch)
            spent = time.perf_counter() - t0
            for answer in got:  # backends that do not time their answers get the batch's share
                if not answer.seconds:
                    answer.seconds = spent / len(batch)
            answers += got
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return answers


# ---------------------------------------------------------------- evaluation


@dataclass
class _Evaluation:
    """One evaluation's inputs and what its steps have produced so far: answers, scores, baseline, records.

    `metrics` is filled step by step in the order metrics.json lists it; the steps run in `evaluate`'s order.
    """

    backend: Backend
    settings: BuildSettings
    task: Task
    answered: list[QAPair]  # the held-out pairs that get answered (at most eval_limit)
    progress: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    answering_seconds: float = 0.0
    endpoint: Any = None  # the run's endpoint when this arm answers through it
    scores: list[dict[str, float]] = field(default_factory=list)
    in_context: list[bool | None] = field(default_factory=list)
    base_texts: list[str] = field(default_factory=list)
    base_scores: list[dict[str, float]] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def questions(self) -> list[str]:
        """The answered pairs' questions, as written."""
        return [p.question for p in self.answered]

    def answer(self) -> None:
        """Answer the held-out questions (in batches, or as many per call as the endpoint takes), timed."""
        settings, backend = self.settings, self.backend
        self.endpoint = settings.endpoint if _through_endpoint(backend, settings) else None
        per_call = questions_per_call(settings) if self.endpoint is not None else settings.batch_size
        started = time.perf_counter()
        self.answers = _answer_all(backend, self.questions, per_call, self.progress,
                                   f"answering ({backend.approach})")
        self.answering_seconds = time.perf_counter() - started

    def score(self) -> None:
        """Score the answers against the references, and whether each reference was in the retrieved context."""
        answered, metrics = self.answered, self.metrics
        self.scores, metrics["answers"] = score_all([a.text for a in self.answers], answered, self.task.reported)
        self.in_context = [
            answer_in_context("\n".join(h.text for h in a.hits), p.references) if a.hits else None
            for a, p in zip(self.answers, answered)
        ]
        if any(flag is not None for flag in self.in_context):
            shown = [flag for flag in self.in_context if flag is not None]
            metrics.setdefault("retrieval", {})["answer_in_context"] = round(sum(shown) / len(answered), 4)
            used = [s[self.task.metric] for s, flag in zip(self.scores, self.in_context) if flag]
            metrics["retrieval"]["metric_when_in_context"] = round(sum(used) / len(used), 4) if used else None

    def compare_to_baseline(self, generator: Any, cache: Path | None) -> None:
        """Score the untouched model's closed-book answers beside the arm's, with a paired bootstrap per metric.

        `generator` as `evaluate`'s `baseline_generator` (False: no baseline); an endpoint failing leaves the
        arm compared without it, its error recorded."""
        if generator is False:
            return
        from advisor.backends.endpoint import EndpointError

        settings, metrics, reported = self.settings, self.metrics, self.task.reported
        started = time.perf_counter()
        try:
            replies: list[Reply] | None = baseline_replies(self.questions, settings, generator, cache)
        except EndpointError as exc:  # the arm's own answers stand; it is compared without the untouched model
            metrics["baseline_error"] = str(exc)
            replies = None
        seconds = time.perf_counter() - started
        if replies is None:
            return
        self.base_texts = [r.text for r in replies]
        self.base_scores, base_mean = score_all(self.base_texts, self.answered, reported)
        base_endpoint = settings.endpoint if generator is None else None
        metrics["baseline"] = {"answers": base_mean, "usage": measure_usage(replies, seconds, base_endpoint).to_json()}
        if generator is None:
            metrics["baseline"]["answered_by"] = answered_by(settings, "untouched").to_json()
        scores, base_scores = self.scores, self.base_scores
        metrics["compared_to_baseline"] = (
            {m: bootstrap_ci([s[m] for s in scores], [s[m] for s in base_scores], seed=settings.seed)
             for m in reported if m in scores[0]}
            if scores
            else {}
        )

    def measure_costs(self, build_seconds: float | None, retrieval: dict[str, Any] | None) -> None:
        """Latency percentiles, build time, token usage, who answered and the models used."""
        settings, metrics = self.settings, self.metrics
        latencies = [a.seconds * 1000 for a in self.answers]
        metrics["latency_ms"] = {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "batch_size": settings.batch_size,
        }
        metrics["build_seconds"] = build_seconds
        metrics["usage"] = measure_usage(self.answers, self.answering_seconds, self.endpoint).to_json()
        metrics["answered_by"] = answered_by(settings, self.backend.approach).to_json()
        models = {"generator": settings.generator}
        manifest = self.backend.manifest
        embedder = manifest.models.embedder if manifest is not None else None
        if embedder or retrieval is not None:
            models["embedder"] = embedder or settings.embedder
        metrics["models"] = models

    def record(self) -> None:
        """One answers.jsonl record per answered question: answer, scores, ending, context and baseline."""
        base_scores, in_context = self.base_scores, self.in_context
        self.records += [
            {
                "kind": "answer",
                "line": p.line,
                "question": p.question,
                "gold": p.answer,
                **({"references": list(p.references)} if p.answers else {}),
                "response": a.text,
                "sources": a.sources,
                "expected_source": p.source,
                **s,
                **_ending(a),
                **({"in_context": in_context[i]} if in_context[i] is not None else {}),
                **({"baseline_response": self.base_texts[i], "baseline": base_scores[i]} if base_scores else {}),
            }
            for i, (p, a, s) in enumerate(zip(self.answered, self.answers, self.scores))
        ]

    def ask_reworded(self) -> None:
        """Ask the held-out questions that have a paraphrase reworded, scored beside the same ones as written."""
        has_rewording = [i for i, p in enumerate(self.answered) if p.paraphrase]
        if not has_rewording:
            return
        reported = self.task.reported
        reworded = [self.answered[i] for i in has_rewording]
        asked = [p.paraphrase or "" for p in reworded]
        answers = _answer_all(self.backend, asked, self.settings.batch_size, self.progress, "paraphrases")
        scores, mean = score_all([a.text for a in answers], reworded, reported, asked)
        as_written = score_all([self.answers[i].text for i in has_rewording], reworded, reported)[1]
        self.metrics["paraphrase"] = {"questions": len(reworded), "answers": mean, "original": as_written}
        self.records += _records("paraphrase", reworded, answers, scores, reworded=True)

    def ask_trained(self, trained: Sequence[QAPair]) -> None:
        """Ask training questions that have a paraphrase, as written and reworded: what the arm memorised."""
        memorised = self.settings.answered([p for p in trained if p.paraphrase])
        if not memorised:
            return
        reported = self.task.reported
        reworded = [p.paraphrase or "" for p in memorised]
        got = _answer_all(self.backend, [p.question for p in memorised] + reworded, self.settings.batch_size,
                          self.progress, "training questions, as written and reworded")
        as_written, reworded_answers = got[: len(memorised)], got[len(memorised):]
        written_scores, written_mean = score_all([a.text for a in as_written], memorised, reported)
        reworded_scores, reworded_mean = score_all([a.text for a in reworded_answers], memorised, reported, reworded)
        self.metrics["memorisation"] = {"questions": len(memorised), "original": written_mean,
                                        "reworded": reworded_mean}
        self.records += _records("trained", memorised, as_written, written_scores, reworded=False)
        self.records += _records("trained_paraphrase", memorised, reworded_answers, reworded_scores, reworded=True)


def evaluate(
    backend: Backend,
    test_pairs: Sequence[QAPair],
    settings: BuildSettings | None = None,
    *,
    task: Task | None = None,
    baseline_generator: Any = None,
    out: Path | None = None,
    progress: bool = True,
    baseline_cache: Path | None = None,
    build_seconds: float | None = None,
    trained: Sequence[QAPair] = (),
) -> Measurements:
    """Score a built backend on held-out pairs; returns the contract's metrics.json fields (plus extras).

    `task` names the metrics (default: by `metrics.choose_metric`, as for a knowledge task when the backend
    retrieves). Retrieval is scored on every held-out pair with a source; answers (and the closed-book
    baseline, from `baseline_generator`: a loaded Generator, a name, None for settings.generator, or False
    to skip) on at most settings.eval_limit of them. For retrieving backends, `retrieval.answer_in_context`
    is the share of answered questions whose reference appears in the chunks given to the generator.
    Held-out pairs with a `paraphrase` are also asked reworded, and scored beside the same pairs as written.
    `trained` (the training pairs of an arm that learned from them) checks memorisation: those with a
    `paraphrase` (at most eval_limit) are asked as written and reworded. With `out`, per-question records go
    to out/answers.jsonl.
    """
    settings = settings or backend.settings
    started = time.perf_counter()
    pairs = list(test_pairs)
    task = task or choose_metric(pairs, backend.retrieves, settings.metric)
    run = _Evaluation(backend, settings, task, settings.answered(pairs), progress)
    run.metrics.update({"approach": backend.approach, "questions": len(run.answered), "metric": task.metric,
                        "metric_reason": task.reason, "task": task.kind})
    retrieval = retrieval_scores(backend, pairs, settings.k)
    if retrieval is not None:
        run.metrics["retrieval"] = retrieval
    run.answer()
    run.score()
    run.compare_to_baseline(baseline_generator, baseline_cache)
    run.measure_costs(build_seconds, retrieval)
    run.record()
    run.ask_reworded()
    run.ask_trained(trained)
    run.metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        on_main(write_text, Path(out) / ANSWERS_FILE,
                "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in run.records))
    return Measurements.model_validate(run.metrics)


def _records(kind: str, pairs: Sequence[QAPair], answers: Sequence[Answer], scores: Sequence[dict[str, float]],
             reworded: bool) -> list[dict[str, Any]]:
    """answers.jsonl lines of one kind: the question asked (reworded or as written), the answer and its scores."""
    return [
        {
            "kind": kind,
            "line": p.line,
            "question": (p.paraphrase or "") if reworded else p.question,
            "gold": p.answer,
            "response": a.text,
            "sources": a.sources,
            "expected_source": p.source,
            **s,
            **_ending(a),
        }
        for p, a, s in zip(pairs, answers, scores)
    ]


def _ending(answer: Answer) -> dict[str, Any]:
    """How an answer ended and its tokens, for its record: empty and length-cut answers are marked as such."""
    fields: dict[str, Any] = {}
    if answer.finish_reason is not None:
        fields["finish_reason"] = answer.finish_reason
    if not answer.text.strip():
        fields["empty"] = True
    if answer.prompt_tokens is not None:
        fields["prompt_tokens"] = answer.prompt_tokens
    if answer.completion_tokens is not None:
        fields["completion_tokens"] = answer.completion_tokens
    return fields


def read_answers(out: Path, kind: str = "answer") -> list[AnswerRecord]:
    """Per-question records of an evaluation (for bootstrap intervals across approaches), typed."""
    from advisor.datafiles import parse_json
    from advisor.modelfiles import check_model

    path = Path(out) / ANSWERS_FILE
    with open(path, encoding="utf-8") as handle:
        records = [check_model(parse_json(text, f"{path}:{n}"), AnswerRecord, f"{path}:{n}", "answer record")
                   for n, text in enumerate(handle, 1) if text.strip()]
    return [r for r in records if r.kind == kind]


# ---------------------------------------------------------------- display


def format_table(metrics: Measurements) -> str:
    """A short aligned summary of an arm's measurements, beside the closed-book baseline."""
    approach = metrics.approach or "?"
    base = metrics.baseline.answers if metrics.baseline else {}
    rows: list[tuple[str, str, str]] = [("", approach, "baseline" if base else "")]
    for m, value in metrics.answers.items():
        rows.append((metric_label(m), f"{value:.3f}", f"{base[m]:.3f}" if m in base else ""))
    ranking = metrics.metric or "f1"
    name = metric_label(ranking)
    reworded = metrics.paraphrase
    if reworded is not None and ranking in reworded.answers:
        if ranking in reworded.original:
            rows.append((f"{name} as written ({reworded.questions})", f"{reworded.original[ranking]:.3f}", ""))
        rows.append((f"{name} reworded ({reworded.questions})", f"{reworded.answers[ranking]:.3f}", ""))
    trained = metrics.memorisation
    if trained is not None and ranking in trained.original and ranking in trained.reworded:
        rows.append((f"{name} training questions, as written / reworded ({trained.questions})",
                     f"{trained.original[ranking]:.3f} / {trained.reworded[ranking]:.3f}", ""))
    r = metrics.retrieval
    if r is not None and r.recall_at_k is not None:
        rows.append((f"recall@{r.k} ({r.questions})", f"{r.recall_at_k:.3f}", ""))
        rows.append((f"MRR@{r.k}", f"{r.mrr or 0.0:.3f}", ""))
    if r is not None and r.answer_in_context is not None:
        rows.append(("answer in context", f"{r.answer_in_context:.3f}", ""))
    lat = metrics.latency_ms
    if lat is not None and lat.p50 is not None and lat.p95 is not None:
        rows.append(("latency p50 / p95", f"{lat.p50:.0f} / {lat.p95:.0f} ms", ""))
    if metrics.build_seconds is not None:
        rows.append(("build", f"{metrics.build_seconds:.1f} s", ""))
    rows += _usage_rows(metrics)
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    title = f"{approach}: {metrics.questions or 0} held-out questions answered, ranked by {ranking}"
    if metrics.interrupted:
        title += " (INTERRUPTED)"
    lines = [title] + [
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
        for row in rows
    ]
    ci = metrics.compared_to_baseline.get(ranking)
    if ci:
        verdict = "inside the noise (a tie)" if ci.tie else "outside the noise"
        lines.append(
            f"{metric_label(ranking)} difference vs baseline {ci.difference:+.3f} "
            f"[{ci.low:+.3f}, {ci.high:+.3f}] 95% CI, {verdict}"
        )
    return "\n".join(lines)


def _usage_rows(metrics: Measurements) -> list[tuple[str, str, str]]:
    """Who answered, tokens, cost and throughput, beside the untouched model's where it has them."""
    rows: list[tuple[str, str, str]] = []
    base = metrics.baseline
    if metrics.answered_by is not None:
        rows.append(("answered by", metrics.answered_by.describe(),
                     base.answered_by.describe() if base and base.answered_by else ""))
    usage, base_usage = metrics.usage, base.usage if base else None

    def tokens(u: Usage | None) -> str:
        if u is None or u.prompt_tokens_per_answer is None or u.completion_tokens_per_answer is None:
            return ""
        return f"{u.prompt_tokens_per_answer:.0f} / {u.completion_tokens_per_answer:.0f}"

    def cost(u: Usage | None) -> str:
        if u is None or u.cost_per_1000_answers is None:
            return ""
        return f"{u.cost_per_1000_answers:.4g} {u.currency or ''}".strip()

    if tokens(usage):
        rows.append(("tokens in / out per answer", tokens(usage), tokens(base_usage)))
    if cost(usage):
        rows.append(("cost per 1,000 answers", cost(usage), cost(base_usage)))
    if usage is not None and usage.answers_per_second is not None:
        rows.append(("answers per second", f"{usage.answers_per_second:.2f}", ""))
    if usage is not None and (usage.empty or usage.cut):
        rows.append(("empty / cut by the token limit", f"{usage.empty} / {usage.cut}", ""))
    return rows
