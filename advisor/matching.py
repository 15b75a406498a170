"""Whether a response gives a reference answer, as a reader checks it: the one answer-matching rule for knowledge.

A reader counts "The C7 has 5 grow shelves." right for "5 shelves" and "65%" right for "65 percent";
strict substring matching does not. The rule, `answer_match`, is written once here and used for scoring every
arm, for `answer_in_context` and for the reworded-question check:

1. **One form.** Both texts are put in one canonical form: Unicode NFKC, lower case; number words become
   digits (text2num: `sixty-five` -> `65`, `first` -> `1`), `1,000` -> `1000`, `08` -> `8`, ordinals lose
   their suffix (`21st` -> `21`); `%` and `per cent` -> `percent`, currency signs and names -> their
   codes (`€`, `euros` -> `eur`), common unit spellings -> one (`litres`, `l` -> `l`; `hrs` -> `hour`);
   ISO dates and month abbreviations -> `day month year` words; clock times with a colon or am/pm ->
   `H:MM` on the 24-hour clock; punctuation splits words; articles go (as SQuAD normalises).
2. **What must be said.** The reference's content words (its canonical words less function words:
   articles, auxiliaries, prepositions, pronouns, conjunctions; negations and numbers always count). A
   word the question already says need not be repeated ("How many working days ...?" -> `7`). In a
   short reference (at most `SHORT_WORDS` content words) whose key words -- numbers, units, and words
   written with a capital or a digit (names, codes) -- are at least as many as its plain lower-case words,
   the plain words are optional ("Nightjar" for `Nightjar rotation`, "5 ... shelf levels" for `5 shelves`;
   but all of `control of excessive Fe absorption`).
3. **Found, in any order, close together.** The response must hold every required word, or for a long
   reference (more than `SHORT_WORDS` content words) at least `LONG_SHARE` of them, in any order within a
   stretch of `window(n)` words. A word with a digit must be found exactly; another word also matches
   a word with the same singular (`shelves`/`shelf`) or whose rapidfuzz `ratio` to it is at least
   `FUZZY_RATIO` (spellings and small typos: `authorisation`/`authorization`), both at least
   `FUZZY_MIN_LETTERS` letters long.

In a retrieved text (`in_text`, for `answer_in_context`) nothing is optional: a context does not answer a
question, so every content word of the reference (or `LONG_SHARE` of a long one) must be there, with at
most 3 other words among them.

Light at import: pure Python plus rapidfuzz and text2num (no torch); the core may use it.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RULE_NAME = "answer_match"
RULE_LABEL = "answer match"
RULE_DESCRIPTION = ("the response says the reference's content words in any order, after numbers, units and "
                    "dates are put in one form (65% = 65 percent, five = 5, 1,000 = 1000), with plurals and "
                    "spellings matched fuzzily; words the question already says, and a name's generic head, "
                    "need not be repeated")

SHORT_WORDS = 4
LONG_SHARE = 0.6
FUZZY_RATIO = 85.0
FUZZY_MIN_LETTERS = 4

# Words a reference can leave out without changing its answer. Negations and numbers are never in it.
FUNCTION_WORDS = frozenset("""
a an the and or nor but so of in on at to for by with from into onto about as per via than then
is are was were be been being am do does did has have had will would shall should can could might must
it its this that these those there here which who whom whose what when where how why
he she they them their his her him we our you your i me my
""".split())

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
_MONTH_ABBR = {m[:3]: m for m in _MONTHS} | {"sept": "september"}


def _spellings(canonical: str, *others: str) -> dict[str, str]:
    return {canonical: canonical, **{o: canonical for o in others}}


# One spelling per unit, currency and percent sign (keys are lower-case words, after punctuation is split).
_UNITS = {
    **_spellings("percent", "pct", "percentage"),
    **_spellings("eur", "euro", "euros"), **_spellings("usd", "dollar", "dollars"), **_spellings("gbp"),
    **_spellings("kg", "kgs", "kilogram", "kilograms", "kilo", "kilos"), **_spellings("g", "gram", "grams"),
    **_spellings("l", "litre", "litres", "liter", "liters"),
    **_spellings("ml", "millilitre", "millilitres", "milliliter", "milliliters"),
    **_spellings("km", "kilometre", "kilometres", "kilometer", "kilometers"),
    **_spellings("m", "metre", "metres", "meter", "meters"),
    **_spellings("cm", "centimetre", "centimetres", "centimeter", "centimeters"),
    **_spellings("mm", "millimetre", "millimetres", "millimeter", "millimeters"),
    **_spellings("second", "seconds", "sec", "secs"), **_spellings("minute", "minutes", "min", "mins"),
    **_spellings("hour", "hours", "hr", "hrs", "h"), **_spellings("day", "days"),
    **_spellings("week", "weeks", "wk", "wks"), **_spellings("month", "months"),
    **_spellings("year", "years", "yr", "yrs"),
    **_spellings("ampere", "amperes", "amp", "amps"), **_spellings("watt", "watts", "w"),
    **_spellings("volt", "volts", "v"),
}
_SIGNS = {"%": " percent ", "€": " eur ", "$": " usd ", "£": " gbp "}
# Single letters are units only right after a number ("38 l"); "16 A" is read before lower-casing.
_AFTER_NUMBER_ONLY = frozenset({"l", "m", "g", "h", "v", "w"})
_AMPERES = re.compile(r"(?<=\d)\s*A\b")

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_TIME = re.compile(r"\b(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b\.?|\b(\d{1,2}):(\d{2})\b")
_THOUSANDS = re.compile(r"(?<=\d)[,\u202f\u00a0](?=\d{3}\b)")
_PER_CENT = re.compile(r"\bper\s+cent\b")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b")
_WORD = re.compile(r"\d{1,2}:\d\d|\d+(?:\.\d+)?|[^\W\d_]+(?:\d+[^\W\d_]*)*")
_ARTICLES = frozenset({"a", "an", "the"})


@dataclass(frozen=True)
class Match:
    """One response against one reference: the verdict, the words it had to say, and those it said."""

    matched: bool
    required: tuple[str, ...]
    found: tuple[str, ...]


# ---------------------------------------------------------------- one canonical form


def _time(match: re.Match[str]) -> str:
    if match.group(4) is not None:
        hour, minute, half = int(match.group(4)), int(match.group(5)), None
    else:
        hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if hour > 24 or minute > 59 or (half is not None and not 1 <= hour <= 12):
        return match.group(0)
    if half == "p" and hour < 12:
        hour += 12
    elif half == "a" and hour == 12:
        hour = 0
    return f" {hour}:{minute:02d} "


def _iso_date(match: re.Match[str]) -> str:
    year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return match.group(0)
    return f" {day} {_MONTHS[month - 1]} {year} "


def _number(token: str) -> str:
    """`08` -> `8`, `2.50` -> `2.5`, `3.0` -> `3`."""
    whole, _, frac = token.partition(".")
    frac = frac.rstrip("0")
    return f"{int(whole)}.{frac}" if frac else str(int(whole))


def _tokens(text: str) -> list[str]:
    """The text's raw words after the rewrites that need the text around them (times, dates, number words)."""
    from text_to_num import alpha2digit

    text = _AMPERES.sub(" ampere", unicodedata.normalize("NFKC", text)).lower()
    text = _ISO_DATE.sub(_iso_date, text)
    text = _TIME.sub(_time, text)
    text = _THOUSANDS.sub("", text)
    for sign, word in _SIGNS.items():
        text = text.replace(sign, word)
    text = _PER_CENT.sub("percent", text)
    # text2num reads "sixty five" and "three year" but not "three-year", so hyphens between words go first.
    # threshold 0.5: a lone "one" becomes 1, but text2num's zero (which it also reads in "os") stays a word.
    text = alpha2digit(re.sub(r"(?<=[^\W\d_])-(?=[^\W\d_])", " ", text), "en", threshold=0.5)
    text = _ORDINAL.sub(r"\1", text)
    return _WORD.findall(text)


@functools.lru_cache(maxsize=1024)
def canonical_words(text: str) -> tuple[str, ...]:
    """The words of `text` in the rule's canonical form (numbers, units, dates and times in one spelling)."""
    tokens = _tokens(text)
    words: list[str] = []
    for i, token in enumerate(tokens):
        after_number = bool(words) and words[-1][0].isdigit()
        if token[0].isdigit() and ":" not in token:
            words.append(_number(token))
        elif token in _UNITS and (token not in _AFTER_NUMBER_ONLY or after_number):
            words.append(_UNITS[token])
        elif token in _MONTH_ABBR and (after_number or (i + 1 < len(tokens) and tokens[i + 1][0].isdigit())):
            words.append(_MONTH_ABBR[token])
        elif token not in _ARTICLES:
            words.append(token)
    return tuple(words)


def content_words(text: str) -> tuple[str, ...]:
    """The canonical words of `text` that carry its answer: function words dropped (all kept when that would
    leave none, as in "the US"), each once."""
    words = canonical_words(text)
    return tuple(dict.fromkeys([w for w in words if w not in FUNCTION_WORDS] or words))


def key_words(reference: str) -> frozenset[str]:
    """The reference's words that name its answer on their own: numbers, units, and words written with a
    capital letter or a digit (names, codes)."""
    marked = {w for raw in re.findall(r"\w+", unicodedata.normalize("NFKC", reference))
              if any(ch.isupper() or ch.isdigit() for ch in raw) for w in canonical_words(raw)}
    return frozenset(w for w in content_words(reference)
                     if w[0].isdigit() or w in _UNITS.values() or w in marked)


# ---------------------------------------------------------------- matching


def _singular(word: str) -> str:
    """English plural to singular by its regular endings (`shelves` -> `shelf`, `viruses` -> `virus`)."""
    for ending, stem in (("ies", "y"), ("ves", "f"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"),
                         ("xes", "x"), ("uses", "us")):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            return word[: -len(ending)] + stem
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


@functools.lru_cache(maxsize=65536)
def same_word(word: str, other: str) -> bool:
    """Whether two canonical words count as the same: equal; or, without digits and of 4+ letters, the same
    singular or a rapidfuzz ratio of at least FUZZY_RATIO."""
    if word == other:
        return True
    if any(ch.isdigit() for ch in word + other) or min(len(word), len(other)) < FUZZY_MIN_LETTERS - 1:
        return False
    if _singular(word) == _singular(other):
        return True
    if min(len(word), len(other)) < FUZZY_MIN_LETTERS:
        return False
    from rapidfuzz.fuzz import ratio

    return ratio(word, other, score_cutoff=FUZZY_RATIO) > 0


def required_words(reference: str, question: str = "") -> tuple[str, ...]:
    """The words a response must say to give `reference` as the answer to `question` (step 2 of the rule)."""
    words = content_words(reference)
    asked = content_words(question) if question else ()
    told = [w for w in words if not any(same_word(w, q) for q in asked)] or list(words)
    if len(words) <= SHORT_WORDS:
        keys = [w for w in told if w in key_words(reference)]
        if keys and len(keys) >= len(told) - len(keys):
            return tuple(keys)
    return tuple(told)


def needed(required: int, reference_words: int) -> int:
    """How many of the required words the response must hold: all for a short reference, else a share."""
    if reference_words <= SHORT_WORDS:
        return required
    return max(1, math.ceil(LONG_SHARE * required))


def window(required: int) -> int:
    """The longest stretch of response words the needed ones must fall in: about a sentence around them."""
    return 3 * required + 12


def text_window(required: int) -> int:
    """The same in a retrieved text: the reference's words with at most 3 others among them."""
    return required + 3


def _find(words: Sequence[str], required: Sequence[str], need: int, span: int) -> tuple[str, ...]:
    """The most required words found inside one stretch of `span` words (stopping once `need` are)."""
    hits = [frozenset(i for i, r in enumerate(required) if same_word(r, w)) for w in words]
    best: set[int] = set()
    for start, first in enumerate(hits):
        if not first:
            continue
        seen = set(first).union(*hits[start + 1:start + span])
        if len(seen) > len(best):
            best = seen
            if len(best) >= need:
                break
    return tuple(required[i] for i in sorted(best))


def match(response: str, reference: str, question: str = "") -> Match:
    """Whether `response` gives `reference` as the answer to `question`, by the rule in this module's docstring."""
    required = required_words(reference, question)
    if not required:
        return Match(not content_words(response), required, ())
    need = needed(len(required), len(content_words(reference)))
    found = _find(canonical_words(response), required, need, window(len(required)))
    return Match(len(found) >= need, required, found)


def answer_match(response: str, references: Iterable[str], question: str = "") -> float:
    """1.0 when the response gives any of the references by the rule, else 0.0 (the metric)."""
    return float(any(match(response, ref, question).matched for ref in references))


def in_text(text: str, references: Sequence[str]) -> bool:
    """Whether a retrieved text holds any reference: all its content words (or LONG_SHARE of a long one)
    within `text_window`, nothing optional (step 3 of the rule without the reader's allowances)."""
    words = canonical_words(text)
    for ref in references:
        required = content_words(ref)
        need = needed(len(required), len(required))
        if required and len(_find(words, required, need, text_window(len(required)))) >= need:
            return True
    return False
