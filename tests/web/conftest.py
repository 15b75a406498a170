"""Fixtures of the web tests: one run folder of every kind, and a real server over it."""

from __future__ import annotations

import json
import os

import pytest
from tests.support.web import Server, dead_pid, write_done_run, write_progress


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    """runs/ with a finished run, a corrupt one, one in progress, one stopped, and a symlink leaving the folder."""
    root = tmp_path_factory.mktemp("web")
    runs = root / "runs"
    write_done_run(runs / "sample")
    write_done_run(runs / "no-report", with_report=False)
    validation = write_done_run(runs / "with-nan", with_report=False)
    validation["approaches"]["rag"]["peak_memory_mb"] = float("nan")  # Python's json writes NaN; JSON cannot carry it
    (runs / "with-nan" / "validation.json").write_text(json.dumps(validation), encoding="utf-8")
    (runs / "broken").mkdir(parents=True)
    (runs / "broken" / "validation.json").write_text('{"version": 1, "approaches": {', encoding="utf-8")
    write_progress(runs / "in-progress", 2)  # this test process is the "run": alive while the tests run
    write_progress(runs / "stopped", 3, pid=dead_pid())
    outside = root / "outside"
    write_done_run(outside, with_report=False)
    (outside / "secret.txt").write_text("not for the web", encoding="utf-8")
    os.symlink(outside, runs / "escape")
    (runs / "not-a-run").mkdir()
    return runs


@pytest.fixture(scope="session")
def server(runs_dir):
    """`advisor serve` over runs_dir on a free loopback port; stopped with Ctrl-C at the end, which must be clean."""
    srv = Server("--runs", str(runs_dir))
    yield srv
    code, out, err = srv.stop()
    assert code == 0, (out, err)
    assert "Traceback" not in err, err


@pytest.fixture
def client(server):
    """An HTTP client for the server."""
    import httpx

    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c
