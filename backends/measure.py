"""Time and peak resident memory of a stage of work, measured the same way for every approach."""

from __future__ import annotations

import os
import resource
import threading
import time
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Resident memory of this process now, in MB (from /proc; falls back to the lifetime peak)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE / 1e6
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


@dataclass
class Measurement:
    """What `measure()` found: wall seconds and the peak resident memory seen while the block ran."""

    seconds: float = 0.0
    peak_memory_mb: float = 0.0


class measure:
    """Context manager: `with measure() as m: ...` then `m.seconds`, `m.peak_memory_mb` (sampled every 50 ms)."""

    def __init__(self, interval: float = 0.05):
        self.result = Measurement()
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.result.peak_memory_mb = max(self.result.peak_memory_mb, rss_mb())

    def __enter__(self) -> Measurement:
        self._start = time.perf_counter()
        self.result.peak_memory_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self.result

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.result.peak_memory_mb = round(max(self.result.peak_memory_mb, rss_mb()), 1)
        self.result.seconds = round(time.perf_counter() - self._start, 3)
