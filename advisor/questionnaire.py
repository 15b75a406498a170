"""The interactive questionnaire, written over injectable input and output functions so tests can script it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from advisor.errors import did_you_mean
from advisor.models import UNKNOWN, Question, RuleBase
from advisor.references import cite
from advisor.text import show

InputFn = Callable[[str], str]
OutputFn = Callable[[str], None]

HELP_WORDS = {"?", "help", "h"}
BACK_WORDS = {"b", "back"}


class Interrupted(Exception):
    """The person stopped the questionnaire (Ctrl-C or end of input); `answers` holds what was answered."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__("questionnaire interrupted")
        self.answers = answers


def parse_reply(reply: str, values: tuple[str, ...], default: str = UNKNOWN) -> str | None:
    """A reply to a value: a value name, its number (1-based), '' (the default) or 'unknown'; None if invalid."""
    text = reply.strip().lower()
    if not text:
        return default
    if text in (UNKNOWN, "u", "0"):
        return UNKNOWN
    if text.isdigit():
        number = int(text)
        return values[number - 1] if 1 <= number <= len(values) else None
    return text if text in values else None


def help_lines(rulebase: RuleBase, q: Question) -> list[str]:
    """What '?' shows for a question: its help, what each value means, and the works its values rest on."""
    lines = [f"  {q.help.strip() or 'No help for this question.'}"]
    for n, v in enumerate(q.values, 1):
        if v.label or v.because:
            lines.append(f"    {n}) {v.value}: {v.label or v.because}")
    citations = cite(rulebase, dict.fromkeys(src for v in q.values for src in v.source))
    if citations:
        lines.append("  Sources:")
        for c in citations:
            work = f"{c.label}: {c.title}" + (f" <{c.url}>" if c.url else "") if c.key else c.text
            lines.append(f"    - {work}")
    return lines


def run_questionnaire(
    rulebase: RuleBase,
    input_fn: InputFn = input,
    output_fn: OutputFn = print,
    initial: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Ask every question of the rule base in order; return {question: value or 'unknown'}.

    Replies: a value or its number; empty for the default (unknown); '?' for help; 'b' or 'back' for the
    previous question. Invalid replies are re-asked. Ctrl-C or end of input raises `Interrupted` with the
    answers given so far. `initial` answers (a resumed file) are kept and asking starts at the first question
    they leave open.
    """
    questions = rulebase.questions
    answers: dict[str, str] = dict(initial or {})
    total = len(questions)
    output_fn("Answer each question with a value or its number. Enter: unknown, ?: help, b: back.")
    i = next((n for n, q in enumerate(questions) if q.id not in answers), 0)
    while i < total:
        q = questions[i]
        values = tuple(v.value for v in q.values)
        default = q.default or UNKNOWN
        output_fn("")
        output_fn(f"Question {i + 1} of {total}: {q.text}")
        options = "  ".join(f"{n}) {v}" for n, v in enumerate(values, 1))
        output_fn(f"  {options}")
        current = answers.get(q.id)
        prompt = f"[{q.id}] (Enter = {current or default}) > "
        try:
            reply = input_fn(prompt)
        except (KeyboardInterrupt, EOFError):
            raise Interrupted({qq.id: answers[qq.id] for qq in questions if qq.id in answers}) from None
        text = reply.strip().lower()
        if text in HELP_WORDS:
            for line in help_lines(rulebase, q):
                output_fn(line)
            continue
        if text in BACK_WORDS:
            if i == 0:
                output_fn("  This is the first question; there is nothing to go back to.")
            else:
                i -= 1
            continue
        value = parse_reply(reply, values, current or default)
        if value is None:
            hint = did_you_mean(text, values)
            output_fn(f"  {show(reply.strip())} is not an answer{hint}. Allowed: {', '.join(values)}, "
                      f"1-{len(values)}, or Enter for unknown.")
            continue
        answers[q.id] = value
        i += 1
    return {q.id: answers.get(q.id, UNKNOWN) for q in questions}
