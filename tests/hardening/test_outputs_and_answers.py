"""Issue 10, the causes a table row cannot show: answers never lost by `ask`, outputs written through (not
replaced) when they are not regular files, file modes, case libraries keeping their format, closed standard
streams, numbers as people write them, and user text that cannot steer a terminal or a Markdown report."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.support.hardening import ANSWERS, CASES, SUPPORT, VALIDATION

import advisor.cli as cli
from advisor.atomic import write_text
from advisor.cli import main

PARTIAL = {"knowledge_change": "weekly", "external_knowledge": "most"}


def invoke(*args, stdin=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


def _save(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------- ask: no lost answers, resume


def test_ask_end_of_input_at_the_first_question_keeps_the_saved_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    saved = _save(tmp_path / cli.PARTIAL_ANSWERS, {"version": 1, "answers": PARTIAL})
    before = saved.read_bytes()
    result = invoke("ask", stdin="")
    assert result.exit_code == 130
    assert saved.read_bytes() == before
    assert "Resuming from advisor-answers.yaml: 2 of 12" in result.output
    assert "unchanged" in result.stderr


def test_ask_resumes_a_partial_file_and_a_second_interruption_keeps_every_answer(tmp_path):
    saved = _save(tmp_path / "p.yaml", {"version": 1, "project": "Kept", "answers": PARTIAL})
    first = invoke("ask", "--save-answers", saved, stdin="light\n")  # answers question 3, then end of input
    assert first.exit_code == 130
    assert "Question 3 of 12" in first.output and "Question 1 of 12" not in first.output
    data = yaml.safe_load(saved.read_text())
    assert data["answers"] == {**PARTIAL, "style_adaptation": "light"} and data["project"] == "Kept"
    assert f"--save-answers {saved}" in first.stderr
    rest = [SUPPORT[q] for q in list(SUPPORT)[3:]] + ["", ""]  # Enter keeps the two new questions' default
    second = invoke("ask", "--save-answers", saved, stdin="\n".join(rest) + "\n")
    assert second.exit_code == 0, second.output
    assert yaml.safe_load(saved.read_text())["answers"] == {**SUPPORT, "knowledge_location": "not_sure",
                                                            "style_kind": "not_sure"}


def test_ask_with_standard_input_closed_exits_2_without_touching_files(tmp_path):
    saved = _save(tmp_path / cli.PARTIAL_ANSWERS, {"version": 1, "answers": PARTIAL})
    before = saved.read_bytes()
    result = subprocess.run(f"{sys.executable} -m advisor.cli ask <&-", shell=True, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "standard input is closed" in result.stderr
    assert saved.read_bytes() == before


def test_recommend_with_standard_output_closed_does_not_exit_0(tmp_path):
    answers = _save(tmp_path / "a.yaml", ANSWERS)
    result = subprocess.run(f"{sys.executable} -m advisor.cli recommend {answers} >&-", shell=True,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "standard output is closed" in result.stderr and "Traceback" not in result.stderr


def test_a_long_reply_is_not_echoed_whole(tmp_path):
    result = invoke("ask", "--save-answers", tmp_path / "a.yaml", stdin="x" * 1_000_000 + "\n")
    assert result.exit_code == 130
    assert len(result.output) < 10_000 and "…" in result.output


# ---------------------------------------------------------------- outputs


def test_output_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path):
    answers = _save(tmp_path / "a.yaml", ANSWERS)
    target = tmp_path / "real.md"
    target.write_text("old")
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert invoke("recommend", answers, "--format", "markdown", "-o", link).exit_code == 0
    assert link.is_symlink() and target.read_text().startswith("# Demo")


def test_output_to_a_device_is_written_through_not_replaced(tmp_path):
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    write_text(device, "into the void\n")
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_output_to_a_fifo_is_written_through(tmp_path):
    answers = _save(tmp_path / "a.yaml", ANSWERS)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = invoke("recommend", answers, "--format", "json", "-o", fifo)
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert json.loads(received[0])["recommendation"]


def test_outputs_get_the_umask_mode_and_rewrites_keep_theirs(tmp_path):
    old = os.umask(0o022)
    try:
        fresh = write_text(tmp_path / "new.md", "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.md"
        kept.write_text("x")
        kept.chmod(0o640)
        write_text(kept, "y")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "y"
    finally:
        os.umask(old)


# ---------------------------------------------------------------- case libraries keep their format


def _validation_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "validation.json").write_text(json.dumps({**VALIDATION, "answers": SUPPORT}))
    return run


def test_add_validation_keeps_a_json_library_json(tmp_path):
    library = tmp_path / "lib.json"
    library.write_text(json.dumps(CASES))
    result = invoke("add-validation", _validation_run(tmp_path), "--to", library, "--name", "measured")
    assert result.exit_code == 0, result.output
    assert [c["name"] for c in json.loads(library.read_text())["cases"]] == ["one", "measured"]
    assert invoke("cases", library).exit_code == 0


def test_add_validation_keeps_the_comments_of_a_yaml_library(tmp_path):
    library = tmp_path / "lib.yaml"
    library.write_text("# my library\nversion: 1\ncases:\n    # the first one\n    - name: one  # inline\n"
                       "      expected: rag\n      why: because\n      answers: {knowledge_change: daily}\n")
    result = invoke("add-validation", _validation_run(tmp_path), "--to", library, "--name", "measured")
    assert result.exit_code == 0, result.output
    text = library.read_text()
    assert "# my library" in text and "# the first one" in text and "# inline" in text
    assert [c["name"] for c in yaml.safe_load(text)["cases"]] == ["one", "measured"]


# ---------------------------------------------------------------- numbers, warnings, user text


def test_numbers_as_people_write_them(tmp_path):
    costs = {"queries_per_day": 1000, "tokens_per_query": 800, "price_per_1k_tokens": "5e-4"}
    text = yaml.safe_dump({**ANSWERS, "costs": costs}, sort_keys=False).replace("'5e-4'", "5e-4")
    result = invoke("recommend", _write(tmp_path / "a.yaml", text), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["costs"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_skipped_documents_are_warned_about_once_without_source_lines(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("A document about apples.")
    (docs / "empty.txt").write_text("")
    qa = _write(tmp_path / "qa.jsonl", '{"question": "q"}\n')  # bad pairs: stops before any model loads
    result = invoke("build", "rag", "--docs", docs, "--qa", qa, "--out", tmp_path / "out")
    assert result.exit_code == 2
    warnings = [line for line in result.stderr.splitlines() if "empty.txt" in line]
    assert warnings == [f"warning: skipping {docs / 'empty.txt'}: it is empty"], result.stderr
    assert "warnings.warn" not in result.stderr


EVIL = "Acme\x1b]0;owned\x07\x1b[2J\rX _em_ *b* [link](http://x) ~~s~~"


def test_control_characters_never_reach_the_terminal_or_the_markdown(tmp_path):
    answers = _save(tmp_path / "a.yaml", {**ANSWERS, "project": EVIL})
    text = invoke("recommend", answers).output
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert "Acme\\x1b]0;owned" in text
    invoke("report", answers, "-o", tmp_path / "r.md")
    md = (tmp_path / "r.md").read_text()
    assert "\x1b" not in md and "\r" not in md
    assert "\\_em\\_ \\*b\\* \\[link\\](http://x) \\~\\~s\\~\\~" in md


@pytest.mark.parametrize("sets", ["knowledge_change=sta\ntic", "knowledge_change=" + "y" * 100_000])
def test_set_values_are_shown_on_one_capped_line(tmp_path, sets):
    result = invoke("recommend", _save(tmp_path / "a.yaml", ANSWERS), "--set", sets)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and len(result.stderr) < 700


def _limited() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # 1 GiB: an expanded alias bomb needs ~2.5


@pytest.mark.parametrize("text", [
    "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")) + "version: 1\n",
    "version: 1\nanswers: " + "[" * 50_000 + "]" * 50_000 + "\n",
], ids=["alias-bomb", "deep-nesting"])
def test_in_a_real_process_bombs_exit_2_within_bounded_memory(tmp_path, text):
    path = _write(tmp_path / "a.yaml", text)
    result = subprocess.run([sys.executable, "-m", "advisor.cli", "recommend", str(path)], capture_output=True,
                            text=True, timeout=120, preexec_fn=_limited)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
