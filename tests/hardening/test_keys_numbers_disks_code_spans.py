"""Issue 24, the second hardening pass: duplicate JSON keys, numbers YAML 1.1 reads as text or that overflow,
full disks (standard output and files), and backticks in user text reaching Markdown. (Documents in other
encodings are tested beside the document reader, in tests/backends.)"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from tests.support.hardening import ANSWERS, SUPPORT, VALIDATION
from markdown_it import MarkdownIt

from advisor.analyses.costs import estimate_costs, parse_costs, render_markdown
from advisor.cli import main
from advisor.errors import InputError
from advisor.commandline.exits import exit_statuses
from advisor.rulebase import default_rules_text


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (result.exit_code,
                                                                                        result.stderr)
    return lines[0]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- duplicate JSON keys: one reader, one rule


def test_a_json_answers_file_with_a_duplicate_block_is_refused_with_the_key_and_its_line(tmp_path):
    text = '{\n  "version": 1,\n  "answers": {"knowledge_change": "weekly"},\n  "answers": {}\n}\n'
    error = one_error(invoke("recommend", _write(tmp_path / "a.json", text)))
    assert error == (f"error: {tmp_path / 'a.json'}: line 4: duplicate key 'answers' (first at line 3); "
                     "give each key once")


def test_a_nested_duplicate_json_key_is_refused_like_the_yaml_one(tmp_path):
    json_text = '{"version": 1, "answers": {\n"traceability": "none",\n"traceability": "required"}}'
    yaml_text = "version: 1\nanswers:\n  traceability: none\n  traceability: required\n"
    from_json = one_error(invoke("recommend", _write(tmp_path / "a.json", json_text)))
    from_yaml = one_error(invoke("recommend", _write(tmp_path / "a.yaml", yaml_text)))
    assert "line 3: duplicate key 'traceability' (first at line 2)" in from_json
    assert "duplicate key 'traceability' (first at line 3)" in from_yaml


def test_the_same_key_in_sibling_objects_or_as_a_value_is_no_duplicate(tmp_path):
    validation = {**VALIDATION, "approaches": {"rag": {"status": "ok", "answers": {"f1": 0.4}},
                                               "hybrid": {"status": "ok", "answers": {"f1": 0.5}}},
                  "verdict": "status"}
    _write(tmp_path / "v" / "validation.json", json.dumps(validation))
    result = invoke("report", _write(tmp_path / "a.yaml", yaml.safe_dump(ANSWERS)), "-o", tmp_path / "r.md",
                    "--validation", tmp_path / "v")
    assert result.exit_code == 0, result.output


def test_a_duplicate_key_in_a_validation_file_and_in_a_pairs_line_is_refused(tmp_path):
    from advisor.backends.data import load_pairs

    text = json.dumps(VALIDATION)[:-1] + ', "agrees": false}'
    _write(tmp_path / "v" / "validation.json", text)
    error = one_error(invoke("report", _write(tmp_path / "a.yaml", yaml.safe_dump(ANSWERS)), "-o", tmp_path / "r.md",
                             "--validation", tmp_path / "v"))
    assert "duplicate key 'agrees'" in error and not (tmp_path / "r.md").exists()
    pairs = _write(tmp_path / "qa.jsonl", '{"question": "Q", "answer": "A"}\n{"question": "Q", "answer": "A", '
                                          '"answer": "B"}\n')
    with pytest.raises(InputError, match=r"qa.jsonl:2: .*duplicate key 'answer'"):
        load_pairs(pairs)


# ---------------------------------------------------------------- numbers as written, and too large


def _costs_yaml(value: str) -> str:
    return yaml.safe_dump(ANSWERS, sort_keys=False) + (
        f"costs:\n  queries_per_day: {value}\n  tokens_per_query: 800\n  price_per_1k_tokens: 0.001\n")


@pytest.mark.parametrize("written, read", [("1.5e308", 1.5e308), ("1.0e308", 1.0e308), ("2.5e3", 2500.0),
                                           (".5e3", 500.0), ("5e10", 5e10), ("1e-3", 0.001)])
def test_numbers_with_an_exponent_are_numbers_whether_or_not_they_have_a_dot_or_a_sign(written, read):
    from advisor.datafiles import parse_data

    assert parse_data(f"x: {written}\n", "f.yaml") == {"x": read}


def test_a_number_yaml_reads_as_text_in_costs_says_what_was_read_and_how_to_write_it(tmp_path):
    error = one_error(invoke("recommend", _write(tmp_path / "a.yaml", _costs_yaml("'1e308'"))))
    assert "costs.queries_per_day: must be a number (queries answered a day), got the text '1e308'" in error
    assert "write it unquoted as a plain number: 1.0e+308" in error
    with pytest.raises(InputError, match="got the text '5e10' .*: 50000000000.0"):
        parse_costs({"queries_per_day": "5e10", "tokens_per_query": 800})


@pytest.mark.parametrize("name, text", [
    ("a.yaml", _costs_yaml("1e400")),
    ("a.yaml", _costs_yaml("-1.0e999")),
    ("a.json", json.dumps({**ANSWERS, "costs": {"tokens_per_query": 800}})[:-2] + ', "queries_per_day": 1e400}}'),
])
def test_a_literal_that_overflows_is_refused_as_too_large_with_its_line(tmp_path, name, text):
    error = one_error(invoke("recommend", _write(tmp_path / name, text)))
    assert "is too large (the largest is about 1.8e+308)" in error and "line " in error, error


@pytest.mark.parametrize("value", ["1e308", "1" + "0" * 400, ".inf"])
def test_a_costs_value_beyond_the_limit_is_too_large_not_an_internal_fault(tmp_path, value):
    error = one_error(invoke("recommend", _write(tmp_path / "a.yaml", _costs_yaml(value))))
    assert "costs.queries_per_day: too large: must be at most 1e+12" in error, error


# ---------------------------------------------------------------- full disks: exit 2, one line, nothing half-written


def _advisor(args: list[str], stdout, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "advisor.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, env=env, timeout=120)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize("unbuffered", [{}, {"PYTHONUNBUFFERED": "1"}], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("args", [["rules", "schema"], ["recommend", "{answers}", "--format", "html"]],
                         ids=["rules-schema", "recommend"])
def test_standard_output_on_a_full_disk_is_exit_2_naming_it(tmp_path, args, unbuffered):
    answers = _write(tmp_path / "a.yaml", yaml.safe_dump(ANSWERS))
    with open("/dev/full", "w") as full:
        result = _advisor([a.replace("{answers}", str(answers)) for a in args], full, unbuffered)
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: cannot write standard output: no space left on device\n"


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to its last page; skipped where mounting is not permitted."""
    mount = tmp_path / "full"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        (mount / "filler").write_bytes(b"\0" * (60 * 1024))
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.mark.parametrize("unbuffered", [{}, {"PYTHONUNBUFFERED": "1"}], ids=["buffered", "unbuffered"])
def test_a_report_redirected_to_a_full_disk_leaves_the_file_as_it_was(tmp_path, full_disk, unbuffered):
    answers = _write(tmp_path / "a.yaml", yaml.safe_dump(ANSWERS))
    target, kept = full_disk / "report.html", full_disk / "kept.json"
    with open(target, "w") as out:
        result = _advisor(["recommend", str(answers), "--format", "html"], out, unbuffered)
    assert result.returncode == 2
    assert result.stderr == f"error: cannot write standard output '{target}': no space left on device\n"
    assert target.read_bytes() == b""  # not the 4 KiB that fitted
    kept.write_text("{}\n")
    with open(kept, "a") as out:  # `>>`: what the file held before stays, nothing is added
        result = _advisor(["rules", "schema"], out, unbuffered)
    assert result.returncode == 2 and kept.read_text() == "{}\n", result.stderr


def test_a_report_file_on_a_full_disk_is_not_written_at_all(tmp_path, full_disk):
    answers = _write(tmp_path / "a.yaml", yaml.safe_dump(ANSWERS))
    result = _advisor(["recommend", str(answers), "--format", "html", "-o", str(full_disk / "r.html")],
                      subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr == f"error: cannot write output '{full_disk / 'r.html'}': no space left on device\n"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]  # no report, no temporary file


def test_a_full_disk_anywhere_else_is_an_output_error_not_an_internal_fault(capsys):
    with pytest.raises(click.exceptions.Exit) as caught, exit_statuses():
        raise OSError(errno.ENOSPC, "No space left on device", "/runs/mine/index.bin")
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == "error: cannot write '/runs/mine/index.bin': no space left on device\n"


# ---------------------------------------------------------------- backticks in user text never open code spans

TICKS = "p `q` r"  # a code span if it reached Markdown unescaped
MARKDOWN = MarkdownIt("commonmark").enable("table")


def _shown_literally(md: str) -> None:
    """The user's backticks are text in the rendered page, and no code element holds what they enclose."""
    html = MARKDOWN.render(md)
    assert "<code>q</code>" not in html
    assert TICKS in html, [line for line in md.splitlines() if "q" in line]


def _validation_with(path: str) -> dict:
    data = json.loads(json.dumps(VALIDATION))
    data.update({"metric": "contains", "approaches": {**data["approaches"],
                                                      "fine-tuning": {"status": "failed", "error": "x"}}})
    data["examples"] = [{"input": "i", "references": ["r"], "outputs": {"rag": {"text": "o", "score": 1.0}}}]
    data["challenged_answers"] = [{"question": "external_knowledge", "answer": "none", "evidence": "e"}]
    data.update({"verdict": "v", "metric_reason": "m", "next_steps": ["n"]})
    data["comparisons"] = [{"a": "rag", "b": "baseline", "metric": "contains", "difference": 0.1,
                            "ci95": [0.0, 0.2], "tie": False}]
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if last == "arm-name":
        node[TICKS] = {"status": "ok", "answers": {"contains": 0.5}}
    else:
        node[int(last) if isinstance(node, list) else last] = TICKS
    return data


def _report(tmp_path: Path, answers: dict | None = None, rules: str | None = None, name: str = "a.yaml",
            validation: dict | None = None) -> str:
    args = ["report", _write(tmp_path / name, yaml.safe_dump(answers or ANSWERS, sort_keys=False)),
            "-o", tmp_path / "r.md"]
    if rules is not None:
        args += ["--rules", _write(tmp_path / "rules.yaml", rules)]
    if validation is not None:
        _write(tmp_path / "v" / "validation.json", json.dumps(validation))
        args += ["--validation", tmp_path / "v"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return (tmp_path / "r.md").read_text(encoding="utf-8")


def test_the_project_name(tmp_path):
    _shown_literally(_report(tmp_path, {**ANSWERS, "project": TICKS}))


def test_the_answers_file_name(tmp_path):
    _shown_literally(_report(tmp_path, name=f"{TICKS}.yaml"))


def test_the_rule_base_name(tmp_path):
    text = default_rules_text()
    name_line = next(line for line in text.splitlines() if line.startswith("name:"))
    _shown_literally(_report(tmp_path, rules=text.replace(name_line, f"name: '{TICKS}'", 1)))


def test_the_currency_of_the_costs_in_the_report_and_in_the_costs_table(tmp_path):
    costs = {"queries_per_day": 1000, "tokens_per_query": 800, "price_per_1k_tokens": 0.001, "currency": TICKS}
    _shown_literally(_report(tmp_path, {**ANSWERS, "costs": costs}))
    estimate = estimate_costs(parse_costs(costs), {**SUPPORT})
    _shown_literally(render_markdown(estimate.to_record()))


@pytest.mark.parametrize("path", [
    "verdict", "metric_reason", "next_steps.0", "examples.0.input", "examples.0.references.0",
    "examples.0.outputs.rag.text", "approaches.fine-tuning.error", "challenged_answers.0.evidence",
    "challenged_answers.0.answer", "comparisons.0.a", "recommended", "approaches.arm-name",
])
def test_the_free_text_of_a_validation_file(tmp_path, path):
    _shown_literally(_report(tmp_path, validation=_validation_with(path)))


def test_the_rule_base_keeps_its_own_code_spans_but_not_a_lone_backtick(tmp_path):
    text = default_rules_text()
    step = "Run `advisor validate` to compare against the untouched model and the alternatives on your own data."
    assert step in text
    md = _report(tmp_path, rules=text.replace(step, "Run `advisor validate` now; a lone ` stays text.", 1))
    html = MARKDOWN.render(md)
    assert "<code>advisor validate</code>" in html and "a lone ` stays text" in html
