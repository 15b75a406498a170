"""The answer-matching rule (advisor.matching): one form for numbers, units and dates, what a response must
say, and that it still refuses wrong answers."""

from __future__ import annotations

import pytest

from advisor import matching
from advisor.matching import answer_match, canonical_words, content_words, in_text, match


@pytest.mark.parametrize(("a", "b"), [
    ("65%", "65 percent"),
    ("65 per cent", "sixty-five percent"),
    ("1,000 units", "1000 units"),
    ("EUR 2,390", "€2,390"),
    ("2390 euros", "EUR 2,390"),
    ("the first of February", "1 February"),
    ("2024-02-01", "1 February 2024"),
    ("Feb 1st", "1 February"),
    ("1:30 PM", "13:30"),
    ("8:45 am", "08:45"),
    ("twelve seconds", "12 secs"),
    ("a three-year warranty", "3 year warranty"),
    ("38 liters", "38 litres"),
    ("16 A", "16 amperes"),
    ("2.50", "2.5"),
])
def test_common_forms_of_numbers_units_and_dates_are_one_form(a, b):
    assert sorted(content_words(a)) == sorted(content_words(b))


def test_words_that_are_not_numbers_or_units_are_left_alone():
    assert canonical_words("Mistline OS 4.8.2") == ("mistline", "os", "4.8", "2")
    assert canonical_words("a mar on the finish") == ("mar", "on", "finish")  # "mar" is a month only by a day
    assert canonical_words("5 a day") == ("5", "a", "day") or "ampere" not in canonical_words("5 a day")


@pytest.mark.parametrize(("response", "reference", "question"), [
    ("The default humidity target of the Canopy Bay C7 is 65%.", "65 percent",
     "What is the default humidity target of the Canopy Bay C7?"),
    ("The Canopy Bay C7 has 5 grow shelves.", "5 shelves", "How many grow shelves does the Canopy Bay C7 have?"),
    ("It has five separate shelf levels.", "5 shelves", "How many shelf levels are inside a Canopy Bay C7?"),
    ("The answer is: 7", "7 working days", "How many working days does shipping to Zone C take?"),
    ("The Nightjar on-call team", "Nightjar rotation", "What is the Tier 3 on-call group called?"),
    ("Returns are approved by Tobiah Grenn.", "Tobiah Grenn", "Who approves returns?"),
    ("The code is E-211.", "E-211", "Which code means a pump stall?"),
    ("New starters report at 8:45 am.", "08:45", "When do new starters report?"),
    ("It costs 11% of the list price a year.", "11 percent of list price", "What does the care plan cost?"),
    ("Light driver overheat", "Light Driver Overheat", "Which fault is E-317?"),
])
def test_a_reader_s_correct_answers_count(response, reference, question):
    assert match(response, reference, question).matched


@pytest.mark.parametrize(("response", "reference", "question"), [
    ("The Canopy Bay C7 has 12 shelves.", "5 shelves", "How many shelves?"),
    ("It is 2 hours.", "2 years", "How long is the warranty?"),
    ("Mireille Aston", "Bartek Lunde", "Who leads the Canopy Ops team?"),
    ("E-104: Pump stall failure", "E-211", "Which error code indicates a pump stall?"),
    ("12 percent", "11 percent of list price", "What is the yearly price?"),
    ("The Canopy Bay C7 is built into the Canopy Bay C7.", "Lyrecam 4", "Which camera is built in?"),
    ("Light overheat", "Light Driver Overheat", "Which fault is E-317?"),
    ("", "65 percent", "What is the humidity target?"),
])
def test_wrong_or_partial_answers_do_not(response, reference, question):
    assert not match(response, reference, question).matched


def test_the_question_s_words_are_not_required_but_the_answer_s_are():
    assert match("The answer is 7.", "7 working days", "How many working days?").required == ("7",)
    assert match("working days", "7 working days", "How many working days?").matched is False


def test_any_reference_may_match_and_the_metric_is_a_fraction():
    assert answer_match("It takes 6 weeks.", ["six weeks", "42 days"]) == 1.0
    assert answer_match("It takes 7 weeks.", ["six weeks", "42 days"]) == 0.0


def test_long_references_need_most_of_their_content_words():
    reference = "Mother-to-child transmission (MTCT) is the main cause of HIV-1 infection in children worldwide."
    question = "What is the main cause of HIV-1 infection in children?"
    assert match("Mother-to-child transmission is the main cause.", reference, question).matched
    assert not match("HIV-1 infection in children is caused by a virus.", reference, question).matched


def test_in_a_retrieved_text_nothing_is_optional_and_words_must_be_close():
    context = ("The Canopy Bay C7 cabinet holds five shelves, each lit by its own bar.\n"
               "Warranty: 2 years on electronics. " + "Filler text about other things. " * 20 + "Rotation: Nightjar.")
    assert in_text(context, ["5 shelves"])
    assert in_text(context, ["2 years"])
    assert not in_text(context, ["5 years"])
    assert not in_text("Warranty: 2 months. " + "Other words here. " * 20 + "It lasts years.", ["2 years"])


def test_the_rule_is_named_and_described_once():
    assert matching.RULE_NAME == "answer_match"
    assert "65% = 65 percent" in matching.RULE_DESCRIPTION
