"""Bad launches and a rank killed mid-training: one clear message, a nonzero exit, the earlier build untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.support.launch import DOCS, TINY, advisor


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under folder (and beside it) with its content hash."""
    files = {str(p.relative_to(folder.parent)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in folder.rglob("*") if p.is_file()}
    return {**files, **{p.name: "" for p in folder.parent.iterdir() if p != folder}}


@pytest.fixture
def earlier(tmp_path) -> Path:
    """An earlier finished fine-tuning build in a folder of its own (its files stand in for real ones)."""
    out = tmp_path / "earlier" / "ft"
    (out / "adapter").mkdir(parents=True)
    (out / "adapter" / "adapter_model.safetensors").write_bytes(b"earlier adapter")
    (out / "manifest.json").write_text(json.dumps({"approach": "fine-tuning", "interrupted": False}))
    (out / "metrics.json").write_text(json.dumps({"approach": "fine-tuning", "interrupted": False}))
    return out


def _build(project: Path, out: Path, nproc: int, *extra: str, env: dict[str, str] | None = None):
    return advisor(
        ["build", "fine-tuning", "--docs", str(DOCS), "--qa", str(project), "--out", str(out), *TINY, *extra],
        nproc=nproc,
        env=env,
    )


def test_a_world_size_that_does_not_divide_the_global_batch_is_refused(project, earlier):
    before = _snapshot(earlier)
    result = _build(project, earlier, 3)
    assert result.returncode != 0
    # Each rank says it once, on one line, without a traceback (torchrun then prints its own summary).
    # torchrun may stop the slower ranks before they print: those say they were stopped, naming themselves.
    ours = [line for line in result.stderr.splitlines() if line.startswith(("error:", "[rank "))]
    said = [line for line in ours if "the training batch of 8 cannot be split over 3 processes" in line]
    stopped = [line for line in ours if "stopped by the launcher because another rank failed" in line]
    assert said and len(said) + len(stopped) == len(ours), ours
    assert _snapshot(earlier) == before


def test_more_processes_than_held_out_questions_is_refused(project, earlier):
    before = _snapshot(earlier)
    result = _build(project, earlier, 2, "--eval-limit", "1")
    assert result.returncode != 0
    assert "error: 2 processes but only 1 held-out questions to answer" in result.stderr
    assert _snapshot(earlier) == before


def test_a_rank_killed_mid_training_stops_the_run_and_keeps_the_earlier_adapter(project, earlier):
    before = _snapshot(earlier)
    result = _build(project, earlier, 2, env={"ADVISOR_TEST_KILL_RANK_AT_STEP": "1:2"})
    assert result.returncode != 0
    # The surviving rank leaves through its cleanup naming itself (whether it saw the broken all-reduce or
    # torchrun's stop signal first); torchrun names the rank that died and its signal.
    assert (
        "error: rank 0: training step 3 failed" in result.stderr
        or "error: rank 0: stopped by the launcher because another rank failed" in result.stderr
    ), result.stderr[-3000:]
    assert "rank      : 1" in result.stderr and "SIGKILL" in result.stderr
    assert _snapshot(earlier) == before
