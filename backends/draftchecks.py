"""The LLM-free checks a drafted question/answer pair must pass against its source passage, each named.

Each check is a plain function returning whether the pair fails it; `CHECKS` lists them in the order a
candidate meets them, so the draft summary can say how many each one removed. Light: rapidfuzz and the
answer-matching rule of `advisor.matching`, no models (round-trip retrieval needs the index and lives in
`drafting`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from advisor.matching import in_text, same_word

# A question of 4-40 words and a short answer of 1-20 words: shorter is no question, longer no short answer.
QUESTION_WORDS = (4, 40)
ANSWER_WORDS = (1, 20)
# The answer is in the passage when the answer-matching rule finds all its content words there, or when
# rapidfuzz's partial_ratio of the two (lower case) is at least this: a spelling or punctuation apart (its
# numbers must still be in the passage exactly).
ANSWER_FUZZY = 90.0
# The question copies the passage when its longest run of words taken in order from the passage is more than
# this share of its words and at least COPY_MIN_RUN words long. On the sample's 72 human questions the longest
# run from their source document is at most 0.82 of the question (median 0.29): the bound leaves those alone.
COPY_SHARE = 0.85
COPY_MIN_RUN = 6
# Two questions are near-duplicates when rapidfuzz's token_sort_ratio (lower case) is at least this.
DUPLICATE_RATIO = 85.0

_LABEL = re.compile(r"^[\s*#>_-]*(question|q|answer|a)\s*[:.)-]\s*(.*)$", re.IGNORECASE)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Parsed:
    """A generator's reply read as a pair; `preamble` is the text before the question, which is dropped."""

    question: str
    answer: str
    preamble: str = ""


def parse_reply(text: str) -> Parsed | None:
    """The 'Question: ... / Answer: ...' of a reply, or None when it holds no question ending in '?' and no
    answer. Anything before the question line (a preamble such as 'Sure, here is a question:') is dropped,
    never stored as the question."""
    question = answer = None
    preamble: list[str] = []
    for line in text.splitlines():
        found = _LABEL.match(line)
        if found:
            label, value = found.group(1).lower(), found.group(2).strip().strip("*").strip()
            if label.startswith("q") and question is None:
                question = value
            elif label.startswith("a") and question is not None and answer is None:
                answer = value
            continue
        if question is None:
            preamble.append(line.strip())
        elif answer is None and line.strip() and not question.endswith("?"):
            question = f"{question} {line.strip()}"
    if not question or not answer or not question.rstrip().endswith("?"):
        return None
    answer = answer.strip().strip('"').strip().rstrip(".").strip()
    if not answer:
        return None
    return Parsed(" ".join(question.split()), " ".join(answer.split()), " ".join(p for p in preamble if p))


def words(text: str) -> list[str]:
    """Lower-case words of a text (letters and digits), for overlap and length."""
    return _WORD.findall(text.lower())


def bad_length(question: str, answer: str) -> bool:
    """The question or the answer is outside its word bounds."""
    q, a = len(words(question)), len(words(answer))
    return not (QUESTION_WORDS[0] <= q <= QUESTION_WORDS[1] and ANSWER_WORDS[0] <= a <= ANSWER_WORDS[1])


def answer_in_passage(answer: str, passage: str) -> bool:
    """The answer is in the passage: by the answer-matching rule, or close by rapidfuzz partial_ratio."""
    if in_text(passage, [answer]):
        return True
    numbers = {w for w in words(answer) if any(ch.isdigit() for ch in w)}
    if not numbers <= set(words(passage)):  # '16 characters' is one character from '14 characters'
        return False
    return fuzz.partial_ratio(answer.lower(), passage.lower()) >= ANSWER_FUZZY


def answer_span(answer: str, passage: str) -> tuple[int, int] | None:
    """Where in the passage the answer is (character offsets), for highlighting: the answer itself, else the
    shortest stretch of the passage holding each of its words (same word by the answer-matching rule, so
    '24 pods' marks '24 planting pods'); None when some word is not there."""
    if not answer.strip():
        return None
    exact = passage.lower().find(answer.lower())
    if exact >= 0:
        return exact, exact + len(answer)
    wanted = list(dict.fromkeys(words(answer)))
    tokens = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD.finditer(passage)]
    best: tuple[int, int] | None = None
    for first in range(len(tokens)):
        missing = set(wanted)
        for last in range(first, min(len(tokens), first + 4 * len(wanted) + 4)):
            missing = {w for w in missing if not same_word(w, tokens[last][0])}
            if not missing:
                span = (tokens[first][1], tokens[last][2])
                if best is None or span[1] - span[0] < best[1] - best[0]:
                    best = span
                break
    return best


def longest_copied_run(question: str, passage: str) -> int:
    """The longest run of the question's words found in the same order, adjacent, in the passage."""
    q, p = words(question), words(passage)
    best = 0
    previous = [0] * (len(p) + 1)
    for qi in range(len(q)):
        current = [0] * (len(p) + 1)
        for pi in range(len(p)):
            if q[qi] == p[pi]:
                current[pi + 1] = previous[pi] + 1
                best = max(best, current[pi + 1])
        previous = current
    return best


def copies_passage(question: str, passage: str) -> bool:
    """The question is mostly a run of the passage's own words (a sentence turned into a question)."""
    run = longest_copied_run(question, passage)
    return run >= COPY_MIN_RUN and run > COPY_SHARE * max(1, len(words(question)))


_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][\w-]*[A-Za-z]|\w*\d[\w.,]*)")


def foreign_names(question: str, passage: str) -> list[str]:
    """Names (capitalised words after the first) and numbers of the question that the passage does not hold:
    an invented entity, or the worked example's names copied into the question."""
    held = set(words(passage))
    return [name for name in _NAME.findall(question) if not set(words(name)) <= held]


def gives_answer(question: str, answer: str) -> bool:
    """The question already holds every content word of its answer."""
    return in_text(question, [answer])


def near_duplicate(question: str, kept: list[str]) -> bool:
    """The question is nearly one already kept."""
    low = question.lower()
    return any(fuzz.token_sort_ratio(low, other.lower()) >= DUPLICATE_RATIO for other in kept)


# Every check a candidate meets, in order, with what the summary calls it. `retrieval` (the round-trip) and
# `duplicate` run in `drafting`, after the text checks, as do `spare` (the passage already gave a pair).
CHECKS = {
    "unparsed": "no 'Question: ...?' and 'Answer: ...' in the reply",
    "length": f"question outside {QUESTION_WORDS[0]}-{QUESTION_WORDS[1]} words or answer outside "
              f"{ANSWER_WORDS[0]}-{ANSWER_WORDS[1]}",
    "answer_not_in_passage": f"answer not in the passage (answer-matching rule, or rapidfuzz partial_ratio "
                             f">= {ANSWER_FUZZY:g})",
    "copies_passage": f"question copies the passage (a run of at least {COPY_MIN_RUN} of its words making over "
                      f"{COPY_SHARE:.0%} of it)",
    "gives_answer": "question already holds its answer",
    "foreign_names": "question names something (a capitalised word or a number) the passage does not hold",
    "retrieval": "the retriever, given only the question, does not rank the source document in its top k",
    "duplicate": f"near-duplicate of a kept question (rapidfuzz token_sort_ratio >= {DUPLICATE_RATIO:g})",
    "spare": "its passage already gave a kept pair (one pair per passage)",
}


def text_check(parsed: Parsed | None, passage: str) -> str | None:
    """The first text check the candidate fails (a key of CHECKS), or None when it passes them all."""
    if parsed is None:
        return "unparsed"
    if bad_length(parsed.question, parsed.answer):
        return "length"
    if not answer_in_passage(parsed.answer, passage):
        return "answer_not_in_passage"
    if copies_passage(parsed.question, passage):
        return "copies_passage"
    if gives_answer(parsed.question, parsed.answer):
        return "gives_answer"
    if foreign_names(parsed.question, passage):
        return "foreign_names"
    return None
