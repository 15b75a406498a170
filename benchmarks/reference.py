"""A fixed reference workload, timed in the same run as a benchmark, so that its times can be read on another
machine (or under another load) as multiples of this one: machines of one kind differ 2-3x, and a wall time
alone cannot say whether the code or the machine changed.

The workload is what dominates `advisor validate` on a CPU: float32 matrix products of the default generator's
shapes (SmolLM2-135M: hidden 576, MLP 1536), forward and backward, with torch's default threads.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import asdict, dataclass

SHAPE = (256, 576, 1536)  # tokens in a batch, hidden size, MLP width
REPEATS = 10


@dataclass(frozen=True)
class Machine:
    """The state of the machine while a benchmark ran: load before and after, and the reference's time."""

    cpus: int | None
    load_before: float  # 1-minute load average
    load_after: float
    reference_seconds: float  # the fixed workload (best of 3), timed just before the benchmark
    reference_after_seconds: float  # and just after: a large gap means the load changed during the run

    def as_dict(self) -> dict:
        return asdict(self)


def reference_seconds() -> float:
    """Best of three timings of the fixed workload (seconds)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    tokens, hidden, width = SHAPE
    x = torch.randn(tokens, hidden, generator=generator)
    up = torch.randn(hidden, width, generator=generator, requires_grad=True)
    down = torch.randn(width, hidden, generator=generator, requires_grad=True)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(REPEATS):
            loss = ((x @ up).relu() @ down).pow(2).mean()
            loss.backward()
        best = min(best, time.perf_counter() - started)
        up.grad = down.grad = None
    return best


def child_cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by finished child processes: less sensitive to load than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Measured:
    """Times a benchmark between two reference timings and two load readings: `with Measured() as m: ...`."""

    def __enter__(self) -> Measured:
        self.load_before = os.getloadavg()[0]
        self.reference = reference_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.machine = Machine(os.cpu_count(), round(self.load_before, 2), round(os.getloadavg()[0], 2),
                               round(self.reference, 3), round(reference_seconds(), 3))

    def in_reference_units(self, seconds: float) -> float:
        """A time as a multiple of the reference workload's (the mean of the two timings)."""
        return round(seconds / ((self.machine.reference_seconds + self.machine.reference_after_seconds) / 2), 1)
