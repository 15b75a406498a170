"""Every benchmark script still starts: its imports resolve and its options parse (`--help`), so a move of a
module they use cannot leave a benchmark broken until someone next runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_the_benchmark_starts_and_describes_its_options(script):
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                            cwd=BENCHMARKS.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage:"), result.stdout[:200]


def test_the_benchmarks_are_found():
    assert len(SCRIPTS) >= 11 and all("argparse" in p.read_text(encoding="utf-8") for p in SCRIPTS)
