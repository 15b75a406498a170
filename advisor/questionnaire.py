"""The interactive questionnaire, written over injectable input and output functions so tests can script it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from advisor.answers import normalise_value
from advisor.errors import InputError, did_you_mean
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
    try:
        return normalise_value("reply", text, values)
    except InputError:
        return None


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


class AskOrder(Protocol):
    """An ordering strategy for `ask_loop`: which question comes next, and what the loop says around it."""

    intro: str
    help_words: frozenset[str]

    def proceed(self, input_fn: InputFn, output_fn: OutputFn) -> bool:
        """Whether to ask another question (a strategy may stop early, asking first)."""

    def question(self) -> Question | None:
        """The question to ask now; None when there is none left."""

    def heading(self, q: Question) -> str:
        """The line that introduces the question."""

    def reply_default(self, q: Question) -> str:
        """The value an empty reply stands for."""

    def shown_default(self, q: Question) -> str:
        """What the prompt says Enter gives."""

    def why(self, q: Question) -> list[str]:
        """Extra help lines: why this question now."""

    def record(self, q: Question, value: str) -> None:
        """Keep a checked answer and move on."""

    def back(self) -> bool:
        """Go back one question; False when there is nothing to go back to."""

    def so_far(self) -> dict[str, str]:
        """The answers given so far (what `Interrupted` carries)."""

    def result(self) -> dict[str, str]:
        """Every question's answer once the loop ends."""


def ask_loop(rulebase: RuleBase, order: AskOrder, input_fn: InputFn = input,
             output_fn: OutputFn = print) -> dict[str, str]:
    """The one question loop: ask in the strategy's order with help, back and bad-reply handling.

    Replies: a value or its number; empty for the default; one of the help words for help; 'b' or 'back' for
    the previous question. Invalid replies are re-asked. Ctrl-C or end of input raises `Interrupted` with the
    answers given so far.
    """
    output_fn(order.intro)
    while order.proceed(input_fn, output_fn):
        q = order.question()
        if q is None:
            break
        values = tuple(v.value for v in q.values)
        output_fn("")
        output_fn(order.heading(q))
        output_fn("  " + "  ".join(f"{n}) {v}" for n, v in enumerate(values, 1)))
        try:
            reply = input_fn(f"[{q.id}] (Enter = {order.shown_default(q)}) > ")
        except (KeyboardInterrupt, EOFError):
            raise Interrupted(order.so_far()) from None
        text = reply.strip().lower()
        if text in order.help_words:
            for line in help_lines(rulebase, q) + order.why(q):
                output_fn(line)
            continue
        if text in BACK_WORDS:
            if not order.back():
                output_fn("  This is the first question; there is nothing to go back to.")
            continue
        value = parse_reply(reply, values, order.reply_default(q))
        if value is None:
            output_fn(f"  {show(reply.strip())} is not an answer{did_you_mean(text, values)}. Allowed: "
                      f"{', '.join(values)}, 1-{len(values)}, or Enter for unknown.")
            continue
        order.record(q, value)
    return order.result()


@dataclass
class InOrder:
    """`ask_loop`'s strategy for the rule base's order; resumed answers are kept, asking starts at the first open
    one."""

    questions: list[Question]
    answers: dict[str, str] = field(default_factory=dict)
    intro: str = "Answer each question with a value or its number. Enter: unknown, ?: help, b: back."
    help_words: frozenset[str] = frozenset(HELP_WORDS)
    i: int = 0

    def __post_init__(self) -> None:
        self.i = next((n for n, q in enumerate(self.questions) if q.id not in self.answers), 0)

    def proceed(self, input_fn: InputFn, output_fn: OutputFn) -> bool:
        """Go on while questions are left."""
        return self.i < len(self.questions)

    def question(self) -> Question | None:
        """The question at the current position."""
        return self.questions[self.i] if self.i < len(self.questions) else None

    def heading(self, q: Question) -> str:
        """'Question i of n: text'."""
        return f"Question {self.i + 1} of {len(self.questions)}: {q.text}"

    def reply_default(self, q: Question) -> str:
        """The answer already given (resumed or before going back), else the question's default."""
        return self.answers.get(q.id) or q.default or UNKNOWN

    shown_default = reply_default

    def why(self, q: Question) -> list[str]:
        """No ordering to explain."""
        return []

    def record(self, q: Question, value: str) -> None:
        """Keep the answer and move to the next question."""
        self.answers[q.id] = value
        self.i += 1

    def back(self) -> bool:
        """Move to the previous question (its answer stays as the Enter default)."""
        if self.i == 0:
            return False
        self.i -= 1
        return True

    def so_far(self) -> dict[str, str]:
        """The answers given, in rule-base order."""
        return {q.id: self.answers[q.id] for q in self.questions if q.id in self.answers}

    def result(self) -> dict[str, str]:
        """Every question, unanswered ones as unknown."""
        return {q.id: self.answers.get(q.id, UNKNOWN) for q in self.questions}


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
    return ask_loop(rulebase, InOrder(list(rulebase.questions), dict(initial or {})), input_fn, output_fn)
