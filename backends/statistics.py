"""The statistics every comparison uses: percentiles of latencies and the paired bootstrap of two arms' scores.

Kept apart from evaluation so the decision rule, the evidence and the benchmarks read the same numbers without
loading the evaluation. Light at import: numpy is imported only when a bootstrap is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from advisor.runrecords import Interval

BOOTSTRAP_RESAMPLES = 10_000  # fine enough for p-values near 0.05 / 10, the strictest step of Holm's adjustment
_BLOCK = 1000  # resamples drawn at a time, so memory stays bounded whatever the number of questions


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def bootstrap_ci(
    per_question_a: Sequence[float],
    per_question_b: Sequence[float],
    n: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """Paired bootstrap over questions of mean(a) - mean(b): the difference, its confidence interval and a
    two-sided p-value from the same resamples (twice the smaller share of resampled means on either side of
    0, counted with the observed one so it is never 0).

    `tie` is true when the interval includes 0 (the difference is inside the noise of this one comparison).
    """
    import numpy as np

    if len(per_question_a) != len(per_question_b):
        raise ValueError(f"paired scores differ in length: {len(per_question_a)} and {len(per_question_b)}")
    m = len(per_question_a)
    if m == 0:
        return Interval(difference=0.0, low=0.0, high=0.0, confidence=confidence, questions=0, tie=True,
                        p_value=1.0)
    diffs = np.asarray(per_question_a, dtype=float) - np.asarray(per_question_b, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.concatenate([diffs[rng.integers(0, m, size=(min(_BLOCK, n - start), m))].mean(axis=1)
                            for start in range(0, n, _BLOCK)])
    means.sort()
    tail = (1 - confidence) / 2
    low = float(means[min(n - 1, int(math.floor(tail * n)))])
    high = float(means[min(n - 1, int(math.ceil((1 - tail) * n)) - 1)])
    eps = 1e-12  # means of the same resampled values can differ from 0 by rounding alone
    side = min(int((means <= eps).sum()), int((means >= -eps).sum()))
    p_value = min(1.0, 2 * (side + 1) / (n + 1))
    return Interval(difference=round(float(diffs.mean()), 4), low=round(low, 4), high=round(high, 4),
                    confidence=confidence, questions=m, tie=bool(low <= 0 <= high), p_value=round(p_value, 5))
