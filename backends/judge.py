"""An optional LLM judge, never the default: a model behind an OpenAI-compatible endpoint grades each response
correct or not against its references, with one fixed rubric at temperature 0.

Its verdicts are cached in the run (the endpoint client's cache), its tokens and cost recorded, and it is
reported beside the LLM-free rule, which keeps ranking the arms. A judge that fails, or answers anything but
the two words the rubric allows, gives no verdict for that response (None), and the report says the rule
stayed in charge. `grader(judge)` is the (question, references, response) -> bool | None function that an
agreement table over hand labels takes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from advisor.backends.generation import Reply
from advisor.backends.options import EndpointOptions

if TYPE_CHECKING:
    from advisor.runrecords import Judge, JudgeScore

RUBRIC_VERSION = 1
RUBRIC = (
    "You grade a response to a question against the reference answers. The response is CORRECT when it states "
    "the fact the references give, in any wording, order or unit notation (65% = 65 percent, 5 = five); extra "
    "correct detail is fine. It is INCORRECT when it contradicts the references, gives another fact, leaves "
    "the fact out, or says it does not know. Reply with exactly one word: CORRECT or INCORRECT."
)
MAX_VERDICT_TOKENS = 4
_VERDICT = re.compile(r"^\W*(correct|incorrect)\W*$", re.IGNORECASE)


def judge_messages(question: str, references: Sequence[str], response: str) -> list[dict[str, str]]:
    """The fixed rubric as chat messages for one response."""
    refs = "\n".join(f"- {r.strip()}" for r in references)
    user = f"Question: {question.strip()}\nReference answers:\n{refs}\nResponse: {response.strip() or '(empty)'}"
    return [{"role": "system", "content": RUBRIC}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> bool | None:
    """True for CORRECT, False for INCORRECT, None for anything else (off-format)."""
    found = _VERDICT.match(text.strip())
    return None if found is None else found.group(1).lower() == "correct"


@dataclass
class Verdicts:
    """The judge's verdicts (None: no verdict), its replies (for tokens and cost), and why it failed, if it did."""

    verdicts: list[bool | None]
    replies: list[Reply]
    failed: str | None = None

    @property
    def off_format(self) -> int:
        return sum(1 for v in self.verdicts if v is None) if self.failed is None else 0


def judge(items: Sequence[tuple[str, Sequence[str], str]], options: EndpointOptions, seed: int = 0) -> Verdicts:
    """Grade (question, references, response) items; a judge that cannot answer gives no verdicts and says why."""
    from advisor.backends.endpoint import EndpointError, shared_client

    client = shared_client(options, seed)
    try:
        replies = client.complete([judge_messages(q, refs, r) for q, refs, r in items], MAX_VERDICT_TOKENS)
    except EndpointError as exc:
        return Verdicts([None] * len(items), [], failed=str(exc))
    return Verdicts([parse_verdict(r.text) for r in replies], replies)


def grader(options: EndpointOptions, seed: int = 0) -> Callable[[str, Sequence[str], str], bool | None]:
    """The judge as a grader of one response (cached, so grading a set twice asks once)."""
    def grade(question: str, references: Sequence[str], response: str) -> bool | None:
        return judge([(question, references, response)], options, seed).verdicts[0]

    return grade


def judged_grader(items: Sequence[tuple[str, Sequence[str], str]], options: EndpointOptions,
                  seed: int = 0) -> tuple[Callable[[str, Sequence[str], str], bool | None], Verdicts]:
    """Judge a whole labelled set in one batch (concurrent requests), then grade each item by lookup;
    with the verdicts, for their off-format count and tokens."""
    verdicts = judge(items, options, seed)
    found = {(q, tuple(refs), r): v for (q, refs, r), v in zip(items, verdicts.verdicts)}

    def grade(question: str, references: Sequence[str], response: str) -> bool | None:
        return found.get((question, tuple(references), response))

    return grade, verdicts


def score(verdicts: Verdicts, options: EndpointOptions) -> JudgeScore:
    """An arm's judge block: the share called correct over the responses given a verdict, and the cost."""
    from advisor.backends.usage import measure_usage
    from advisor.runrecords import JudgeScore

    given = [v for v in verdicts.verdicts if v is not None]
    return JudgeScore(correct=round(sum(given) / len(given), 4) if given else None, graded=len(given),
                      off_format=verdicts.off_format, failed=verdicts.failed,
                      usage=measure_usage(verdicts.replies, None, options) if verdicts.replies else None)


def judge_run(options: EndpointOptions, out: Path, arms: Sequence[str], metric: str,
              seed: int = 0) -> tuple[Judge, dict[str, JudgeScore]]:
    """Grade every measured arm's held-out responses (and the untouched model's) in the run folder `out`.

    Returns the run's judge record, whose note says what ranked the arms, and each arm's scores (the untouched
    model under "untouched")."""
    from advisor.backends.endpoint import host_of
    from advisor.backends.evaluation import read_answers
    from advisor.runrecords import Judge

    scores: dict[str, JudgeScore] = {}
    baseline: list[tuple[str, Sequence[str], str]] = []
    for arm in arms:
        records = read_answers(out / arm)
        scores[arm] = score(judge([(r.question, r.references or [r.gold], r.response) for r in records],
                                  options, seed), options)
        if not baseline and records and all(r.baseline_response is not None for r in records):
            baseline = [(r.question, r.references or [r.gold], r.baseline_response or "") for r in records]
    if baseline:
        scores["untouched"] = score(judge(baseline, options, seed), options)
    failed = next((s.failed for s in scores.values() if s.failed), None)
    off = sum(s.off_format for s in scores.values())
    if failed:
        note = f"The judge failed ({failed}): the LLM-free rule ({metric}) stays in charge."
    elif off:
        note = (f"The judge answered off-format {off} time(s): those responses have no verdict, and the LLM-free "
                f"rule ({metric}) ranked the arms.")
    else:
        note = f"The judge is reported beside the LLM-free rule ({metric}), which ranked the arms."
    return Judge(model=options.model, host=host_of(options.url), rubric_version=RUBRIC_VERSION, ranked_by=metric,
                 note=note), scores
