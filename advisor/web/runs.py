"""Validation runs under the `--runs` folder: which exist, their verdicts, and the progress of one still running.

Nothing outside the folder is read: a run name is a plain folder name, and every path is resolved (symlinks
followed) and checked to lie inside the folder before it is opened.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, field_serializer

from advisor.errors import InputError
from advisor.runrecords import PROGRESS_FILE, VALIDATION_FILE, ValidationRun, load_validation

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
REPORT_FILE = "report.html"
MAX_FILE_BYTES = 20 * 1024 * 1024  # a validation.json or report.html larger than this is not a run's

Status = Literal["done", "running", "stopped", "corrupt", "incomplete"]


class BadRunName(InputError):
    """A run name that is not a plain folder name (HTTP 400)."""


class RunOutside(InputError):
    """A run folder or file that resolves outside the runs folder, e.g. through a symlink (HTTP 403)."""


class RunNotFound(InputError):
    """No such run (HTTP 404)."""


class RunProgress(BaseModel):
    """What `advisor validate` last wrote to the run's progress.json."""

    state: str
    stage: Optional[str] = None
    stage_number: Optional[int] = None
    stages: Optional[int] = None
    fraction_done: Optional[float] = None
    seconds_left: Optional[float] = None
    pid: Optional[int] = None


class ArmAnswer(BaseModel):
    """Which model answered an arm of a finished run, where, and its tokens and cost per answer."""

    arm: str
    model: str
    where: str  # an endpoint's host, or "in-process (DEVICE)"
    tokens: Optional[str] = None  # "prompt / answer" tokens per answer
    cost: Optional[str] = None  # per 1,000 answers, with the currency


class RunSummary(BaseModel):
    """One run in the list: its status and, once finished, its verdict and who answered each arm."""

    name: str
    status: Status
    recommended: Optional[str] = None
    start_with: Optional[str] = None  # `prompt` when the questionnaire said few-shot prompting first
    best_measured: Optional[str] = None
    agrees: Optional[bool] = None
    verdict: str = ""
    error: str = ""
    progress: Optional[RunProgress] = None
    has_report: bool = False
    arms: list[ArmAnswer] = []
    model_warning: str = ""


class RunDetail(RunSummary):
    """One run with its whole validation.json (the evidence), typed; it is sent as the file holds it."""

    validation: Optional[ValidationRun] = None

    @field_serializer("validation")
    def _as_written(self, run: Optional[ValidationRun]) -> Optional[dict[str, Any]]:
        return run.to_json() if run is not None else None


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def run_folder(runs_dir: Path, name: str) -> Path:
    """The resolved folder of run `name`; BadRunName, RunOutside or RunNotFound otherwise."""
    if not NAME.fullmatch(name or ""):
        raise BadRunName(f"run name {name!r}: expected a folder name under the runs folder "
                         "(letters, digits, '.', '_' and '-', not starting with '.')")
    root = runs_dir.resolve()
    real = (runs_dir / name).resolve()
    if real.parent != root:
        raise RunOutside(f"run '{name}' leads outside the runs folder; it is not served")
    if not real.is_dir():
        raise RunNotFound(f"no run '{name}' in the runs folder {runs_dir}")
    return real


def run_file(runs_dir: Path, folder: Path, filename: str) -> Path | None:
    """A regular file of a run, or None when missing; RunOutside when it resolves outside the runs folder."""
    path = folder / filename
    if not path.exists():
        return None
    real = path.resolve()
    if not _inside(runs_dir.resolve(), real):
        raise RunOutside(f"{folder.name}/{filename} leads outside the runs folder; it is not served")
    if not real.is_file():
        return None
    if real.stat().st_size > MAX_FILE_BYTES:
        raise InputError(
            f"{folder.name}/{filename}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a run's file"
        )
    return real


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run folder (one holding validation.json or progress.json), newest first; broken ones with the reason."""
    if not runs_dir.is_dir():
        return []
    found = []
    for entry in runs_dir.iterdir():
        if not NAME.fullmatch(entry.name):
            continue
        try:
            folder = run_folder(runs_dir, entry.name)
            if not ((folder / VALIDATION_FILE).exists() or (folder / PROGRESS_FILE).exists()):
                continue
            found.append((_modified(folder), read_run(runs_dir, entry.name, with_validation=False)))
        except InputError:
            continue  # a symlink leaving the folder, or gone since the listing: not a run of ours
    return [summary for _, summary in sorted(found, key=lambda item: (-item[0], item[1].name))]


def _modified(folder: Path) -> float:
    times = [p.stat().st_mtime for p in (folder / VALIDATION_FILE, folder / PROGRESS_FILE) if p.is_file()]
    return max(times, default=folder.stat().st_mtime)


def read_run(runs_dir: Path, name: str, with_validation: bool = True) -> RunDetail:
    """A run's status, verdict and (optionally) its validation.json; a corrupt file gives status 'corrupt'."""
    folder = run_folder(runs_dir, name)
    progress = read_progress(run_file(runs_dir, folder, PROGRESS_FILE))
    validation_path = run_file(runs_dir, folder, VALIDATION_FILE)
    detail = RunDetail(
        name=name,
        status="incomplete",
        progress=progress,
        has_report=run_file(runs_dir, folder, REPORT_FILE) is not None,
    )
    if validation_path is not None:
        try:
            validation = load_validation(runs_dir / name / VALIDATION_FILE)
        except InputError as exc:
            detail.status, detail.error = "corrupt", str(exc)
        else:
            detail.status = "done"
            detail.recommended = validation.recommended
            detail.start_with = validation.start_with
            detail.best_measured = validation.best_measured
            detail.agrees = validation.agrees
            detail.verdict = validation.verdict or ""
            detail.arms = arm_answers(validation)
            detail.model_warning = validation.model_warning or ""
            if with_validation:
                detail.validation = validation
    if progress is not None and progress.state == "running":
        detail.status = "running" if _alive(progress) else ("stopped" if validation_path is None else detail.status)
    return detail


def arm_answers(run: ValidationRun) -> list[ArmAnswer]:
    """Per measured arm (the untouched model first): the model that answered, where, tokens and cost."""
    from advisor.backends.arms import label
    from advisor.report import money

    blocks = ([("untouched", run.baseline.answered_by, run.baseline.usage)] if run.baseline else []) + \
        [(name, arm.answered_by, arm.usage) for name, arm in run.approaches.items() if arm.ok]
    found = []
    for name, by, usage in blocks:
        if by is None:
            continue
        tokens = cost = None
        if usage is not None and usage.prompt_tokens_per_answer is not None \
                and usage.completion_tokens_per_answer is not None:
            tokens = f"{usage.prompt_tokens_per_answer:.0f} / {usage.completion_tokens_per_answer:.0f}"
        if usage is not None and usage.cost_per_1000_answers is not None:
            cost = money(usage.cost_per_1000_answers, usage.currency)
        where = (by.host or "?") if by.kind == "endpoint" else f"in-process ({by.device or 'cpu'})"
        found.append(ArmAnswer(arm=label(name), model=by.model, where=where, tokens=tokens,
                               cost=cost))
    return found


def read_progress(path: Path | None) -> RunProgress | None:
    """The run's progress.json, or None when missing or unreadable (a reader must not fail on a half-written run)."""
    if path is None:
        return None
    try:
        return RunProgress.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):  # pydantic's ValidationError is a ValueError
        return None


def _alive(progress: RunProgress) -> bool:
    """Whether the process that wrote the progress still runs (a run killed mid-way leaves 'running' behind)."""
    if progress.pid is None or progress.pid <= 0:
        return True
    try:
        os.kill(progress.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
