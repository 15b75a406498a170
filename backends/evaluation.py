"""Score any backend the same way on held-out pairs: retrieval, answers, the closed-book baseline, latency.

Shared by RAG, fine-tuning, hybrid and validate, so their numbers compare one for one. Light at import:
the generator is imported only when a baseline has to be generated.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from advisor.atomic import write_text
from advisor.backends.base import Answer, Backend, BuildSettings, QAPair
from advisor.backends.generation import Reply, answered_by, questions_per_call
from advisor.backends.distributed import from_main, is_main, map_sharded, on_main
from advisor.backends.metrics import Task, answer_in_context, choose_metric, score_all
from advisor.backends.metrics import label as metric_label
from advisor.backends.usage import measure_usage
from advisor.runrecords import AnswerRecord, Interval, Measurements, Usage

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


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


BOOTSTRAP_RESAMPLES = 10_000  # fine enough for p-values near 0.05 / 10, the strictest step of Holm's adjustment
_BLOCK = 1000  # resamples drawn at a time, so memory stays bounded whatever the number of questions


def bootstrap_ci(
    per_question_a: Sequence[float],
    per_question_b: Sequence[float],
    n: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """Paired bootstrap over questions of mean(a) - mean(b): the difference, its confidence interval and a
    two-sided p-value from the same resamples (twice the smaller share of resampled means on either side of
    0, counted with the observed one so it is never 0).

    `tie` is true when the interval includes 0 (the difference is inside the noise of this one comparison).
    """
    import numpy as np

    if len(per_question_a) != len(per_question_b):
        raise ValueError(f"paired scores differ in length: {len(per_question_a)} and {len(per_question_b)}")
    m = len(per_question_a)
    if m == 0:
        return Interval(difference=0.0, low=0.0, high=0.0, confidence=confidence, questions=0, tie=True,
                        p_value=1.0)
    diffs = np.asarray(per_question_a, dtype=float) - np.asarray(per_question_b, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.concatenate([diffs[rng.integers(0, m, size=(min(_BLOCK, n - start), m))].mean(axis=1)
                            for start in range(0, n, _BLOCK)])
    means.sort()
    tail = (1 - confidence) / 2
    low = float(means[min(n - 1, int(math.floor(tail * n)))])
    high = float(means[min(n - 1, int(math.ceil((1 - tail) * n)) - 1)])
    eps = 1e-12  # means of the same resampled values can differ from 0 by rounding alone
    side = min(int((means <= eps).sum()), int((means >= -eps).sum()))
    p_value = min(1.0, 2 * (side + 1) / (n + 1))
    return Interval(difference=round(float(diffs.mean()), 4), low=round(low, 4), high=round(high, 4),
                    confidence=confidence, questions=m, tie=bool(low <= 0 <= high), p_value=round(p_value, 5))


# ---------------------------------------------------------------- the closed-book baseline


def default_baseline_cache() -> Path:
    """Where closed-book answers are cached across builds and approaches: <advisor cache>/baselines."""
    from advisor.backends.generator import cache_root

    return cache_root() / "baselines"


def _baseline_file(cache_dir: Path, generator: str, max_new_tokens: int) -> Path:
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


# ---------------------------------------------------------------- evaluation


def _answer_all(backend: Backend, questions: list[str], batch_size: int, progress: bool, desc: str) -> list[Answer]:
    """Answers in the questions' order; under a launcher each rank answers its shard (progress on the main one)."""
    return map_sharded(lambda part: _answer_shard(backend, part, batch_size, progress and is_main(), desc), questions)


def _through_endpoint(backend: Backend, settings: BuildSettings) -> bool:
    from advisor.backends.generation import through_endpoint

    return settings.endpoint is not None and through_endpoint(backend.approach)


def _answer_shard(backend: Backend, questions: list[str], batch_size: int, progress: bool, desc: str) -> list[Answer]:
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
    answered = settings.answered(pairs)
    task = task or choose_metric(pairs, backend.retrieves, settings.metric)
    batch_size = settings.batch_size
    metrics: dict[str, Any] = {
        "approach": backend.approach,
        "questions": len(answered),
        "metric": task.metric,
        "metric_reason": task.reason,
        "task": task.kind,
    }

    retrieval = retrieval_scores(backend, pairs, settings.k)
    if retrieval is not None:
        metrics["retrieval"] = retrieval

    questions = [p.question for p in answered]
    endpoint = settings.endpoint if _through_endpoint(backend, settings) else None
    per_call = questions_per_call(settings) if endpoint is not None else batch_size
    answering = time.perf_counter()
    answers = _answer_all(backend, questions, per_call, progress, f"answering ({backend.approach})")
    answering = time.perf_counter() - answering
    scores, metrics["answers"] = score_all([a.text for a in answers], answered, task.reported)
    in_context = [
        answer_in_context("\n".join(h.text for h in a.hits), p.references) if a.hits else None
        for a, p in zip(answers, answered)
    ]
    if any(flag is not None for flag in in_context):
        shown = [flag for flag in in_context if flag is not None]
        metrics.setdefault("retrieval", {})["answer_in_context"] = round(sum(shown) / len(answered), 4)
        used = [s[task.metric] for s, flag in zip(scores, in_context) if flag]
        metrics["retrieval"]["metric_when_in_context"] = round(sum(used) / len(used), 4) if used else None

    base_scores: list[dict[str, float]] | None = None
    base_texts: list[str] = []
    base_replies: list[Reply] | None = None
    if baseline_generator is not False:
        from advisor.backends.endpoint import EndpointError

        started_baseline = time.perf_counter()
        try:
            base_replies = baseline_replies(questions, settings, baseline_generator, baseline_cache)
        except EndpointError as exc:  # the arm's own answers stand; it is compared without the untouched model
            metrics["baseline_error"] = str(exc)
        base_seconds = time.perf_counter() - started_baseline
    if base_replies is not None:
        base_texts = [r.text for r in base_replies]
        base_scores, base_mean = score_all(base_texts, answered, task.reported)
        base_endpoint = settings.endpoint if baseline_generator is None else None
        metrics["baseline"] = {"answers": base_mean,
                               "usage": measure_usage(base_replies, base_seconds, base_endpoint).to_json()}
        if baseline_generator is None:
            metrics["baseline"]["answered_by"] = answered_by(settings, "untouched").to_json()
        metrics["compared_to_baseline"] = (
            {
                m: bootstrap_ci([s[m] for s in scores], [s[m] for s in base_scores], seed=settings.seed)
                for m in task.reported
                if m in scores[0]
            }
            if scores
            else {}
        )

    latencies = [a.seconds * 1000 for a in answers]
    metrics["latency_ms"] = {
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
        "batch_size": batch_size,
    }
    metrics["build_seconds"] = build_seconds
    metrics["usage"] = measure_usage(answers, answering, endpoint).to_json()
    metrics["answered_by"] = answered_by(settings, backend.approach).to_json()
    models = {"generator": settings.generator}
    embedder = backend.manifest.models.embedder if backend.manifest is not None else None
    if embedder or retrieval is not None:
        models["embedder"] = embedder or settings.embedder
    metrics["models"] = models

    records = [
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
            **({"baseline_response": base_texts[i], "baseline": base_scores[i]} if base_scores else {}),
        }
        for i, (p, a, s) in enumerate(zip(answered, answers, scores))
    ]
    has_rewording = [i for i, p in enumerate(answered) if p.paraphrase]
    if has_rewording:
        reworded = [answered[i] for i in has_rewording]
        para_answers = _answer_all(backend, [p.paraphrase or "" for p in reworded], batch_size, progress,
                                   "paraphrases")
        para_scores, para_mean = score_all([a.text for a in para_answers], reworded, task.reported,
                                           [p.paraphrase or "" for p in reworded])
        metrics["paraphrase"] = {"questions": len(reworded), "answers": para_mean,
                                 "original": score_all([answers[i].text for i in has_rewording], reworded,
                                                       task.reported)[1]}
        records += _records("paraphrase", reworded, para_answers, para_scores, reworded=True)
    memorised = settings.answered([p for p in trained if p.paraphrase])
    if memorised:
        asked = [p.question for p in memorised] + [p.paraphrase or "" for p in memorised]
        got = _answer_all(backend, asked, batch_size, progress, "training questions, as written and reworded")
        as_written, reworded_answers = got[: len(memorised)], got[len(memorised):]
        written_scores, written_mean = score_all([a.text for a in as_written], memorised, task.reported)
        reworded_scores, reworded_mean = score_all([a.text for a in reworded_answers], memorised, task.reported,
                                                   [p.paraphrase or "" for p in memorised])
        metrics["memorisation"] = {"questions": len(memorised), "original": written_mean, "reworded": reworded_mean}
        records += _records("trained", memorised, as_written, written_scores, reworded=False)
        records += _records("trained_paraphrase", memorised, reworded_answers, reworded_scores, reworded=True)
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        on_main(
            write_text, Path(out) / ANSWERS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        )
    return Measurements.model_validate(metrics)


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


def print_table(metrics: Measurements, file: TextIO | None = None) -> None:
    """Print format_table to the terminal (stdout unless told)."""
    print(format_table(metrics), file=file or sys.stdout)
