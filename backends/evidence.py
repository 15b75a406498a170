"""The evidence of a validation, as pure functions of what was measured: the verdict in words, the answers the
numbers call into question, next steps, and a few outputs to read side by side.

The rules that decide (ties, the adjustment for several comparisons, which arm is favoured, agreement) live in
`decision.py`; this module words what they decide. No file is read and no model is run here: `validate.py`
runs the stages and hands the results in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from advisor.backends import arms, decision
from advisor.backends.base import BuildSettings
from advisor.backends.decision import Finding
from advisor.backends.metrics import Task
from advisor.outcomes import PROMPT, PROMPT_LABEL
from advisor.samplesize import MEASURABLE_INPUTS, few_inputs_caveat, sample_advice
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
    Models,
    ValidationRun,
    WeakPart,
)

if TYPE_CHECKING:
    from advisor.engine import Recommendation

BASELINE = arms.BASELINE  # the untouched model's key among an example's outputs
EXAMPLES = 4
# Retrieval that puts the answer in front of the model this often, while the arm gains little, points at the
# generator rather than at retrieval.
IN_CONTEXT_GOOD = 0.5
# A trained arm that loses this much of its score on reworded training questions memorised their wording.
MEMORISED = 0.15
MAX_INPUTS = 100_000  # an estimate of inputs needed beyond this says the difference is too small to matter

PerQuestion = dict[int, float]


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
    decided = decision.decide(ok, {a: results[a].answers[metric] for a in ok}, per_q, base_q, metric, settings.seed)
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
        best_measured=decided.best_measured,
        favoured=decided.favoured,
        candidates=decided.candidates,
        inconclusive=bool(ok) and decided.favoured is None,
        prompt_enough=decided.favoured == "prompt",
        tied_with_best=decided.tied_with_best,
        decision=decided.rule,
        inputs_needed=decided.inputs_needed,
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
        comparisons=decided.comparisons,
        examples=pick_examples(records, metric),
        models=Models(generator=settings.generator, embedder=settings.embedder),
        answers=dict(rec.answers),
    )
    run.model_warning = model_warning(run)
    finding = decision.agreement(run)
    if finding is not None:
        run.agreement = finding.state
        run.agrees = {"agrees": True, "disagrees": False}.get(finding.state)
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
    """The measured cost side of the trade-off: tokens per answer (and money at the run's prices) of the favoured
    arm (the highest scorer when nothing is favoured) against the cheapest measured alternative; None when the run
    measured no tokens."""
    if not any(by.kind == "endpoint" for by in answered_by(run).values()):
        return None  # in-process runs show their tokens in the table; the argument is about a served model
    usage = {a: b.usage for a, b in run.approaches.items() if b.ok and b.usage is not None
             and b.usage.prompt_tokens_per_answer is not None}
    if run.baseline is not None and run.baseline.usage is not None \
            and run.baseline.usage.prompt_tokens_per_answer is not None:
        usage[BASELINE] = run.baseline.usage
    best = run.evidence_favours or run.best_measured
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
        and run.favoured == "prompt"
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
    untouched = "the untouched model"
    return {PROMPT: PROMPT_LABEL, BASELINE: untouched, decision.BASELINE: untouched}.get(arm, arm)


def _names(which: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    named = [_name(a) for a in which]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def _scored(run: ValidationRun, named: list[str]) -> str:
    """'rag (0.45) and hybrid (0.64)': each arm with its ranking score."""
    return _names([f"{_name(a)} ({run.score(a):.2f})" for a in named])


def _inputs(count: int) -> str:
    return f"{count:,}" if count <= MAX_INPUTS else f"more than {MAX_INPUTS:,}"


def _lead(run: ValidationRun) -> list[str]:
    """What scored highest, what the evidence favours and why (the tie rule of `decision.py`, in words)."""
    m, n = run.metric, run.questions or 0
    best = run.best_measured or ""
    base = run.score("baseline")
    against = f" against {base:.2f} for the untouched model" if base is not None else ""
    scored = f"{_name(best)} scored highest ({m} {run.score(best):.2f}{against})"
    needed = run.inputs_needed
    if run.favoured is None:
        parts = [f"On {n} held-out inputs, {scored}, but no approach beat the untouched model beyond the noise: "
                 f"the run is inconclusive on {n} inputs."]
        if needed is not None and needed.inputs is not None and needed.difference != 0:
            parts.append(f"The lead of {_name(best)} over the untouched model ({abs(needed.difference):.2f}) would "
                         f"take about {_inputs(needed.inputs)} inputs to measure, at the spread seen here.")
        return parts
    fav = run.favoured
    higher = run.decision.higher_is_better if run.decision else True
    top = decision.highest(run.candidates, {a: run.score(a) or 0.0 for a in run.candidates}, higher) or fav
    if top != best:
        text = (f"On {n} held-out inputs, {scored} but did not beat the untouched model beyond the noise; "
                f"of the approaches that did, {_name(top)} scored highest ({run.score(top):.2f})")
    else:
        text = f"On {n} held-out inputs, {scored}"
    if fav != top:
        text += f"; {_name(fav)} ({run.score(fav):.2f}) is within the noise of it and cheaper, so the evidence " \
                f"favours {_name(fav)}."
    elif top == best and base is not None:
        text += f" and beat the untouched model beyond the noise, so the evidence favours {_name(fav)}."
    else:
        text += f", so the evidence favours {_name(fav)}."
    parts = [text]
    cheaper = [a for a in arms.names() if a in run.approaches and run.arm(a).ok and a not in run.candidates
               and arms.cost_rank(a) < arms.cost_rank(fav) and not run.beats(top, a)]
    if cheaper:
        one = len(cheaper) == 1
        parts.append(f"The tie rule passes over {_scored(run, cheaper)}: {'it is' if one else 'they are'} within "
                     f"the noise of {_name(top)} too, but did not beat the untouched model beyond the noise.")
    if fav != top and needed is not None and needed.inputs is not None:
        parts.append(f"About {_inputs(needed.inputs)} inputs would tell {_name(top)} from {_name(fav)}, at the "
                     "spread seen here.")
    if fav == PROMPT:
        rec = run.recommended or ""
        parts.append("Few-shot prompting is enough on this data: it beat the untouched model and no costlier "
                     "approach did measurably better, so start there"
                     + (", as the questionnaire said." if run.start_with == PROMPT
                        else f" rather than with {rec}." if rec and rec != PROMPT else "."))
    return parts


def _difference(c: Comparison) -> str:
    """The difference with its own 95% interval and, since the tie is decided on it, the adjusted p-value."""
    low, high = c.ci95 or (0.0, 0.0)
    adjusted = f", adjusted p {c.p_adjusted:.2f}" if c.p_adjusted is not None else ""
    return (f"{_name(c.a)} minus {_name(c.b)} {c.difference or 0.0:+.2f}, 95% interval {low:+.2f} to {high:+.2f}"
            f"{adjusted}")


def agreement_sentence(run: ValidationRun, finding: Finding | None) -> str:
    """The agreement with the questionnaire in words; it names only the recommended arm (few-shot prompting when
    the questionnaire said to start there) and the arms compared with it, never the cost order, so the same
    numbers read the same whichever arm was recommended."""
    if finding is None:
        return ""
    m, rec = run.metric, finding.recommended
    margin = run.decision.equivalence_margin if run.decision else decision.EQUIVALENCE_MARGIN
    if not finding.measured:
        arm = run.arm(rec)
        why = {"failed": "it failed", "not_applicable": "it did not apply"}.get(arm.state, "it was not run")
        return (f"The questionnaire recommended {_name(rec)}, which was not measured here ({why}), so the "
                "evidence cannot tell whether it is right.")
    got = f"{_name(rec)}, {m} {run.score(rec):.2f}"
    if finding.state == "disagrees":
        better = [c.a for c in finding.better]
        return (f"This disagrees with the questionnaire, which recommended {got}: {_scored(run, better)} did "
                "measurably better.")
    if finding.state == "agrees":
        lifted = "it beat the untouched model beyond the noise and " if finding.lifts else ""
        text = f"This agrees with the questionnaire's recommendation ({got}): {lifted}no approach did measurably better"
        if finding.equal:
            text += f"; {_names([c.a for c in finding.equal])} did as well within {margin:.2f}"
        return text + "."
    text = f"The evidence cannot tell whether the questionnaire's recommendation ({got}) is right: "
    if finding.lifts is False:
        return text + "it did not beat the untouched model beyond the noise."
    unsure = "; ".join(_difference(c) for c in finding.unsure)
    verb = "scored" if len(finding.unsure) == 1 else "each scored"
    return (text + f"{_names([c.a for c in finding.unsure])} {verb} within the noise of it ({unsure}), an "
            f"interval too wide to call them different or equal (within {margin:.2f}).")


def verdict(run: ValidationRun) -> str:
    """A plain-language paragraph: what scored highest, what the evidence favours and why, whether it agrees
    with the questionnaire, what limits the best arm, and how sure the run can be."""
    n = run.questions or 0
    if run.best_measured is None:
        return "No approach could be measured: every backend failed (see the table for the reasons)."
    parts = _lead(run)
    said = agreement_sentence(run, decision.agreement(run))
    if said:
        parts.append(said)
    for d in run.retrieval_diagnosis:
        if d.weak_part == "generator":
            parts.append(f"{_diagnosis_sentence(d)}: the generator, not retrieval, is the bottleneck.")
        elif d.weak_part == "retrieval":
            parts.append(f"{_diagnosis_sentence(d)}: retrieval, not the generator, is the bottleneck.")
    count = run.decision.comparisons if run.decision else len(run.comparisons)
    if count > 1:
        parts.append(f"The {count} comparisons were judged together (Holm's adjustment), so a difference counts "
                     "only when it holds across all of them.")
    cost = cost_sentence(run)
    if cost:
        parts.append(cost)
    if run.model_warning:
        parts.append(run.model_warning)
    caveat = None if run.inconclusive else few_inputs_caveat(n)
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
    if run.favoured == PROMPT:
        steps.append(
            "Ship the prompt with retrieved examples first, and keep these pairs as its regression test; "
            "revisit fine-tuning when latency, cost per call or a harder form make the prompt too long."
        )
    steps += memorisation_steps(run)
    steps += rewording_steps(run)
    failed = [a for a, r in run.approaches.items() if r.state == "failed"]
    if failed:
        steps.append(f"Fix and re-run the failed approach(es): {', '.join(failed)} (finished stages are reused).")
    advice = sample_step(run)
    if advice:
        steps.append(advice)
    if not any(by.kind == "endpoint" for by in answered_by(run).values()):
        steps.append(
            "Repeat with your production model: serve it behind an OpenAI-compatible endpoint (--endpoint, "
            "--endpoint-model) or give its weights to --generator on a GPU; a 135M model shows the direction, "
            "not the final quality."
        )
    return steps


def sample_step(run: ValidationRun) -> str | None:
    """How many more inputs to answer: the run's estimate for the difference it could not settle
    (`inputs_needed`) when that asks for more than the sample-size rule of `advisor.samplesize`, else the rule."""
    held = run.held_out
    pairs = (held or 0) + (run.train_pairs or 0) if held is not None else None
    answered = run.questions or 0
    needed = run.inputs_needed
    if needed is not None and needed.inputs is not None and needed.inputs > MAX_INPUTS:
        return (f"The difference between {_name(needed.a)} and {_name(needed.b)} ({abs(needed.difference):.2f}) "
                f"would take more than {MAX_INPUTS:,} held-out inputs to measure at the spread seen here: for any "
                "practical purpose they did equally well.")
    if needed is not None and needed.inputs is not None and needed.inputs > MEASURABLE_INPUTS:
        why = f"{_name(needed.a)} can be told from {_name(needed.b)} at the spread measured here"
        return sample_advice(answered, held, pairs, run.test_fraction, run.split_pinned, goal=needed.inputs, why=why)
    return sample_advice(answered, held, pairs, run.test_fraction, run.split_pinned)


def memorisation_steps(run: ValidationRun) -> list[str]:
    """For each trained arm: did it answer reworded versions of its own training questions as well as the
    questions as written? Compared on the same training pairs, so a gap is the wording it memorised."""
    steps = []
    metric = run.metric or ""
    for arm in arms.training():
        check = run.arm(arm).memorisation if run.arm(arm).ok else None
        if check is None or metric not in check.original or metric not in check.reworded:
            continue
        original, reworded = check.original[metric], check.reworded[metric]
        if original - reworded >= MEMORISED:
            steps.append(
                f"Asked its own training questions, {_name(arm)} scored {metric} {original:.2f} as written but "
                f"{reworded:.2f} reworded ({check.questions} pairs): it memorised their wording more than it "
                "learned the answers. Add reworded training pairs, or keep the facts in retrieval."
            )
    return steps


def rewording_steps(run: ValidationRun) -> list[str]:
    """When the favoured arm answers reworded held-out questions clearly worse than the same questions as
    written: the pairs' wording flatters it, and users will word questions their own way."""
    arm = run.favoured
    if arm is None:
        return []
    held = run.arm(arm).paraphrase if run.arm(arm).ok else None
    metric = run.metric or ""
    if held is None or metric not in held.original or metric not in held.answers:
        return []
    written, reworded = held.original[metric], held.answers[metric]
    if written - reworded < MEMORISED:
        return []
    fix = "check retrieval on them (--chunk-tokens, --embedder)" if arm in arms.retrieving() else "add reworded pairs"
    return [f"On reworded held-out questions, {_name(arm)} scored {metric} {reworded:.2f} against {written:.2f} on "
            f"the same {held.questions} questions as written: users will not word questions as the pairs do; write "
            f"pairs in their words and {fix}."]
