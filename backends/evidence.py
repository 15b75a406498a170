"""The evidence of a validation, as pure functions of what was measured: ranking with ties, the verdict,
the answers the numbers call into question, next steps, and a few outputs to read side by side.

No file is read and no model is run here: `validate.py` runs the stages and hands the results in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from advisor.backends import arms
from advisor.backends.base import BuildSettings
from advisor.backends.metrics import METRICS, Task
from advisor.outcomes import PROMPT, PROMPT_LABEL
from advisor.samplesize import few_inputs_caveat, sample_advice
from advisor.runrecords import provenance_sentence  # drafted pairs: where the evidence came from
from advisor.runrecords import (
    AnsweredBy,
    AnswerRecord,
    ArmOutput,
    ArmResult,
    ChallengedAnswer,
    Comparison,
    Diagnosis,
    Example,
    Interval,
    Models,
    ValidationRun,
    WeakPart,
)

if TYPE_CHECKING:
    from advisor.engine import Recommendation

BASELINE = arms.BASELINE
EXAMPLES = 4
# Retrieval that puts the answer in front of the model this often, while the arm gains little, points at the
# generator rather than at retrieval.
IN_CONTEXT_GOOD = 0.5

PerQuestion = dict[int, float]


def compare(a: PerQuestion, b: PerQuestion, seed: int) -> Interval:
    """Bootstrap the mean difference a - b over the questions both answered."""
    from advisor.backends.evaluation import bootstrap_ci

    common = sorted(set(a) & set(b))
    return bootstrap_ci([a[q] for q in common], [b[q] for q in common], seed=seed)


def _comparison(a: str, b: str, metric: str, ci: Interval) -> Comparison:
    return Comparison(a=a, b=b, metric=metric, difference=ci.difference, ci95=[ci.low, ci.high],
                      questions=ci.questions, tie=ci.tie)


def rank(ok: Sequence[str], scores: dict[str, float], per_q: dict[str, PerQuestion], base_q: PerQuestion,
         metric: str, seed: int) -> tuple[str | None, list[str], list[Comparison]]:
    """The best measured arm (cheapest of those tied with the top), the tied arms, and every comparison."""
    if not ok:
        return None, [], []
    registered = METRICS.get(metric)
    sign = -1.0 if registered is not None and not registered.higher_is_better else 1.0
    top = max(ok, key=lambda a: (sign * scores[a], -arms.cost_rank(a)))
    tied = [top]
    comparisons: list[Comparison] = []
    for other in ok:
        if other != top:
            ci = compare(per_q[top], per_q[other], seed)
            comparisons.append(_comparison(top, other, metric, ci))
            if ci.tie:
                tied.append(other)
    rest = [a for a in ok if a != top]
    for i, a in enumerate(rest):
        for b in rest[i + 1:]:
            comparisons.append(_comparison(a, b, metric, compare(per_q[a], per_q[b], seed)))
    if base_q:
        comparisons += [_comparison(a, "baseline", metric, compare(per_q[a], base_q, seed)) for a in ok]
    # a tie goes to the arm that is cheaper to build and run
    return min(tied, key=arms.cost_rank), sorted(tied, key=arms.cost_rank), comparisons


def pick_examples(records: Mapping[str, list[AnswerRecord]], metric: str, limit: int = EXAMPLES) -> list[Example]:
    """A few held-out inputs to read: those where the arms' scores differ most, then the first by line; fixed order."""
    measured = [a for a in arms.names() if records.get(a)]
    if not measured:
        return []
    by_arm = {a: {r.line: r for r in records[a]} for a in measured}
    lines = sorted(set.intersection(*(set(rows) for rows in by_arm.values())))

    def spread(line: int) -> float:
        values = [by_arm[a][line].score(metric) or 0.0 for a in measured]
        first = by_arm[measured[0]][line]
        if first.baseline is not None:
            values.append(first.baseline_score(metric) or 0.0)
        return max(values) - min(values)

    chosen = sorted(lines, key=lambda line: (-spread(line), line))[: max(0, limit - 1)]
    chosen += [line for line in lines if line not in chosen][:1]
    examples = []
    for line in sorted(chosen, key=lambda line: (-spread(line), line)):
        first = by_arm[measured[0]][line]
        outputs = {}
        if first.baseline_response is not None:
            outputs[BASELINE] = ArmOutput(text=first.baseline_response, score=first.baseline_score(metric))
        for a in measured:
            outputs[a] = ArmOutput(text=by_arm[a][line].response, score=by_arm[a][line].score(metric))
        examples.append(Example(line=line, input=first.question, references=first.references or [first.gold],
                                outputs=outputs))
    return examples


def summarise(rec: Recommendation, task: Task, results: Mapping[str, ArmResult], not_applicable: dict[str, str],
              per_q: dict[str, PerQuestion], base_q: PerQuestion, records: Mapping[str, list[AnswerRecord]],
              settings: BuildSettings, counts: dict[str, int]) -> ValidationRun:
    """validation.json: per-arm metrics, the ranking by the task's metric with ties, the verdict, what to question."""
    metric = task.metric
    ok = [a for a in arms.names() if a in results and results[a].ok]
    baseline = next((results[a].baseline for a in ok if results[a].baseline), None)
    best_measured, tied, comparisons = rank(ok, {a: results[a].answers[metric] for a in ok}, per_q, base_q,
                                            metric, settings.seed)
    approaches: dict[str, ArmResult] = {}
    for a in arms.names():
        if a in results:
            approaches[a] = results[a]
        elif a in not_applicable:
            approaches[a] = ArmResult(status="not_applicable", reason=not_applicable[a])
    run = ValidationRun(
        version=1,
        recommended=rec.recommendation,
        start_with=rec.start_with,
        best_measured=best_measured,
        agrees=best_measured in (rec.recommendation, rec.start_with),
        prompt_enough=best_measured == "prompt",
        tied_with_best=tied,
        task=task.kind,
        metric=metric,
        metric_reason=task.reason,
        metrics_reported=list(task.reported),
        questions=counts["questions"],
        held_out=counts.get("held_out"),
        train_pairs=counts.get("train_pairs"),
        seed=settings.seed,
        test_fraction=None if counts.get("pinned") else settings.test_fraction,
        split_pinned=bool(counts.get("pinned")),
        baseline=baseline,
        approaches=approaches,
        comparisons=comparisons,
        examples=pick_examples(records, metric),
        models=Models(generator=settings.generator, embedder=settings.embedder),
        answers=dict(rec.answers),
    )
    run.model_warning = model_warning(run)
    lifted = {a for a in ok if run.beats(a, "baseline")}
    run.retrieval_diagnosis = retrieval_diagnosis(approaches, metric, lifted)
    run.challenged_answers = challenged_answers(rec.answers, run)
    run.verdict = verdict(run)
    run.next_steps = next_steps(run)
    return run


def answered_by(run: ValidationRun) -> dict[str, AnsweredBy]:
    """What answered each measured arm (the untouched model as BASELINE), where the run recorded it."""
    found: dict[str, AnsweredBy] = {}
    if run.baseline is not None and run.baseline.answered_by is not None:
        found[BASELINE] = run.baseline.answered_by
    for arm, block in run.approaches.items():
        if block.ok and block.answered_by is not None:
            found[arm] = block.answered_by
    return found


def model_warning(run: ValidationRun) -> str | None:
    """A warning when the arms did not all answer with the same base model (say, an endpoint's model for the
    untouched model, prompt and rag, and the local --generator for the tuned arms); None when they did."""
    from advisor.backends.generation import base_model_key

    who = answered_by(run)
    groups: dict[str, list[str]] = {}
    shown: dict[str, AnsweredBy] = {}
    for arm, by in who.items():
        key = base_model_key(by.model)
        groups.setdefault(key, []).append(arm)
        shown.setdefault(key, by)
    if len(groups) < 2:
        return None
    parts = [f"{', '.join(_name(a) for a in members)} with {shown[key].describe()}"
             for key, members in groups.items()]
    return ("The arms did not all answer with the same base model: " + "; ".join(parts) + ". Differences between "
            "these groups mix the approach with the model; to compare like with like, give --generator the "
            "endpoint model's base weights (or ignore this if they are the same weights under another name).")


def cost_sentence(run: ValidationRun) -> str | None:
    """The measured cost side of the trade-off: tokens per answer (and money at the run's prices) of the best
    arm against the cheapest measured alternative; None when the run measured no tokens."""
    if not any(by.kind == "endpoint" for by in answered_by(run).values()):
        return None  # in-process runs show their tokens in the table; the argument is about a served model
    usage = {a: b.usage for a, b in run.approaches.items() if b.ok and b.usage is not None
             and b.usage.prompt_tokens_per_answer is not None}
    if run.baseline is not None and run.baseline.usage is not None \
            and run.baseline.usage.prompt_tokens_per_answer is not None:
        usage[BASELINE] = run.baseline.usage
    best = run.best_measured
    if best is None or best not in usage or len(usage) < 2:
        return None

    def tokens(arm: str) -> float:
        u = usage[arm]
        return (u.prompt_tokens_per_answer or 0.0) + (u.completion_tokens_per_answer or 0.0)

    def said(arm: str) -> str:
        u = usage[arm]
        money = (f", {u.cost_per_1000_answers:.4g} {u.currency or ''} per 1,000 answers".rstrip()
                 if u.cost_per_1000_answers is not None else "")
        return f"{_name(arm)} {tokens(arm):.0f} tokens an answer ({u.prompt_tokens_per_answer:.0f} in){money}"

    others = sorted((a for a in usage if a != best), key=tokens)
    cheaper = [a for a in others if tokens(a) < tokens(best)]
    if not cheaper:
        return f"Measured cost: {said(best)}, the fewest tokens of the arms measured."
    return f"Measured cost: {said(best)}, against {said(cheaper[0])}."


def retrieval_diagnosis(
    approaches: Mapping[str, ArmResult], metric: str, lifted: set[str] | None = None
) -> list[Diagnosis]:
    """For each retrieving arm: how often the answer was in front of the generator, and how well it used it.

    The weak part is retrieval when the answer reached the prompt for under half the questions; the generator
    when it did reach it but the arm did not beat the untouched model (`lifted`) or scored under 0.5 on them.
    """
    lifted = set(approaches) if lifted is None else lifted
    found = []
    for arm in arms.retrieving():
        block = approaches.get(arm)
        if block is None or not block.ok or block.retrieval is None or block.retrieval.answer_in_context is None:
            continue
        shown = block.retrieval.answer_in_context
        used = block.retrieval.metric_when_in_context
        failed: WeakPart | None
        if shown < IN_CONTEXT_GOOD:
            failed = "retrieval"
        elif arm not in lifted or (used is not None and used < 0.5):
            failed = "generator"
        else:
            failed = None
        found.append(Diagnosis(approach=arm, answer_in_context=shown, metric_when_in_context=used, metric=metric,
                               weak_part=failed))
    return found


def _diagnosis_sentence(d: Diagnosis) -> str:
    used = d.metric_when_in_context
    uses = (
        f"the generator's {d.metric} on those questions is {used:.2f}"
        if used is not None
        else "the generator had no such question to use it on"
    )
    shown = d.answer_in_context
    return f"{d.approach}: retrieval puts the answer in front of the model {shown:.0%} of the time; {uses}"


def challenged_answers(answers: Mapping[str, str], run: ValidationRun) -> list[ChallengedAnswer]:
    """Questionnaire answers that the measurements call into question, each with the numbers that do."""
    m = run.metric
    base = run.score("baseline")
    prompt, rag, ft, hyb = (run.score(a) for a in ("prompt", "rag", "fine-tuning", "hybrid"))
    found: list[ChallengedAnswer] = []

    def add(question: str, evidence: str) -> None:
        found.append(ChallengedAnswer(question=question, answer=answers.get(question, "unknown"), evidence=evidence))

    retrieval_lift = max((s for s in (rag, hyb) if s is not None), default=None)
    if base is not None and retrieval_lift is not None:
        lifted = run.beats("rag", "baseline") or run.beats("hybrid", "baseline")
        if answers.get("external_knowledge") in ("none", "unknown") and lifted:
            add(
                "external_knowledge",
                f"you said little of the knowledge lives outside the model, but closed-book "
                f"{m} was {base:.2f} and retrieval lifted it to {retrieval_lift:.2f}",
            )
        if answers.get("external_knowledge") == "most" and base >= 0.5 and not lifted:
            add(
                "external_knowledge",
                f"you said most of the knowledge lives outside the model, but the untouched "
                f"model already reached {m} {base:.2f} closed-book and retrieval added nothing measurable",
            )
    if (
        hyb is not None
        and rag is not None
        and run.beats("hybrid", "rag")
        and answers.get("style_adaptation") in ("none", "light", "unknown")
    ):
        add(
            "style_adaptation",
            f"you said the model's behaviour needs little change, but training it to use the "
            f"retrieved context lifted {m} from {rag:.2f} (retrieval alone) to {hyb:.2f}: the behaviour gap is real",
        )
    if ft is not None and base is not None and answers.get("style_adaptation") == "none":
        if run.task == "knowledge":
            ft_f1, base_f1 = run.score("fine-tuning", "f1"), run.score("baseline", "f1")
            if ft_f1 is not None and base_f1 is not None and ft_f1 - base_f1 >= 0.2:
                add(
                    "style_adaptation",
                    f"you said the answers' form needs no change, but fine-tuning alone raised "
                    f"token F1 from {base_f1:.2f} to {ft_f1:.2f}: the expected form differs from the model's habit",
                )
        elif run.beats("fine-tuning", "baseline"):
            add(
                "style_adaptation",
                f"you said the output's form needs no change, but fine-tuning raised {m} from "
                f"{base:.2f} to {ft:.2f}: the expected form differs from the model's habit",
            )
    if (
        prompt is not None
        and ft is not None
        and run.best_measured == "prompt"
        and answers.get("style_adaptation") == "strong"
    ):
        add(
            "style_adaptation",
            f"you said the behaviour must change strongly, but a few examples in the prompt "
            f"({m} {prompt:.2f}) did as well as fine-tuning ({ft:.2f}) within the noise",
        )
    if (
        ft is not None
        and rag is not None
        and run.beats("rag", "fine-tuning")
        and answers.get("knowledge_change") in ("static", "yearly")
        and answers.get("external_knowledge") != "most"
    ):
        add(
            "knowledge_change",
            f"the facts did not go into the weights: fine-tuning reached {m} {ft:.2f} against "
            f"retrieval's {rag:.2f}, so treat the knowledge as external even if it changes rarely",
        )
    return found


def _name(arm: str) -> str:
    return {PROMPT: PROMPT_LABEL, BASELINE: "the untouched model"}.get(arm, arm)


def verdict(run: ValidationRun) -> str:
    """A plain-language paragraph: what was measured, what won, whether it agrees, and how sure we can be."""
    m, n = run.metric, run.questions or 0
    best, rec = run.best_measured, run.recommended or ""
    if best is None:
        return "No approach could be measured: every backend failed (see the table for the reasons)."
    score = run.score(best)
    base = run.score("baseline")
    parts = [
        f"On {n} held-out inputs, {_name(best)} measured best ({m} {score:.2f}"
        + (f" against {base:.2f} for the untouched model)." if base is not None else ").")
    ]
    others = [a for a in run.tied_with_best if a != best]
    if others:
        parts.append(
            f"{', '.join(map(_name, others))} scored within the bootstrap noise of it; the tie goes to "
            f"{_name(best)}, the cheaper approach."
        )
    if best == "prompt":
        parts.append(
            "Few-shot prompting is enough on this data: neither retrieval nor training measured better, so start "
            "there" + (f" rather than with {rec}." if rec != PROMPT and run.start_with != PROMPT else
                       ", as the questionnaire said." if run.start_with == PROMPT else ".")
        )
    elif run.agrees:
        parts.append(f"This agrees with the questionnaire's recommendation ({rec}).")
    elif rec in run.tied_with_best:
        parts.append(
            f"The questionnaire recommended {rec}, which is statistically tied with {best}: the evidence "
            "does not contradict it, but the cheaper approach did as well on this sample."
        )
    else:
        rec_score = run.score(rec)
        got = f" ({m} {rec_score:.2f})" if rec_score is not None else ""
        parts.append(f"This disagrees with the questionnaire, which recommended {rec}{got}.")
    for d in run.retrieval_diagnosis:
        if d.weak_part == "generator":
            parts.append(f"{_diagnosis_sentence(d)}: the generator, not retrieval, is the bottleneck.")
        elif d.weak_part == "retrieval":
            parts.append(f"{_diagnosis_sentence(d)}: retrieval, not the generator, is the bottleneck.")
    if base is not None and not any(run.beats(a, "baseline") for a in run.approaches):
        if base >= 0.5:
            parts.append(
                f"No approach beat the untouched model ({m} {base:.2f}) beyond the noise: prompting "
                "alone may be enough."
            )
        else:
            parts.append(
                "No approach beat the untouched model beyond the bootstrap noise on this sample, so "
                "the ranking is tentative."
            )
    cost = cost_sentence(run)
    if cost:
        parts.append(cost)
    if run.model_warning:
        parts.append(run.model_warning)
    caveat = few_inputs_caveat(n)
    if caveat:
        parts.append(caveat)
    provenance = provenance_sentence(run.pairs_origin)
    if provenance:
        parts.append(provenance)
    return " ".join(parts)


def next_steps(run: ValidationRun) -> list[str]:
    """What to try next, given what was measured."""
    steps: list[str] = []
    for d in run.retrieval_diagnosis:
        if d.weak_part == "generator":
            steps.append(f"{_diagnosis_sentence(d)}: re-run with a larger --generator before judging retrieval.")
        elif d.weak_part == "retrieval":
            steps.append(
                f"{_diagnosis_sentence(d)}: tune chunking (--chunk-tokens), try a stronger embedder "
                "(--embedder), or clean the documents first."
            )
    rag = run.arm("rag")
    recall = rag.retrieval.recall_at_k if rag.retrieval else None
    if recall is not None and recall < 0.8 and not run.retrieval_diagnosis:
        steps.append(
            f"Retrieval found the right document for only {recall:.0%} of questions: tune chunking "
            "(--chunk-tokens), try a stronger embedder (--embedder), or clean the documents first."
        )
    if run.best_measured == "prompt":
        steps.append(
            "Ship the prompt with retrieved examples first, and keep these pairs as its regression test; "
            "revisit fine-tuning when latency, cost per call or a harder form make the prompt too long."
        )
    ft = run.arm("fine-tuning")
    metric = run.metric or ""
    ft_c = ft.answers.get(metric)
    para = ft.paraphrase.answers.get(metric) if ft.paraphrase else None
    if ft_c is not None and para is not None and ft_c - para >= 0.15:
        steps.append(
            f"The fine-tuned model lost {ft_c - para:.2f} of its {metric} on reworded "
            "questions: it memorised wording. Add paraphrased training pairs or keep facts in retrieval."
        )
    failed = [a for a, r in run.approaches.items() if r.state == "failed"]
    if failed:
        steps.append(f"Fix and re-run the failed approach(es): {', '.join(failed)} (finished stages are reused).")
    held = run.held_out
    advice = sample_advice(run.questions or 0, held, (held or 0) + (run.train_pairs or 0) if held is not None
                           else None, run.test_fraction, run.split_pinned)
    if advice:
        steps.append(advice)
    if not any(by.kind == "endpoint" for by in answered_by(run).values()):
        steps.append(
            "Repeat with your production model: serve it behind an OpenAI-compatible endpoint (--endpoint, "
            "--endpoint-model) or give its weights to --generator on a GPU; a 135M model shows the direction, "
            "not the final quality."
        )
    return steps
