"""Score any backend the same way on held-out pairs: retrieval, answers, the closed-book baseline, latency.

Shared by RAG, fine-tuning, hybrid and validate, so their numbers compare one for one. Light at import:
the generator is imported only when a baseline has to be generated.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from advisor.atomic import write_text
from advisor.backends.base import Answer, Backend, BuildSettings, QAPair
from advisor.backends.distributed import from_main, is_main, map_sharded, on_main
from advisor.backends.metrics import Task, answer_in_context, choose_metric, score_all
from advisor.backends.metrics import label as metric_label
from advisor.runrecords import AnswerRecord, Interval, Measurements

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


def bootstrap_ci(
    per_question_a: Sequence[float],
    per_question_b: Sequence[float],
    n: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """Paired bootstrap over questions of mean(a) - mean(b): the difference and its confidence interval.

    `tie` is true when the interval includes 0 (the difference is inside the noise).
    """
    if len(per_question_a) != len(per_question_b):
        raise ValueError(f"paired scores differ in length: {len(per_question_a)} and {len(per_question_b)}")
    m = len(per_question_a)
    if m == 0:
        return Interval(difference=0.0, low=0.0, high=0.0, confidence=confidence, questions=0, tie=True)
    diffs = [a - b for a, b in zip(per_question_a, per_question_b)]
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(m)] for _ in range(m)) / m for _ in range(n))
    tail = (1 - confidence) / 2
    low = means[min(n - 1, int(math.floor(tail * n)))]
    high = means[min(n - 1, int(math.ceil((1 - tail) * n)) - 1)]
    return Interval(difference=round(sum(diffs) / m, 4), low=round(low, 4), high=round(high, 4),
                    confidence=confidence, questions=m, tie=bool(low <= 0 <= high))


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
    """The untouched generator's closed-book answers, cached per (generator, max_new_tokens, prompt) and
    question, so every approach and every re-run reuses them; only missing questions are generated."""
    from advisor.backends.generator import resolve, shared_generator
    from advisor.backends.prompts import closed_book_messages

    if generator is None or isinstance(generator, str):
        name, model = generator or settings.generator, None
        resolved = resolve(name).name
    else:  # an already loaded generator (anything with .name and .chat)
        name, model = generator.name, generator
        resolved = str(generator.name)
    path = _baseline_file(cache_dir or default_baseline_cache(), resolved, settings.new_tokens)
    cached: dict[str, str] = {}
    if path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8")).get("answers", {})
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            cached = {}
    cached = from_main(cached)  # under a launcher every rank answers from the main process's cache
    missing = list(dict.fromkeys(q for q in questions if q not in cached))
    if missing:
        model = model or shared_generator(name, settings.device)
        texts = map_sharded(
            lambda part: model.chat([closed_book_messages(q) for q in part], max_new_tokens=settings.new_tokens),
            missing,
        )
        cached.update(zip(missing, texts))
        record = {"generator": resolved, "max_new_tokens": settings.new_tokens, "answers": cached}
        on_main(write_text, path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return [cached[q] for q in questions]


# ---------------------------------------------------------------- evaluation


def _answer_all(backend: Backend, questions: list[str], batch_size: int, progress: bool, desc: str) -> list[Answer]:
    """Answers in the questions' order; under a launcher each rank answers its shard (progress on the main one)."""
    return map_sharded(lambda part: _answer_shard(backend, part, batch_size, progress and is_main(), desc), questions)


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
) -> Measurements:
    """Score a built backend on held-out pairs; returns the contract's metrics.json fields (plus extras).

    `task` names the metrics (default: by `metrics.choose_metric`, as for a knowledge task when the backend
    retrieves). Retrieval is scored on every held-out pair with a source; answers (and the closed-book
    baseline, from `baseline_generator`: a loaded Generator, a name, None for settings.generator, or False
    to skip) on at most settings.eval_limit of them. For retrieving backends, `retrieval.answer_in_context`
    is the share of answered questions whose reference appears in the chunks given to the generator. With
    `out`, per-question records go to out/answers.jsonl.
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
    answers = _answer_all(backend, questions, batch_size, progress, f"answering ({backend.approach})")
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
    if baseline_generator is not False:
        base_texts = baseline_answers(questions, settings, baseline_generator, baseline_cache)
        base_scores, base_mean = score_all(base_texts, answered, task.reported)
        metrics["baseline"] = {"answers": base_mean}
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
            **({"in_context": in_context[i]} if in_context[i] is not None else {}),
            **({"baseline_response": base_texts[i], "baseline": base_scores[i]} if base_scores else {}),
        }
        for i, (p, a, s) in enumerate(zip(answered, answers, scores))
    ]
    reworded = [p for p in answered if p.paraphrase]
    if reworded:
        para_answers = _answer_all(backend, [p.paraphrase or "" for p in reworded], batch_size, progress,
                                   "paraphrases")
        para_scores, para_mean = score_all([a.text for a in para_answers], reworded, task.reported)
        metrics["paraphrase"] = {"questions": len(reworded), "answers": para_mean}
        records += [
            {
                "kind": "paraphrase",
                "line": p.line,
                "question": p.paraphrase,
                "gold": p.answer,
                "response": a.text,
                "sources": a.sources,
                "expected_source": p.source,
                **s,
            }
            for p, a, s in zip(reworded, para_answers, para_scores)
        ]
    metrics["eval_seconds"] = round(time.perf_counter() - started, 2)
    if out is not None:
        on_main(
            write_text, Path(out) / ANSWERS_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        )
    return Measurements.model_validate(metrics)


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
    reworded = metrics.paraphrase
    if reworded is not None and ranking in reworded.answers:
        label = f"{metric_label(ranking)} reworded ({reworded.questions})"
        rows.append((label, f"{reworded.answers[ranking]:.3f}", ""))
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


def print_table(metrics: Measurements, file: TextIO | None = None) -> None:
    """Print format_table to the terminal (stdout unless told)."""
    print(format_table(metrics), file=file or sys.stdout)
