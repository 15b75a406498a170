"""Helpers of the web tests: a real `advisor serve` process on a free loopback port, and run folders to serve."""

from __future__ import annotations

import atexit
import json
import os
import re
import selectors
import signal
import subprocess
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ANSWERS = ROOT / "sample" / "answers.yaml"
ADVISOR = str(Path(sys.executable).with_name("advisor"))
START_TIMEOUT = 60.0


class Server:
    """`advisor serve --port 0 ...` in a subprocess; `url` is read from the line it prints once it listens."""

    def __init__(self, *args: str, cwd: Path | None = None):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([ADVISOR, "serve", "--port", "0", *args], cwd=cwd, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        atexit.register(self._end)  # a test that fails before stop() leaves no server behind the session
        self.first_line = read_line(self.process, START_TIMEOUT)
        found = re.search(r"http://\S+/", self.first_line)
        if not found:
            self.process.kill()
            raise RuntimeError(f"advisor serve printed no URL: {self.first_line!r} {self.process.stderr.read()}")
        self.url = found.group(0).rstrip("/")
        # The socket listens before uvicorn runs: this first request waits in its queue until it is served.
        httpx.get(self.url + "/api/health", timeout=START_TIMEOUT).raise_for_status()

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C, as a person would; the exit status and the rest of stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, self.first_line + out, err


    def _end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def read_line(process: subprocess.Popen, timeout: float) -> str:
    """The process's next stdout line, or '' if it ends or stays silent for `timeout` seconds."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout):
            return ""
        return process.stdout.readline()
    finally:
        selector.close()


def validation_for(answers: dict[str, str], recommended: str) -> dict:
    """A validation.json of the contract's shape, as `advisor validate` writes it (hybrid failed, rag best)."""
    block = {"status": "ok", "questions": 12, "answers": {"contains": 0.75, "f1": 0.6, "exact_match": 0.2},
             "retrieval": {"k": 5, "recall_at_k": 0.92, "mrr": 0.81}, "latency_ms": {"p50": 800.0, "p95": 1300.0},
             "build_seconds": 31.0, "peak_memory_mb": 900.0}
    return {
        "version": 1, "recommended": recommended, "best_measured": "rag", "agrees": recommended == "rag",
        "tied_with_best": ["rag"], "metric": "contains", "metric_reason": "gold answers are short",
        "questions": 12, "held_out": 12, "train_pairs": 40, "seed": 0, "test_fraction": 0.25,
        "baseline": {"answers": {"contains": 0.1, "f1": 0.1, "exact_match": 0.0}},
        "approaches": {
            "rag": {**block, "answered_by": {"kind": "endpoint", "model": "llama3.1:8b <b>", "host": "gpu-box:11434"},
                    "usage": {"answers": 12, "prompt_tokens": 4800, "completion_tokens": 240,
                              "prompt_tokens_per_answer": 400.0, "completion_tokens_per_answer": 20.0,
                              "cost": 0.00276, "cost_per_1000_answers": 0.23, "currency": "USD"}},
            "fine-tuning": {**block, "answers": {"contains": 0.25, "f1": 0.3, "exact_match": 0.0}, "retrieval": None},
            "hybrid": {"status": "failed", "approach": "hybrid", "error": "out of memory <script>alert(1)</script>"},
        },
        "comparisons": [
            {"a": "rag", "b": "fine-tuning", "metric": "contains", "difference": 0.5, "ci95": [0.2, 0.8],
             "questions": 12, "tie": False},
            {"a": "rag", "b": "baseline", "metric": "contains", "difference": 0.65, "ci95": [0.4, 0.9],
             "questions": 12, "tie": False},
        ],
        "models": {"generator": "SmolLM2-135M-Instruct", "embedder": "all-MiniLM-L6-v2"},
        "answers": answers,
        "challenged_answers": [],
        "verdict": (f"On 12 held-out questions, rag measured best (contains 0.75 against 0.10 for the untouched "
                    f"model). The questionnaire recommended {recommended}."),
        "next_steps": ["Fix and re-run the failed approach(es): hybrid (finished stages are reused)."],
        "stages": [{"name": "load models", "seconds": 7.0}, {"name": "rag", "seconds": 57.0}],
    }


def write_done_run(folder: Path, with_report: bool = True) -> dict:
    """A finished run as `advisor validate` leaves it: validation.json, report.html and report.md."""
    from advisor.answers import load_answers
    from advisor.engine import compile_rules, recommend
    from advisor.report import write_report
    from advisor.runrecords import ValidationRun
    from advisor.rulebase import load_rules

    rulebase = load_rules()
    model, answers = load_answers(SAMPLE_ANSWERS, rulebase)
    rec = recommend(compile_rules(rulebase), answers)
    validation = validation_for(rec.answers, rec.recommendation)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "validation.json").write_text(json.dumps(validation, indent=2) + "\n", encoding="utf-8")
    if with_report:
        for name in ("report.html", "report.md"):
            write_report(folder / name, rec, rulebase, project=model.project, answers_file=str(SAMPLE_ANSWERS),
                         validation=ValidationRun.model_validate(validation))
    return validation


def write_progress(folder: Path, index: int, pid: int | None = None) -> None:
    """progress.json through validate's own writer, as a run at stage `index` (of five) leaves it."""
    from advisor.backends import validate as v

    folder.mkdir(parents=True, exist_ok=True)
    plan = [("load models", 15.0), ("closed-book baseline", 10.0), ("rag", 40.0), ("fine-tuning", 100.0),
            ("hybrid", 300.0)]
    progress = v.Progress(plan, lambda line: None, folder / v.PROGRESS_FILE)
    for i in range(index):
        progress.start(i)
        progress.finish(i, plan[i][1])
    progress.start(index)
    if pid is not None:
        data = json.loads((folder / v.PROGRESS_FILE).read_text())
        (folder / v.PROGRESS_FILE).write_text(json.dumps({**data, "pid": pid}))


def finish_progress(folder: Path) -> None:
    """progress.json as a run leaves it once its results are written."""
    from advisor.backends import validate as v

    v.Progress([("load models", 15.0)], lambda line: None, folder / v.PROGRESS_FILE).done()


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the advisor command line in a subprocess."""
    return subprocess.run([ADVISOR, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def minute_bracketed(first: bytes, middle: bytes, last: bytes) -> bool:
    """Whether `middle`, rendered between `first` and `last`, equals one of them (reports carry the minute)."""
    return middle in (first, last)
