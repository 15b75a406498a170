"""The one rule for sample sizes in advice: how many held-out inputs make differences between approaches measurable.

Every output that advises on sample size (the rule base's first steps, the prompt-first steps, `validate`'s
refusal of too few pairs, the verdict's caveat, the next steps after a run and calibration's warning on a small
case library) takes its number from here, so none of them contradicts another.
"""

from __future__ import annotations

import math

# Held-out inputs (or cases) below this make only large differences measurable: with n inputs one input moves
# a score by 1/n, and a paired bootstrap interval of a difference is about ±2/sqrt(n) wide at worst (±0.37 at 30).
MEASURABLE_INPUTS = 30


def pairs_for(test_fraction: float, held_out: int = MEASURABLE_INPUTS) -> int:
    """Pairs needed so that `test_fraction` of them holds out `held_out` inputs."""
    return math.ceil(held_out / test_fraction - 1e-9)


def sample_advice(answered: int, held_out: int | None = None, pairs: int | None = None,
                  test_fraction: float | None = None, pinned: bool = False, goal: int = MEASURABLE_INPUTS,
                  why: str = "differences between approaches are measurable") -> str | None:
    """What to change so that a run measures differences: None when `answered` already reaches `goal`.

    `held_out` is the size of the held-out set (answered may be fewer under --eval-limit), `pairs` all pairs,
    `test_fraction` the share held out (None or `pinned` when the pairs' split fields fixed it). `goal` is
    MEASURABLE_INPUTS unless a run estimated more for one difference it saw (`why` then says which).
    """
    if answered >= goal:
        return None
    held = held_out if held_out is not None else answered
    lead = f"Answer {goal:,} or more held-out inputs so that {why}"
    if held >= goal:
        return f"{lead}: this run answered {answered} of its {held}; raise --eval-limit to {held} (or drop it)."
    if pinned:
        return f"{lead}: mark {goal:,} or more pairs \"split\": \"test\" (this run held out {held})."
    if pairs is None or not test_fraction:
        return f"{lead}: this run held out {held}; add pairs."
    needed = pairs_for(test_fraction, goal)
    raised = math.ceil(goal / pairs * 100) / 100 if pairs else None
    other = (f", or raise --test-fraction to {raised:g} (fewer pairs left for training)"
             if raised is not None and raised < 0.8 else "")
    return (f"{lead}: this run held out {held} of {pairs} pairs; give {needed:,} or more pairs at --test-fraction "
            f"{test_fraction:g} ({needed - pairs:,} more){other}.")


def few_inputs_caveat(answered: int) -> str | None:
    """The verdict's caveat for a small sample (None from MEASURABLE_INPUTS inputs on)."""
    if answered >= MEASURABLE_INPUTS:
        return None
    return (f"With {answered} inputs, only large differences are measurable ({MEASURABLE_INPUTS} or more make them "
            "measurable); add pairs to sharpen this.")
