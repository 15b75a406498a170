"""Validate a recommendation with evidence: build every approach on the user's data, measure them side by
side on one held-out split against the untouched model, and say whether the evidence agrees.

Layout of OUT: one folder per approach (each a normal `advisor build` output, reused on a re-run when its
inputs are unchanged), `validation.json` (contract shape), `report.html` and `report.md`.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from advisor.atomic import write_text
from advisor.backends.base import APPROACHES, BuildSettings, Document, QAPair
from advisor.errors import InputError, did_you_mean

VALIDATION_FILE = "validation.json"
STAGE_FILE = "stage.json"
MIN_PAIRS = 20
MIN_TEST = 8
# Cheapest first: a tie in the measurements goes to the approach that is cheaper to build and run.
COST_ORDER = ("rag", "fine-tuning", "hybrid")
SHORT_ANSWER_WORDS = 5
# Rough seconds per unit on 2 CPU cores with the default models; only for the time-left estimate.
_ESTIMATE = {"answer": 1.0, "rag": 20.0, "fine-tuning": 100.0, "hybrid": 300.0}


@dataclass
class Inputs:
    """Everything validated before any model loads."""

    rulebase: Any
    recommendation: Any
    project: str | None
    documents: list[Document]
    pairs: list[QAPair]
    train: list[QAPair]
    test: list[QAPair]


def parse_approaches(text: str | Sequence[str] | None) -> list[str]:
    """'rag,hybrid' → ['rag', 'hybrid'], checked; None → all three."""
    if text is None:
        return list(APPROACHES)
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    for name in names:
        if name not in APPROACHES:
            raise InputError(f"--approaches: unknown approach '{name}' (expected some of {', '.join(APPROACHES)})"
                             f"{did_you_mean(name, APPROACHES)}")
    if not names:
        raise InputError(f"--approaches: name at least one of {', '.join(APPROACHES)}")
    return list(dict.fromkeys(names))


def prepare(answers_path: str | Path, docs_dir: str | Path, qa_file: str | Path, out_dir: str | Path,
            settings: BuildSettings, approaches: Sequence[str], rules_path: str | Path | None = None) -> Inputs:
    """Check answers, rule base, documents, pairs, options and model names; recommend. No model is loaded."""
    from advisor.answers import load_answers
    from advisor.backends.data import load_documents, load_pairs, split_pairs
    from advisor.backends.runner import check_settings
    from advisor.engine import compile_rules, recommend
    from advisor.rulebase import load_rules

    rulebase = load_rules(rules_path)
    answers_file, answers = load_answers(answers_path, rulebase)
    rec = recommend(compile_rules(rulebase), answers)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / VALIDATION_FILE).exists() and \
            not any((out / a).is_dir() for a in APPROACHES):
        raise InputError(f"--out {out} holds other files and no earlier validation; choose a new or empty folder")
    for approach in approaches:
        check_settings(approach, settings)
    documents = load_documents(docs_dir)
    pairs = load_pairs(qa_file, documents)
    if len(pairs) < MIN_PAIRS:
        raise InputError(f"{qa_file}: {len(pairs)} question/answer pairs are too few for a meaningful comparison; "
                         f"give at least {MIN_PAIRS} (60 or more make differences between approaches measurable)")
    train, test = split_pairs(pairs, settings.test_fraction, settings.seed)
    if len(test) < MIN_TEST:
        raise InputError(f"--test-fraction {settings.test_fraction} holds out only {len(test)} of {len(pairs)} pairs; "
                         f"at least {MIN_TEST} are needed (raise --test-fraction or add pairs)")
    return Inputs(rulebase, rec, getattr(answers_file, "project", None), documents, pairs, train, test)


def fingerprint(approach: str, inputs: Inputs, settings: BuildSettings) -> str:
    """What a stage's result depends on: documents, pairs, split and settings. Same print, same numbers."""
    payload = {
        "approach": approach,
        "documents": sorted((d.id, d.sha256) for d in inputs.documents),
        "pairs": [(p.question, p.answer, p.source, p.paraphrase) for p in inputs.pairs],
        "settings": {k: v for k, v in asdict(settings).items() if k != "extra"},
        "extra": {k: v for k, v in sorted(settings.extra.items()) if k != "rag_index"},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _reusable(folder: Path, print_: str) -> dict[str, Any] | None:
    """The metrics of a finished stage with the same fingerprint, or None."""
    try:
        stage = json.loads((folder / STAGE_FILE).read_text(encoding="utf-8"))
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stage.get("fingerprint") != print_ or metrics.get("interrupted"):
        return None
    return metrics


class Progress:
    """Stage-by-stage progress with an estimate of the time left, scaled by how fast earlier stages went."""

    def __init__(self, plan: list[tuple[str, float]], echo: Callable[[str], None]):
        self.plan, self.echo = plan, echo
        self.done_estimate = 0.0
        self.done_actual = 0.0
        self.started = time.perf_counter()

    def start(self, index: int) -> None:
        name, _ = self.plan[index]
        remaining = sum(est for _, est in self.plan[index:])
        speed = self.done_actual / self.done_estimate if self.done_estimate > 30 else 1.0
        self.echo(f"[{index + 1}/{len(self.plan)}] {name} (about {_minutes(remaining * speed)} left)")

    def finish(self, index: int, seconds: float, note: str = "") -> None:
        self.done_estimate += self.plan[index][1]
        self.done_actual += seconds
        self.echo(f"      done in {seconds:.0f} s{note}")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _plan(approaches: Sequence[str], inputs: Inputs, settings: BuildSettings) -> list[tuple[str, float]]:
    answered = min(len(inputs.test), settings.eval_limit or len(inputs.test))
    reworded = sum(1 for p in inputs.test[:answered] if p.paraphrase)
    per_eval = (answered + reworded) * _ESTIMATE["answer"]
    plan = [("load models", 15.0), ("closed-book baseline", answered * _ESTIMATE["answer"] * 0.5)]
    for approach in approaches:
        scale = len(inputs.train) / 50 if approach != "rag" else len(inputs.documents) / 12
        plan.append((approach, _ESTIMATE[approach] * max(scale, 0.2) + per_eval * (1.5 if approach != "fine-tuning" else 0.6)))
    return plan


def load_models(settings: BuildSettings, approaches: Sequence[str]) -> None:
    """Load the generator (and the embedder, if anything retrieves) once; every stage shares them."""
    from advisor.backends.generator import shared_generator

    shared_generator(settings.generator, settings.device)
    if any(a in ("rag", "hybrid") for a in approaches):
        from advisor.backends.embedder import shared_embedder

        shared_embedder(settings.embedder, settings.device)


def run_stage(approach: str, inputs: Inputs, docs_dir: Path, qa_file: Path, out: Path,
              settings: BuildSettings, progress: bool) -> tuple[dict[str, Any], bool]:
    """Build and evaluate one approach into out/<approach>, or reuse an earlier identical run."""
    from advisor.backends.distributed import on_main
    from advisor.backends.runner import build_and_evaluate

    folder = out / approach
    print_ = fingerprint(approach, inputs, settings)
    reused = on_main(_reusable, folder, print_)
    if reused is not None:
        return reused, True
    metrics = build_and_evaluate(approach, docs_dir, qa_file, folder, settings, progress=progress,
                                 baseline_cache=out / ".baseline")
    on_main(write_text, folder / STAGE_FILE, json.dumps({"fingerprint": print_, "approach": approach}) + "\n")
    return metrics, False


def validate(answers_path: str | Path, docs_dir: str | Path, qa_file: str | Path, out_dir: str | Path,
             settings: BuildSettings | None = None, *, approaches: Sequence[str] | None = None,
             rules_path: str | Path | None = None, progress: bool = True,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Recommend, build and measure the approaches, write OUT/validation.json and the reports; return the former.

    A backend that fails is recorded as failed with its reason and the others still run; Ctrl-C stops the
    run, and the stages finished so far are reused by the next run with the same inputs.
    """
    from advisor.backends import distributed
    from advisor.backends.evaluation import baseline_answers
    from advisor.backends.measure import measure

    settings = settings or BuildSettings()
    chosen = parse_approaches(approaches)
    out = Path(out_dir)
    inputs = prepare(answers_path, docs_dir, qa_file, out, settings, chosen, rules_path)
    distributed.check_run(chosen, settings, len(inputs.train), len(inputs.test[: settings.eval_limit or None]))
    distributed.barrier()  # every rank has checked OUT before any rank writes there
    rec = inputs.recommendation
    echo(f"recommendation from the answers: {rec.recommendation} (confidence {rec.confidence:.2f})")
    echo(f"validating {', '.join(chosen)} on {len(inputs.documents)} documents and {len(inputs.pairs)} pairs "
         f"({len(inputs.train)} for training, {len(inputs.test)} held out, seed {settings.seed})")
    out.mkdir(parents=True, exist_ok=True)

    plan = _plan(chosen, inputs, settings)
    bar = Progress(plan, echo)
    stages: list[dict[str, Any]] = []
    results: dict[str, dict[str, Any]] = {}
    answered = inputs.test[: settings.eval_limit] if settings.eval_limit else inputs.test

    bar.start(0)
    with measure() as m:
        load_models(settings, chosen)
    stages.append({"name": "load models", "seconds": m.seconds, "peak_memory_mb": m.peak_memory_mb})
    bar.finish(0, m.seconds)

    bar.start(1)
    with measure() as m:
        baseline_answers([p.question for p in answered], settings, cache_dir=out / ".baseline")
    stages.append({"name": "closed-book baseline", "seconds": m.seconds})
    bar.finish(1, m.seconds)

    for i, approach in enumerate(chosen, 2):
        bar.start(i)
        stage_settings = settings
        if approach == "hybrid" and (out / "rag" / "manifest.json").is_file():
            stage_settings = replace(settings, extra={**settings.extra, "rag_index": str(out / "rag")})
        started = time.perf_counter()
        try:
            metrics, reused = run_stage(approach, inputs, Path(docs_dir), Path(qa_file), out, stage_settings, progress)
            results[approach] = {"status": "ok", **metrics}
            note = " (reused the earlier run: same inputs)" if reused else ""
        except KeyboardInterrupt:
            echo(f"interrupted during {approach}; finished stages are kept and reused by the next run")
            raise
        except Exception as exc:  # one backend failing must not sink the others
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            results[approach] = {"status": "failed", "approach": approach, "error": reason}
            note = f" — FAILED: {reason}"
        seconds = time.perf_counter() - started
        stages.append({"name": approach, "seconds": round(seconds, 2),
                       "build_seconds": results[approach].get("build_seconds"),
                       "eval_seconds": results[approach].get("eval_seconds")})
        bar.finish(i, seconds, note)

    validation = summarise(rec, inputs, results, settings, out)
    validation["stages"] = stages
    validation["total_seconds"] = round(time.perf_counter() - bar.started, 1)
    distributed.on_main(write_text, out / VALIDATION_FILE, json.dumps(validation, indent=2, ensure_ascii=False) + "\n")
    distributed.on_main(write_reports, out, rec, inputs, validation, answers_path)
    return validation


# ---------------------------------------------------------------- the evidence


def ranking_metric(pairs: Sequence[QAPair]) -> tuple[str, str]:
    """`contains` where gold answers are short (facts), token F1 where they are long; and why."""
    words = statistics.median(len(p.answer.split()) for p in pairs) if pairs else 0
    if words <= SHORT_ANSWER_WORDS:
        return "contains", (f"gold answers are short (median {words:g} words), so correctness is whether the "
                            "response contains the gold answer; token F1 would reward the answers' form")
    return "f1", f"gold answers are long (median {words:g} words), so token F1 measures correctness better"


def _per_question(out: Path, approach: str, metric: str) -> dict[int, float]:
    from advisor.backends.evaluation import read_answers

    return {r["line"]: float(r[metric]) for r in read_answers(out / approach)}


def _baseline_per_question(out: Path, approach: str, metric: str) -> dict[int, float]:
    from advisor.backends.evaluation import read_answers

    return {r["line"]: float(r["baseline"][metric]) for r in read_answers(out / approach) if "baseline" in r}


def compare(a: dict[int, float], b: dict[int, float], seed: int) -> dict[str, Any]:
    """Bootstrap the mean difference a − b over the questions both answered."""
    from advisor.backends.evaluation import bootstrap_ci

    common = sorted(set(a) & set(b))
    return bootstrap_ci([a[q] for q in common], [b[q] for q in common], seed=seed)


def summarise(rec: Any, inputs: Inputs, results: dict[str, dict[str, Any]], settings: BuildSettings,
              out: Path) -> dict[str, Any]:
    """validation.json: per-approach metrics, the ranking by correctness with ties, the verdict, what to question."""
    metric, reason = ranking_metric(inputs.test)
    ok = [a for a in COST_ORDER if results.get(a, {}).get("status") == "ok"]
    per_q = {a: _per_question(out, a, metric) for a in ok}
    baseline_block = next((results[a].get("baseline") for a in ok if results[a].get("baseline")), None)
    base_q = next((_baseline_per_question(out, a, metric) for a in ok), {})

    comparisons: list[dict[str, Any]] = []
    best_measured, tied = None, []
    if ok:
        top = max(ok, key=lambda a: (results[a]["answers"][metric], -COST_ORDER.index(a)))
        tied = [top]
        for other in ok:
            if other == top:
                continue
            ci = compare(per_q[top], per_q[other], settings.seed)
            comparisons.append(_comparison(top, other, metric, ci))
            if ci["tie"]:
                tied.append(other)
        rest = [a for a in ok if a != top]
        for i, a in enumerate(rest):
            for b in rest[i + 1:]:
                comparisons.append(_comparison(a, b, metric, compare(per_q[a], per_q[b], settings.seed)))
        best_measured = min(tied, key=COST_ORDER.index)
        for a in ok:
            if base_q:
                comparisons.append(_comparison(a, "baseline", metric, compare(per_q[a], base_q, settings.seed)))

    approaches = {a: results.get(a, {"status": "skipped"}) for a in APPROACHES if a in results}
    validation: dict[str, Any] = {
        "version": 1,
        "recommended": rec.recommendation,
        "best_measured": best_measured,
        "agrees": best_measured == rec.recommendation,
        "tied_with_best": sorted(tied, key=COST_ORDER.index),
        "metric": metric,
        "metric_reason": reason,
        "questions": len(inputs.test[: settings.eval_limit] if settings.eval_limit else inputs.test),
        "held_out": len(inputs.test),
        "train_pairs": len(inputs.train),
        "seed": settings.seed,
        "test_fraction": settings.test_fraction,
        "baseline": baseline_block,
        "approaches": approaches,
        "comparisons": comparisons,
        "models": {"generator": settings.generator, "embedder": settings.embedder},
        "answers": rec.answers,
    }
    validation["challenged_answers"] = challenged_answers(rec.answers, validation)
    validation["verdict"] = verdict(validation)
    validation["next_steps"] = next_steps(validation)
    return validation


def _comparison(a: str, b: str, metric: str, ci: dict[str, Any]) -> dict[str, Any]:
    return {"a": a, "b": b, "metric": metric, "difference": ci["difference"], "ci95": [ci["low"], ci["high"]],
            "questions": ci["questions"], "tie": ci["tie"]}


def _score(validation: dict[str, Any], who: str, metric: str | None = None) -> float | None:
    metric = metric or validation["metric"]
    block = validation["baseline"] if who == "baseline" else validation["approaches"].get(who, {})
    if not block or (who != "baseline" and block.get("status") != "ok"):
        return None
    return (block.get("answers") or {}).get(metric)


def _beats(validation: dict[str, Any], a: str, b: str) -> bool:
    """a is better than b beyond the bootstrap noise."""
    for c in validation["comparisons"]:
        if c["a"] == a and c["b"] == b:
            return not c["tie"] and c["difference"] > 0
        if c["a"] == b and c["b"] == a:
            return not c["tie"] and c["difference"] < 0
    return False


def challenged_answers(answers: dict[str, str], validation: dict[str, Any]) -> list[dict[str, str]]:
    """Questionnaire answers that the measurements call into question, each with the numbers that do."""
    m = validation["metric"]
    base = _score(validation, "baseline")
    rag, ft, hyb = (_score(validation, a) for a in ("rag", "fine-tuning", "hybrid"))
    found: list[dict[str, str]] = []

    def add(question: str, evidence: str) -> None:
        found.append({"question": question, "answer": answers.get(question, "unknown"), "evidence": evidence})

    retrieval_lift = max((s for s in (rag, hyb) if s is not None), default=None)
    if base is not None and retrieval_lift is not None:
        lifted = _beats(validation, "rag", "baseline") or _beats(validation, "hybrid", "baseline")
        if answers.get("external_knowledge") in ("none", "unknown") and lifted:
            add("external_knowledge", f"you said little of the knowledge lives outside the model, but closed-book "
                f"{m} was {base:.2f} and retrieval lifted it to {retrieval_lift:.2f}")
        if answers.get("external_knowledge") == "most" and base >= 0.5 and not lifted:
            add("external_knowledge", f"you said most of the knowledge lives outside the model, but the untouched "
                f"model already reached {m} {base:.2f} closed-book and retrieval added nothing measurable")
    if hyb is not None and rag is not None and _beats(validation, "hybrid", "rag") and \
            answers.get("style_adaptation") in ("none", "light", "unknown"):
        add("style_adaptation", f"you said the model's behaviour needs little change, but training it to use the "
            f"retrieved context lifted {m} from {rag:.2f} (retrieval alone) to {hyb:.2f}: the behaviour gap is real")
    if ft is not None and base is not None and answers.get("style_adaptation") == "none":
        ft_f1, base_f1 = _score(validation, "fine-tuning", "f1"), _score(validation, "baseline", "f1")
        if ft_f1 is not None and base_f1 is not None and ft_f1 - base_f1 >= 0.2:
            add("style_adaptation", f"you said the answers' form needs no change, but fine-tuning alone raised token "
                f"F1 from {base_f1:.2f} to {ft_f1:.2f}: the expected form differs from the model's habit")
    if ft is not None and rag is not None and _beats(validation, "rag", "fine-tuning") and \
            answers.get("knowledge_change") in ("static", "yearly") and answers.get("external_knowledge") != "most":
        add("knowledge_change", f"the facts did not go into the weights: fine-tuning reached {m} {ft:.2f} against "
            f"retrieval's {rag:.2f}, so treat the knowledge as external even if it changes rarely")
    return found


def verdict(validation: dict[str, Any]) -> str:
    """A plain-language paragraph: what was measured, what won, whether it agrees, and how sure we can be."""
    m, n = validation["metric"], validation["questions"]
    best, rec = validation["best_measured"], validation["recommended"]
    if best is None:
        return "No approach could be measured: every backend failed (see the table for the reasons)."
    score = _score(validation, best)
    base = _score(validation, "baseline")
    parts = [f"On {n} held-out questions, {best} measured best ({m} {score:.2f}"
             + (f" against {base:.2f} for the untouched model)." if base is not None else ").")]
    others = [a for a in validation["tied_with_best"] if a != best]
    if others:
        parts.append(f"{', '.join(others)} scored within the bootstrap noise of it; the tie goes to {best}, "
                     "the cheaper approach.")
    if validation["agrees"]:
        parts.append(f"This agrees with the questionnaire's recommendation ({rec}).")
    elif rec in validation["tied_with_best"]:
        parts.append(f"The questionnaire recommended {rec}, which is statistically tied with {best}: the evidence "
                     "does not contradict it, but the cheaper approach did as well on this sample.")
    else:
        rec_score = _score(validation, rec)
        got = f" ({m} {rec_score:.2f})" if rec_score is not None else ""
        parts.append(f"This disagrees with the questionnaire, which recommended {rec}{got}.")
    if base is not None and not any(_beats(validation, a, "baseline") for a in validation["approaches"]):
        if base >= 0.5:
            parts.append(f"No approach beat the untouched model ({m} {base:.2f}) beyond the noise: prompting "
                         "alone may be enough.")
        else:
            parts.append("No approach beat the untouched model beyond the bootstrap noise on this sample, so "
                         "the ranking is tentative.")
    if n < 30:
        parts.append(f"With {n} questions, only large differences are measurable; add pairs to sharpen this.")
    return " ".join(parts)


def next_steps(validation: dict[str, Any]) -> list[str]:
    """What to try next, given what was measured."""
    steps: list[str] = []
    rag = validation["approaches"].get("rag", {})
    recall = (rag.get("retrieval") or {}).get("recall_at_k")
    if recall is not None and recall < 0.8:
        steps.append(f"Retrieval found the right document for only {recall:.0%} of questions: tune chunking "
                     "(--chunk-tokens), try a stronger embedder (--embedder), or clean the documents first.")
    ft = validation["approaches"].get("fine-tuning", {})
    ft_c = (ft.get("answers") or {}).get("contains")
    para = ((ft.get("paraphrase") or {}).get("answers") or {}).get("contains")
    if ft_c is not None and para is not None and ft_c - para >= 0.15:
        steps.append(f"The fine-tuned model lost {ft_c - para:.2f} of its {validation['metric']} on reworded "
                     "questions: it memorised wording. Add paraphrased training pairs or keep facts in retrieval.")
    failed = [a for a, r in validation["approaches"].items() if r.get("status") == "failed"]
    if failed:
        steps.append(f"Fix and re-run the failed approach(es): {', '.join(failed)} (finished stages are reused).")
    if validation["questions"] < 30:
        steps.append("Write more question/answer pairs (60+) so that differences between approaches are measurable.")
    steps.append("Repeat with your production model (--generator) on a GPU: a 135M model shows the direction, "
                 "not the final quality.")
    return steps


def write_reports(out: Path, rec: Any, inputs: Inputs, validation: dict[str, Any], answers_path: str | Path) -> None:
    """report.html and report.md in OUT, with the evidence section."""
    from advisor.report import write_report

    for name in ("report.html", "report.md"):
        write_report(out / name, rec, inputs.rulebase, project=inputs.project, answers_file=str(answers_path),
                     validation=validation)
