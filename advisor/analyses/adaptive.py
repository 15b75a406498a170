"""Adaptive questioning: which unanswered question matters most, and when the verdict can no longer change.

- `rank_questions` scores every unknown question by what its answers would do to the current verdict:
  questions with a value that would flip it come first, then by the mean absolute change of the margin
  (a value that sharpens the verdict counts as much as one that weakens it).
- `is_decided` answers exactly whether any combination of answers to the open questions (each may also stay
  unknown) could change the verdict: a depth-first search over those answers, pruned with an upper bound on
  how far each rival can still gain (pulls and rules that may still fire).
- `AdaptiveSession` strings them together for a questionnaire: next question, answer, back, decided.

Pure Python and deterministic (ties go to the question order of the rule base).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from advisor.engine import EPS, CompiledRules, State, encode, pick, rank_unknowns, raw_state
from advisor.models import RECOMMENDABLE, UNKNOWN


@dataclass(frozen=True)
class QuestionValue:
    """How informative one unanswered question is for the current verdict."""

    question: str
    flip_share: float
    mean_margin_change: float
    flips_to: dict[str, str]  # value -> approach it would recommend instead

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "question": self.question,
            "flip_share": round(self.flip_share, 4),
            "mean_margin_change": round(self.mean_margin_change, 4),
            "flips_to": self.flips_to,
        }

    def reason(self) -> str:
        """Why this question is worth asking, in one sentence."""
        if self.flips_to:
            ways = ", ".join(f"'{v}' would make it {a}" for v, a in self.flips_to.items())
            return f"its answer can change the verdict ({ways})"
        return f"its answer moves the margin by {self.mean_margin_change:.2f} on average, sharpening the verdict"


def rank_questions(compiled: CompiledRules, answers: Mapping[str, Any] | State,
                   among: list[str] | None = None) -> list[QuestionValue]:
    """Unknown questions, most informative first (only those in `among` when given): `engine.rank_unknowns`,
    the one rule every output that names a question to answer next follows, with names instead of indices."""
    state = _state(compiled, answers)
    wanted = None if among is None else {compiled.question_index[q] for q in among if q in compiled.question_index}
    return [
        QuestionValue(
            question=compiled.question_ids[r.question],
            flip_share=len(r.flips_to) / len(compiled.values[r.question]),
            mean_margin_change=r.mean_margin_change,
            flips_to={compiled.values[r.question][v]: RECOMMENDABLE[a] for v, a in r.flips_to},
        )
        for r in rank_unknowns(compiled, state, wanted)
    ]


def most_informative(compiled: CompiledRules, answers: Mapping[str, Any] | State) -> QuestionValue | None:
    """The unknown question whose answer would most change or sharpen the verdict (None: nothing unknown)."""
    ranked = rank_questions(compiled, answers)
    return ranked[0] if ranked else None


def _state(compiled: CompiledRules, answers: Mapping[str, Any] | State) -> State:
    if isinstance(answers, tuple):
        return answers
    return encode(compiled, answers)


@dataclass
class Decision:
    """Whether the open questions can still change the verdict, with one combination that would if so."""

    decided: bool
    recommendation: str
    witness: dict[str, str] | None = None
    witness_recommendation: str | None = None


def _open_state(compiled: CompiledRules, answers: Mapping[str, Any] | State,
                open_questions: list[str] | None) -> tuple[list[int], list[int]]:
    """The encoded answers with the open questions made unknown, and the open questions' indices."""
    state = list(_state(compiled, answers))
    if open_questions is None:
        return state, [qi for qi, v in enumerate(state) if v < 0]
    open_q = [compiled.question_index[q] for q in open_questions]
    for qi in open_q:
        state[qi] = -1
    return state, open_q


class _FlipSearch:
    """A depth-first search for answers to the open questions that change the verdict, pruned by upper bounds.

    Open questions are assigned most important first (so the bounds tighten fast); at each depth, a rival
    is still hopeful if its best case (every remaining question and undecided rule in its favour) could
    reach the current verdict's raw score.
    """

    def __init__(self, compiled: CompiledRules, state: list[int], open_q: list[int], top: int) -> None:
        self.compiled, self.state, self.top = compiled, state, top
        self.open_set = set(open_q)
        self.open_q = sorted(open_q, key=lambda qi: -compiled.importance[qi])
        self.position = {qi: pos for pos, qi in enumerate(self.open_q)}
        self.rivals = [b for b in range(3) if b != top]
        self.pending = self._pending_rules()
        self.suffix = self._best_gains()
        effect = compiled.rule_weighted_effect
        self.rule_gain = {b: {ri: max(0.0, effect[ri][b] - effect[ri][top]) for ri in self.pending}
                          for b in self.rivals}
        self.assign = dict.fromkeys(self.open_q, -1)
        self.found: tuple[dict[int, int], int] | None = None

    def _pending_rules(self) -> list[int]:
        """Rules that read an open question and whose conditions on fixed questions all hold."""
        return [
            ri for ri, conds in enumerate(self.compiled.rule_conds)
            if any(qi in self.open_set for qi, _ in conds)
            and all(self.state[qi] in allowed for qi, allowed in conds if qi not in self.open_set)
        ]

    def _best_gains(self) -> dict[int, list[float]]:
        """Per rival: the most the open questions from each depth on can add to its lead (unknown counts 0)."""
        wp, top = self.compiled.weighted_pulls, self.top
        suffix = {}
        for b in self.rivals:
            gains = [max(0.0, *(p[b] - p[top] for p in wp[qi])) for qi in self.open_q]
            suffix[b] = [0.0] * (len(gains) + 1)
            for k in range(len(gains) - 1, -1, -1):
                suffix[b][k] = suffix[b][k + 1] + gains[k]
        return suffix

    def rule_state(self, ri: int, depth: int) -> int:
        """1 fires, 0 cannot fire, -1 still open at this depth."""
        undecided = False
        for qi, allowed in self.compiled.rule_conds[ri]:
            if qi in self.open_set:
                if self.position[qi] >= depth:
                    undecided = True
                    continue
                if self.assign[qi] not in allowed:
                    return 0
            elif self.state[qi] not in allowed:
                return 0
        return -1 if undecided else 1

    def _verdict(self, raw: list[float]) -> int:
        """The verdict once every open question is assigned: the pulls plus the pending rules that fire."""
        total = list(raw)
        for ri in self.pending:
            if self.rule_state(ri, len(self.open_q)) == 1:
                e = self.compiled.rule_weighted_effect[ri]
                total = [total[a] + e[a] for a in range(3)]
        return pick(self.compiled, total)

    def _hopeful(self, depth: int, raw: list[float]) -> bool:
        """Whether some rival could still reach the verdict's score from here (the pruning bound)."""
        for b in self.rivals:
            bound = raw[b] - raw[self.top] + self.suffix[b][depth]
            bound += sum(self.rule_gain[b][ri] for ri in self.pending if self.rule_state(ri, depth) != 0)
            if bound >= -2 * EPS:
                return True
        return False

    def search(self, depth: int, raw: list[float]) -> bool:
        """True (and `found` set) when some assignment from this depth on changes the verdict."""
        if depth == len(self.open_q):
            got = self._verdict(raw)
            if got != self.top:
                self.found = (dict(self.assign), got)
                return True
            return False
        if not self._hopeful(depth, raw):
            return False
        wp, top, qi = self.compiled.weighted_pulls, self.top, self.open_q[depth]
        options = [-1, *range(len(self.compiled.values[qi]))]
        options.sort(key=lambda v: -max((wp[qi][v][b] - wp[qi][v][top]) if v >= 0 else 0.0 for b in self.rivals))
        for v in options:
            self.assign[qi] = v
            nxt = raw if v < 0 else [raw[a] + wp[qi][v][a] for a in range(3)]
            if self.search(depth + 1, nxt):
                return True
        self.assign[qi] = -1
        return False


def is_decided(compiled: CompiledRules, answers: Mapping[str, Any] | State,
               open_questions: list[str] | None = None) -> Decision:
    """True when no combination of answers to the open questions (default: every unknown one) flips the verdict.

    Each open question may take any of its values or stay unknown. Exact: a depth-first search over the
    open answers, pruned where even the best case for every rival cannot overtake the current verdict.
    """
    state, open_q = _open_state(compiled, answers, open_questions)
    raw0 = raw_state(compiled, tuple(state))  # pending rules cannot fire yet, so raw0 holds none of them
    top = pick(compiled, raw0)
    if not open_q:
        return Decision(True, RECOMMENDABLE[top])
    flip = _FlipSearch(compiled, state, open_q, top)
    if flip.search(0, raw0) and flip.found is not None:
        witness_state, got = flip.found
        witness = {compiled.question_ids[qi]: (compiled.values[qi][v] if v >= 0 else UNKNOWN)
                   for qi, v in witness_state.items()}
        return Decision(False, RECOMMENDABLE[top], witness, RECOMMENDABLE[got])
    return Decision(True, RECOMMENDABLE[top])


@dataclass
class AdaptiveSession:
    """An adaptive questionnaire's state: ask the most informative question next, stop once decided.

    `next_question()` names the question to ask (None when every question was asked); `answer(q, v)` records
    an answer ('unknown' allowed); `back()` undoes the last one; `decided()` says whether the remaining
    questions can still change the verdict.
    """

    compiled: CompiledRules
    answers: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def remaining(self) -> list[str]:
        """Questions not asked yet, in rule-base order."""
        return [q for q in self.compiled.question_ids if q not in self.asked]

    def current(self) -> dict[str, str]:
        """The answers so far, every unasked question as 'unknown'."""
        return {q: self.answers.get(q, UNKNOWN) for q in self.compiled.question_ids}

    def next_question(self) -> str | None:
        """The most informative question not asked yet (questions answered 'unknown' are not asked again)."""
        remaining = self.remaining()
        if not remaining:
            return None
        ranked = rank_questions(self.compiled, self.current(), among=remaining)
        return ranked[0].question if ranked else remaining[0]

    def answer(self, question: str, value: str) -> None:
        """Record an answer (already checked by the caller) and mark the question asked."""
        self.answers[question] = value
        if question not in self.asked:
            self.asked.append(question)

    def back(self) -> str | None:
        """Undo the last answer; return its question (None when nothing was asked)."""
        if not self.asked:
            return None
        question = self.asked.pop()
        self.answers.pop(question, None)
        return question

    def decision(self) -> Decision:
        """Whether the questions not asked yet can still change the verdict."""
        return is_decided(self.compiled, self.current(), open_questions=self.remaining())

    def decided(self) -> bool:
        """True when no answers to the remaining questions can change the verdict."""
        return self.decision().decided


@dataclass
class MostInformativeFirst:
    """`ask_loop`'s strategy for `ask --adaptive`: the most informative question next, offering to stop once decided."""

    rulebase: Any
    session: AdaptiveSession
    intro: str = (
        "Adaptive questionnaire: the question that can change the verdict most comes first, and it stops "
        "once the rest cannot change it. Enter: unknown, ?: help and why, b: back."
    )
    help_words: frozenset[str] = frozenset({"?", "help", "h", "why"})
    go_on: bool = False
    questions: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.questions = {q.id: q for q in self.rulebase.questions}

    def proceed(self, input_fn: Any, output_fn: Any) -> bool:
        """Once decided, say so and ask whether to answer the rest anyway (Ctrl-C or end of input: stop)."""
        session = self.session
        if self.go_on or not session.asked:
            return True
        decision = session.decision()
        if not decision.decided:
            return True
        left = len(session.remaining())
        if not left:
            return False
        output_fn("")
        output_fn(
            f"Decided after {len(session.asked)} of {len(self.session.compiled.question_ids)} questions: "
            f"{decision.recommendation}, whatever the other {left} answer(s) are."
        )
        try:
            reply = input_fn("Answer the remaining questions anyway? [y/N] > ")
        except (KeyboardInterrupt, EOFError):
            return False
        self.go_on = reply.strip().lower() in ("y", "yes")
        return self.go_on

    def question(self) -> Any:
        """The most informative question not asked yet."""
        qid = self.session.next_question()
        return None if qid is None else self.questions[qid]

    def heading(self, q: Any) -> str:
        """'Question n of at most total: text'."""
        return f"Question {len(self.session.asked) + 1} of at most {len(self.session.compiled.question_ids)}: {q.text}"

    def reply_default(self, q: Any) -> str:
        """The question's default, else unknown."""
        return q.default or UNKNOWN

    def shown_default(self, q: Any) -> str:
        """What Enter gives: the question's (neutral) default, else unknown."""
        return q.default or UNKNOWN

    def why(self, q: Any) -> list[str]:
        """Why this question comes now (what its answer can do to the verdict)."""
        ranked = rank_questions(self.session.compiled, self.session.current(), among=self.session.remaining())
        found = next((r for r in ranked if r.question == q.id), None)
        return [] if found is None else [f"  Why this question now: {found.reason()}."]

    def record(self, q: Any, value: str) -> None:
        """Record the answer in the session."""
        self.session.answer(q.id, value)

    def back(self) -> bool:
        """Undo the last answer; going back to the start also ends 'go on'."""
        went = self.session.back() is not None
        self.go_on = self.go_on and bool(self.session.asked)
        return went

    def so_far(self) -> dict[str, str]:
        """The answers given so far, in the order asked."""
        return dict(self.session.answers)

    def result(self) -> dict[str, str]:
        """Every question's answer, unasked ones at their default or unknown."""
        questions = self.questions
        asked = self.session.answers
        return {q: asked.get(q, questions[q].default or UNKNOWN) for q in self.session.compiled.question_ids}


def run_adaptive_questionnaire(
    rulebase: Any,
    input_fn: Any = input,
    output_fn: Any = print,
    initial: Any = None,
) -> dict[str, str]:
    """The questionnaire in adaptive order: the most informative question next, stopping once decided.

    Same replies as `advisor.questionnaire.run_questionnaire` (a value or its number, Enter for unknown,
    '?' for help and why this question, 'b' to go back). Once no answers to the remaining questions can
    change the verdict it says so ("decided after 6 of 10 questions") and asks whether to go on. Ctrl-C
    or end of input raises `Interrupted` with the answers so far. `initial` answers (a resumed file) count as
    already given. Returns every question's answer.
    """
    from advisor.engine import compile_rules
    from advisor.questionnaire import ask_loop

    session = AdaptiveSession(compile_rules(rulebase))
    for qid, value in (initial or {}).items():
        session.answer(qid, value)
    return ask_loop(rulebase, MostInformativeFirst(rulebase, session), input_fn, output_fn)
