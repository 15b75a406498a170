"""Which metric measures a task, and the metrics themselves, from well-kept libraries.

The rule that picks the ranking metric (`choose_metric`) is written down once, here, and shown in the
report. Label-like answers are scored by accuracy with macro-F1 beside it (scikit-learn); free text
without documents by chrF (sacrebleu) with BLEU (sacrebleu) and ROUGE-L (rouge-score) beside it;
knowledge answers by `answer_match` (short answers: the reader's rule of `advisor.matching`, with the strict
`contains` beside it) or token F1 (long ones), as SQuAD scores them. Every metric takes the best over a
pair's references. Scores are fractions from 0 to 1 (sacrebleu's 0-100
divided by 100). Light at import: the libraries are imported where they are used.

Each metric is one `Metric` record in `METRICS`: adding one there makes it scored, reportable by the tasks
it names, usable with --metric (when it is per-input) and labelled in the report.
"""

from __future__ import annotations

import functools
import re
import statistics
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from advisor import matching
from advisor.backends.base import QAPair
from advisor.errors import InputError, did_you_mean

SHORT_ANSWER_WORDS = 5
LABEL_WORDS = 3
MAX_LABELS = 20

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({ch: " " for ch in string.punctuation + "‘’“”–—"})


@dataclass(frozen=True)
class Task:
    """What kind of task the pairs are, the metric that ranks the arms, why, and the metrics reported."""

    kind: str
    metric: str
    reason: str
    reported: tuple[str, ...]


# ---------------------------------------------------------------- the rule


def choose_metric(pairs: Sequence[QAPair], has_documents: bool, override: str | None = None) -> Task:
    """The task's kind and ranking metric, by a rule stated in its reason; `override` (--metric) wins.

    - label-like: every reference has at most 3 words, there are at most 20 distinct ones, and each
      distinct reference recurs (at most half as many distinct references as pairs) -> accuracy;
    - otherwise, without documents: free text -> chrF;
    - otherwise, with documents: knowledge -> answer match (`advisor.matching`) when the median reference
      has at most 5 words, else token F1.
    """
    refs = [r for p in pairs for r in p.references]
    labels = {normalize_answer(r) for r in refs}
    words = statistics.median(len(r.split()) for r in refs) if refs else 0
    if refs and max(len(r.split()) for r in refs) <= LABEL_WORDS and len(labels) <= MAX_LABELS \
            and len(labels) <= len(pairs) / 2:
        kind, metric = "labels", "accuracy"
        reason = (f"the answers are labels ({len(labels)} distinct, each at most {LABEL_WORDS} words, recurring), "
                  "so the share answered with exactly the right label ranks the arms; macro-F1 weighs every label "
                  "equally")
    elif not has_documents:
        kind, metric = "text", "chrf"
        reason = (f"the answers are free text (median {words:g} words) with no documents, so chrF, character "
                  "n-gram overlap with the best-matching reference, measures the form; BLEU and ROUGE-L beside it")
    elif words <= SHORT_ANSWER_WORDS:
        kind, metric = "knowledge", "answer_match"
        reason = (f"gold answers are short (median {words:g} words), so correctness is whether the response "
                  f"gives the gold answer, by the {matching.RULE_LABEL} rule: {matching.RULE_DESCRIPTION}; "
                  "strict contains is beside it, and token F1 would reward the answers' form")
    else:
        kind, metric = "knowledge", "f1"
        reason = f"gold answers are long (median {words:g} words), so token F1 measures correctness better"
    if override is not None:
        check_metric(override)
        reason = f"--metric {override} was given (the rule would pick {metric}: {reason})"
        metric = override
    reported = tuple(dict.fromkeys((metric, *task_metrics(kind))))
    return Task(kind, metric, reason, reported)


def check_metric(name: str) -> str:
    """A --metric value, checked: one of the metrics that can rank arms input by input."""
    if name in METRICS and name not in PER_INPUT:
        raise InputError(f"--metric {name}: it is a corpus-level score that cannot be compared input by input; "
                         f"rank by one of {', '.join(PER_INPUT)} (it is still reported beside them)")
    if name not in METRICS:
        raise InputError(f"--metric: unknown metric '{name}' (expected one of {', '.join(PER_INPUT)})"
                         f"{did_you_mean(name, PER_INPUT)}")
    return name


# ---------------------------------------------------------------- per input


def normalize_answer(text: str) -> str:
    """Lowercase, punctuation to spaces, articles (a, an, the) dropped, whitespace collapsed."""
    text = text.lower().translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised texts are equal."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall between the normalised texts (SQuAD's F1)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains(prediction: str, gold: str) -> float:
    """1.0 when the normalised gold answer appears, as whole words, in the normalised prediction."""
    pred, ref = normalize_answer(prediction), normalize_answer(gold)
    if not ref:
        return float(not pred)
    return float(f" {ref} " in f" {pred} ")


def score_one(prediction: str, references: Sequence[str], names: Sequence[str],
              question: str = "") -> dict[str, float]:
    """The per-input metrics among `names` of one prediction, each the best over the references.

    `question` is what the model was asked: the answer-matching rule does not ask a response to repeat it.
    """
    scores: dict[str, float] = {}
    for name in names:
        per_input = METRICS[name].per_input
        if per_input is not None:
            scores[name] = per_input(prediction, references, question)
    return scores


def score_all(predictions: Sequence[str], pairs: Sequence[QAPair], names: Sequence[str],
              questions: Sequence[str] | None = None) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Per-input scores and the task's aggregate over them (means, plus the corpus-level ones such as BLEU).

    `questions` are what was asked, when not the pairs' own questions (the reworded ones).
    """
    per_input = [n for n in names if n in PER_INPUT]
    asked = [p.question for p in pairs] if questions is None else questions
    rows = [score_one(text, pair.references, per_input, question)
            for text, pair, question in zip(predictions, pairs, asked)]
    total = {n: round(sum(r[n] for r in rows) / len(rows), 4) if rows else 0.0 for n in per_input}
    for name in names:
        corpus = METRICS[name].corpus
        if corpus is not None and name not in total:
            total[name] = corpus(predictions, pairs)
    return rows, {n: total[n] for n in names if n in total}


# ---------------------------------------------------------------- corpus-level


def macro_f1(predictions: Sequence[str], pairs: Sequence[QAPair]) -> float:
    """scikit-learn's macro-averaged F1 over the gold labels (a prediction outside them counts as wrong)."""
    from sklearn.metrics import f1_score

    if not pairs:
        return 0.0
    predicted = [normalize_answer(p) for p in predictions]
    gold = []
    for guess, pair in zip(predicted, pairs):
        refs = [normalize_answer(r) for r in pair.references]
        gold.append(guess if guess in refs else refs[0])
    return round(float(f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)), 4)


def corpus_bleu(predictions: Sequence[str], pairs: Sequence[QAPair]) -> float:
    """sacrebleu's corpus BLEU over every input's references (a variable number each)."""
    from sacrebleu.metrics import BLEU

    if not pairs:
        return 0.0
    most = max(len(p.references) for p in pairs)
    # sacrebleu takes a missing reference as None (a variable number per input); its annotation says str only
    streams: Any = [[p.references[i] if i < len(p.references) else None for p in pairs] for i in range(most)]
    return round(BLEU().corpus_score(list(predictions), streams).score / 100, 4)


# ---------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Metric:
    """One metric, as every reader sees it: the metric rule, evaluation, the bootstrap, the evidence, the report.

    `per_input` scores one prediction against its references (the best over them) and the question it
    answered, so a paired bootstrap can resample inputs and the metric can rank arms; `corpus` scores all
    predictions at once (a score that is not a mean over inputs). A metric has one or both. `tasks` are the
    task kinds (labels, text, knowledge) that report it, in the order of this registry. To add a metric, add
    one record to METRICS.
    """

    name: str
    label: str
    tasks: tuple[str, ...]
    per_input: Callable[[str, Sequence[str], str], float] | None = None
    corpus: Callable[[Sequence[str], Sequence[QAPair]], float] | None = None
    higher_is_better: bool = True  # every metric so far; `evidence.rank` picks the best arm by it


def _best(pairwise: Callable[[str, str], float]) -> Callable[[str, Sequence[str], str], float]:
    """A per-reference metric made per-input: the best over the input's references (the question unused)."""
    def score(prediction: str, references: Sequence[str], question: str = "") -> float:
        return max(pairwise(prediction, ref) for ref in references)
    return score


@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def chrf(prediction: str, references: Sequence[str], question: str = "") -> float:
    """sacrebleu's sentence chrF against the best-matching reference, as a fraction."""
    from sacrebleu.metrics import CHRF

    return max(CHRF().sentence_score(prediction, [ref]).score for ref in references) / 100


def rouge_l(prediction: str, references: Sequence[str], question: str = "") -> float:
    """rouge-score's ROUGE-L F-measure against the best of the references."""
    return _rouge_scorer().score_multi(list(references), prediction)["rougeL"].fmeasure


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", "accuracy", ("labels",), per_input=_best(exact_match)),
    Metric("macro_f1", "macro-F1", ("labels",), corpus=macro_f1),
    Metric("chrf", "chrF", ("text",), per_input=chrf),
    Metric("bleu", "BLEU", ("text",), corpus=corpus_bleu),
    Metric("rouge_l", "ROUGE-L", ("text",), per_input=rouge_l),
    Metric(matching.RULE_NAME, matching.RULE_LABEL, ("knowledge",), per_input=matching.answer_match),
    Metric("contains", "contains", ("knowledge",), per_input=_best(contains)),
    Metric("f1", "token F1", ("text", "knowledge"), per_input=_best(token_f1)),
    Metric("exact_match", "exact match", ("labels", "knowledge"), per_input=_best(exact_match)),
)}
# Metrics scored per held-out input, so that a paired bootstrap can resample inputs; the others are corpus-level.
PER_INPUT = tuple(name for name, m in METRICS.items() if m.per_input is not None)


def label(name: str) -> str:
    """How readers see a metric: its label, or its name when it is not registered."""
    metric = METRICS.get(name)
    return metric.label if metric else name


def task_metrics(kind: str) -> tuple[str, ...]:
    """The metrics a task kind reports, in registry order."""
    return tuple(name for name, m in METRICS.items() if kind in m.tasks)


# ---------------------------------------------------------------- was the answer in front of the model?


def answer_in_context(context: str, references: Sequence[str]) -> bool:
    """Whether a reference answer appears in the text given to the generator, by the answer-matching rule
    read strictly (`advisor.matching.in_text`): all its content words close together, in any order and
    spelling of numbers and units; for a reference of more than 4 content words, 60% of them."""
    return matching.in_text(context, references)
