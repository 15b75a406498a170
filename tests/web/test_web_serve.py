"""`advisor serve` as a process: prints its URL, stops cleanly on Ctrl-C, refuses a port in use with one line,
warns off loopback; and validate's progress.json, which the runs page follows."""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from tests.support.web import Server, cli, write_progress

from advisor.backends import validate as v
from advisor.errors import InputError
from advisor.web.runs import read_progress


def test_serve_prints_the_url_serves_and_stops_on_ctrl_c(tmp_path):
    server = Server(cwd=tmp_path)
    assert server.url.startswith("http://127.0.0.1:")
    assert httpx.get(server.url + "/").status_code == 200
    assert httpx.get(server.url + "/api/runs").json() == []  # runs/ under the working folder does not exist
    code, out, err = server.stop()
    assert code == 0, err
    assert out.rstrip().endswith("advisor serve: stopped")
    assert "Traceback" not in err and "warning" not in err


def test_a_port_in_use_is_one_clear_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [f"error: --port {port}: already in use on 127.0.0.1; stop what uses it or choose another port"]


def test_listening_beyond_loopback_warns(tmp_path):
    server = Server("--host", "0.0.0.0", cwd=tmp_path)
    code, out, err = server.stop()
    assert code == 0
    assert "warning: listening on 0.0.0.0, not loopback" in err


def test_a_bad_rule_base_or_host_is_exit_2_before_listening(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text("version: 1\nfactors: []\n")
    result = cli("serve", "--rules", str(bad), "--port", "0")
    assert result.returncode == 2 and result.stderr.startswith(f"error: {bad}") and "Traceback" not in result.stderr
    result = cli("serve", "--runs", str(bad), "--port", "0")
    assert (
        result.returncode == 2
        and result.stderr == f"error: --runs {bad}: is a file; give the folder that holds the validation runs\n"
    )
    missing = tmp_path / "no-such-runs"
    result = cli("serve", "--runs", str(missing), "--port", "0")  # refused, not served silently as an empty list
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: --runs {missing}: does not exist; give the folder")
    result = cli("serve", "--host", "no-such-host.invalid", "--port", "0")
    assert result.returncode == 2 and result.stderr.startswith("error: --host no-such-host.invalid: cannot resolve")


def test_validate_progress_is_written_atomically_per_stage_and_marked_done(tmp_path):
    write_progress(tmp_path, 1)
    progress = read_progress(tmp_path / v.PROGRESS_FILE)
    assert (progress.state, progress.stage, progress.stage_number, progress.stages) == (
        "running",
        "closed-book baseline",
        2,
        5,
    )
    assert 0 < progress.fraction_done < 0.1 and progress.seconds_left > 0
    bar = v.Progress([("load models", 1.0)], lambda line: None, tmp_path / v.PROGRESS_FILE)
    bar.start(0)
    bar.finish(0, 1.0)
    bar.done()
    data = json.loads((tmp_path / v.PROGRESS_FILE).read_text())
    assert data["state"] == "done" and data["fraction_done"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == [v.PROGRESS_FILE]  # no temporary file left behind
    (tmp_path / v.PROGRESS_FILE).write_text('{"state": ')  # half-written by hand: read as no progress
    assert read_progress(tmp_path / v.PROGRESS_FILE) is None


def test_a_run_interrupted_before_its_first_stage_can_be_resumed_into_the_same_folder(tmp_path):
    from tests.support.web import ROOT

    from advisor.backends.base import BuildSettings

    out = tmp_path / "run"
    write_progress(out, 0)  # Ctrl-C while loading the models leaves only progress.json
    sample = ROOT / "sample"
    files = (sample / "answers.yaml", sample / "docs", sample / "qa.jsonl")
    v.prepare_validation(*files, out, BuildSettings(), ["rag"])  # no raise
    (out / v.PROGRESS_FILE).unlink()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds other files"):  # a folder of someone else's is still refused
        v.prepare_validation(*files, out, BuildSettings(), ["rag"])


def test_everything_a_rule_base_author_wrote_is_escaped_on_the_pages(tmp_path):
    from tests.support.web import ROOT

    text = (ROOT / "rules" / "default.yaml").read_text()
    hostile = '<img src=x onerror="alert(1)">'
    text = text.replace("name: default", f"name: '{hostile}'", 1)
    text = text.replace(
        "text: How often does the knowledge that answers depend on change?", f"text: '{hostile} How often?'", 1
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(text)
    server = Server("--rules", str(rules), cwd=tmp_path)
    try:
        page = httpx.get(server.url + "/").text
        assert hostile not in page and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
        assert httpx.get(server.url + "/api/questions").json()["questions"][0]["text"].startswith(hostile)
        report = httpx.post(server.url + "/api/report?format=html", json={"version": 1, "answers": {}}).text
        assert hostile not in report
    finally:
        code, out, err = server.stop()
    assert code == 0, err
