"""Click parameter types for numbers: finite (no nan, no inf), in range, and written as people write them."""

from __future__ import annotations

import math
from typing import Any

import click

from advisor.text import show


class FiniteFloat(click.ParamType):
    """A finite float (1, 0.5, 5e-4) within optional bounds; nan and inf are refused with the option's name."""

    name = "number"

    def __init__(self, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False, integral: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open, self.integral = low, high, low_open, high_open, integral

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The number, or click's usage error (exit 2) saying what was expected."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                self.fail(f"{show(value)} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{show(value)} is not a finite number", param, ctx)
        if self.integral and number != int(number):
            self.fail(f"{show(value)} is not a whole number", param, ctx)
        if self.low is not None and (number < self.low or (self.low_open and number == self.low)):
            self.fail(
                f"{show(value)} must be {'greater than' if self.low_open else 'at least'} {self.low:g}", param, ctx
            )
        if self.high is not None and (number > self.high or (self.high_open and number == self.high)):
            self.fail(f"{show(value)} must be {'less than' if self.high_open else 'at most'} {self.high:g}", param, ctx)
        return int(number) if self.integral else number


FINITE_NON_NEGATIVE = FiniteFloat(0.0)
POSITIVE = FiniteFloat(0.0, low_open=True)
FRACTION = FiniteFloat(0.0, 1.0, low_open=True, high_open=True)
