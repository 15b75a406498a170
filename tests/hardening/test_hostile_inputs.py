"""Hostile inputs against the command line (issue 10): each is refused with exit 2 and one clear line, no
traceback, no hang, and no file that existed before is lost or changed unless it was the output asked for.

Every row builds its files in a fresh folder, runs one command through click's CliRunner, and compares a
snapshot of the folder before and after. No model is loaded: the loaders are replaced by a tripwire.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from advisor.cli import main
from advisor.rulebase import default_rules_text
from tests.support.hardening import ANSWERS, CASES, SUPPORT, VALIDATION

BOMB = ("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n")
DEEP_YAML = "version: 1\nanswers: " + "[" * 50_000 + "]" * 50_000 + "\n"
MID_YAML = "version: 1\nanswers: " + "{a: " * 500 + "x" + "}" * 500 + "\n"
BLOCK_YAML = "version: 1\nanswers:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)) + " " * 200 + "x\n"
DEEP_JSON = "[" * 50_000 + "]" * 50_000


def _yaml(data) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def _rules_with(old: str, new: str) -> str:
    text = default_rules_text()
    assert old in text
    return text.replace(old, new, 1)


@dataclass
class Case:
    """One hostile command: files to write, the arguments (with {tmp} for the folder), what must come back."""

    id: str
    files: dict[str, str | bytes | Callable[[Path], None]]
    args: list[str]
    fragment: str
    exit_code: int = 2
    output: str | None = None  # the one path the command may change
    stdin: str | None = None
    usage: bool = False  # a click usage error ("Error: Invalid value for ...") rather than "error: ..."
    check: Callable[[Path, object], None] | None = None
    patches: dict[str, object] = field(default_factory=dict)


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda root: os.mkfifo(root / name)


def _full_disk(name: str) -> Callable[[Path], None]:
    """A private /dev/full (every write fails with ENOSPC), so a broken writer cannot replace the real one."""
    return lambda root: os.mknod(root / name, stat.S_IFCHR | 0o666, os.makedev(1, 7))


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


CASES_TABLE = [
    # ---- hangs, crashes, memory: alias bombs, deep nesting, FIFOs
    Case("alias-bomb-answers", {"a.yaml": "version: 1\nanswers: {}\n" + BOMB.replace("a: &a", "x1: &a")},
         ["recommend", "{tmp}/a.yaml"], "aliases"),
    Case("alias-bomb-in-value", {"a.yaml": BOMB + "version: 1\nanswers: {knowledge_change: *h}\n"},
         ["recommend", "{tmp}/a.yaml"], "aliases"),
    Case("alias-bomb-rules", {"r.yaml": BOMB}, ["rules", "check", "{tmp}/r.yaml"], "aliases"),
    Case("alias-bomb-cases", {"c.yaml": BOMB}, ["cases", "{tmp}/c.yaml"], "aliases"),
    Case("alias-loop", {"a.yaml": "version: 1\nanswers: &x {k: *x}\n"}, ["recommend", "{tmp}/a.yaml"], "itself"),
    Case("deep-yaml-recommend", {"a.yaml": DEEP_YAML}, ["recommend", "{tmp}/a.yaml"], "nest"),
    Case("deep-yaml-rules", {"r.yaml": DEEP_YAML}, ["rules", "check", "{tmp}/r.yaml"], "nest"),
    Case("deep-yaml-cases", {"c.yaml": DEEP_YAML}, ["cases", "{tmp}/c.yaml"], "nest"),
    Case("deep-yaml-500", {"a.yaml": MID_YAML}, ["recommend", "{tmp}/a.yaml"], "nested more than"),
    Case("deep-yaml-blocks", {"a.yaml": BLOCK_YAML}, ["recommend", "{tmp}/a.yaml"], "nested more than"),
    Case("deep-json-answers", {"a.json": DEEP_JSON}, ["recommend", "{tmp}/a.json"], "nested more than"),
    Case("deep-json-validation", {"a.yaml": _yaml(ANSWERS), "v/validation.json": DEEP_JSON},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/r.md", "--validation", "{tmp}/v"], "nested more than"),
    Case("deep-json-add-validation", {"v/validation.json": DEEP_JSON},
         ["add-validation", "{tmp}/v", "--to", "{tmp}/c.yaml"], "nested more than"),
    Case("fifo-answers", {"a.yaml": _fifo("a.yaml")}, ["recommend", "{tmp}/a.yaml"], "FIFO"),
    Case("fifo-rules", {"a.yaml": _yaml(ANSWERS), "r.yaml": _fifo("r.yaml")},
         ["recommend", "{tmp}/a.yaml", "--rules", "{tmp}/r.yaml"], "FIFO"),
    Case("folder-answers", {"d/x": "x"}, ["recommend", "{tmp}/d"], "folder"),
    # ---- silent acceptance: duplicate keys, yes as a number, nan, typed validation.json, huge costs
    Case("duplicate-answers-block",
         {"a.yaml": _yaml(ANSWERS) + "answers:\n  knowledge_change: static\n"},
         ["recommend", "{tmp}/a.yaml"], "duplicate key 'answers'"),
    Case("duplicate-nested-key", {"a.yaml": "version: 1\nanswers:\n  traceability: none\n  traceability: required\n"},
         ["recommend", "{tmp}/a.yaml"], "duplicate key 'traceability'"),
    Case("version-yes", {"a.yaml": _yaml(ANSWERS).replace("version: 1", "version: yes")},
         ["recommend", "{tmp}/a.yaml"], "version"),
    Case("weight-yes", {"a.yaml": _yaml(ANSWERS), "r.yaml": _rules_with("weight: 1.0", "weight: yes")},
         ["recommend", "{tmp}/a.yaml", "--rules", "{tmp}/r.yaml"], "weight: Input should be a valid number"),
    Case("alpha-nan", {"c.yaml": _yaml(CASES)}, ["calibrate", "{tmp}/c.yaml", "-o", "{tmp}/o.yaml", "--alpha", "nan"],
         "not a finite number", usage=True),
    Case("alpha-inf", {"c.yaml": _yaml(CASES)}, ["calibrate", "{tmp}/c.yaml", "-o", "{tmp}/o.yaml", "--alpha", "inf"],
         "not a finite number", usage=True),
    Case("validation-next-steps-text",
         {"a.yaml": _yaml(ANSWERS), "v/validation.json": json.dumps({**VALIDATION, "next_steps": "abc"})},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/r.md", "--validation", "{tmp}/v"], "next_steps"),
    Case("validation-score-text",
         {"a.yaml": _yaml(ANSWERS), "v/validation.json": json.dumps(
             {**VALIDATION, "approaches": {"rag": {"status": "ok", "answers": {"f1": "high"}}}})},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/r.md", "--validation", "{tmp}/v"], "approaches.rag.answers.f1"),
    Case("validation-interval-short",
         {"a.yaml": _yaml(ANSWERS), "v/validation.json": json.dumps(
             {**VALIDATION, "comparisons": [{"a": "rag", "b": "hybrid", "ci95": [0.1]}]})},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/r.md", "--validation", "{tmp}/v"], "comparisons[0].ci95: List"),
    Case("validation-status-unknown",
         {"v/validation.json": json.dumps({**VALIDATION, "best_measured": "rag",
                                           "approaches": {"rag": {"status": "fine"}}})},
         ["add-validation", "{tmp}/v", "--to", "{tmp}/c.yaml"], "approaches.rag.status"),
    Case("manifest-unknown-approach", {"run/manifest.json": json.dumps({"approach": "rga"})},
         ["query", "{tmp}/run", "what?"], "approach"),
    Case("huge-costs", {"a.yaml": _yaml({**ANSWERS, "costs": {"queries_per_day": 1e300, "tokens_per_query": 1e300,
                                                             "price_per_1k_tokens": 1e300}})},
         ["recommend", "{tmp}/a.yaml", "--format", "json"], "at most"),
    Case("json-nan-constant", {"a.json": '{"version": 1, "answers": {}, "costs": {"queries_per_day": NaN}}'},
         ["recommend", "{tmp}/a.json"], "NaN is not JSON"),
    Case("lone-surrogate-project", {"a.json": '{"version": 1, "project": "x\\ud800y", "answers": {}}'},
         ["recommend", "{tmp}/a.json"], "surrogate"),
    Case("manifest-without-models", {"run/manifest.json": json.dumps({"approach": "rag"})},
         ["query", "{tmp}/run", "what?"], "models.embedder"),
    Case("manifest-wrong-type", {"run/manifest.json": json.dumps({"approach": "rag", "models": "x"})},
         ["query", "{tmp}/run", "what?"], "models"),
    # ---- outputs: unwritable, or over an input
    Case("output-is-folder", {"a.yaml": _yaml(ANSWERS), "out.md/x": "x"},
         ["recommend", "{tmp}/a.yaml", "-o", "{tmp}/out.md"], "is a folder"),
    Case("output-under-file", {"a.yaml": _yaml(ANSWERS), "f": "x"},
         ["recommend", "{tmp}/a.yaml", "-o", "{tmp}/f/out.md"], "not a folder"),
    Case("report-under-file", {"a.yaml": _yaml(ANSWERS), "f": "x"},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/f/r.html"], "not a folder"),
    Case("output-full-disk", {"a.yaml": _yaml(ANSWERS), "full": _full_disk("full")},
         ["recommend", "{tmp}/a.yaml", "-o", "{tmp}/full"], "no space left on device"),
    Case("calibrate-over-its-cases", {"c.yaml": _yaml(CASES)}, ["calibrate", "{tmp}/c.yaml", "-o", "{tmp}/c.yaml"],
         "would overwrite the input"),
    Case("recommend-over-its-answers", {"a.yaml": _yaml(ANSWERS)}, ["recommend", "{tmp}/a.yaml", "-o", "{tmp}/a.yaml"],
         "would overwrite the input"),
    Case("report-over-its-rules", {"a.yaml": _yaml(ANSWERS), "r.md": default_rules_text()},
         ["report", "{tmp}/a.yaml", "-o", "{tmp}/r.md", "--rules", "{tmp}/r.md"], "would overwrite the input"),
    Case("ask-save-into-folder", {"d/x": "x"}, ["ask", "--save-answers", "{tmp}/d"], "is a folder",
         stdin="static\n", check=lambda root, r: _not_asked(r)),
    Case("ask-report-under-file", {"f": "x"}, ["ask", "--report", "{tmp}/f/r.md"], "not a folder",
         stdin="static\n", check=lambda root, r: _not_asked(r)),
    Case("ask-broken-partial-file", {"p.yaml": "version: 1\nanswers: {knowledge_change: sometimes}\n"},
         ["ask", "--save-answers", "{tmp}/p.yaml"], "sometimes", stdin="static\n", check=lambda root, r: _not_asked(r)),
    Case("build-out-under-file", {"f": "x", "docs/a.txt": "text", "qa.jsonl": '{"question": "q", "answer": "a"}\n'},
         ["build", "rag", "--docs", "{tmp}/docs", "--qa", "{tmp}/qa.jsonl", "--out", "{tmp}/f/out"], "not a folder"),
    Case("build-epochs-nan", {}, ["build", "fine-tuning", "--docs", "{tmp}/d", "--qa", "{tmp}/q", "--out", "{tmp}/o",
                                  "--epochs", "nan"], "not a finite number", usage=True),
    Case("validate-lr-negative", {}, ["validate", "{tmp}/a.yaml", "--docs", "{tmp}/d", "--qa", "{tmp}/q", "--out",
                                      "{tmp}/o", "--lr", "-1"], "greater than 0", usage=True),
    Case("validate-rank-zero", {}, ["validate", "{tmp}/a.yaml", "--docs", "{tmp}/d", "--qa", "{tmp}/q", "--out",
                                    "{tmp}/o", "--rank", "0"], "--rank", usage=True),
    Case("build-deep-pairs-line", {"docs/a.txt": "text", "qa.jsonl": '{"question": "q", "answer": "a"}\n' + DEEP_JSON},
         ["build", "rag", "--docs", "{tmp}/docs", "--qa", "{tmp}/qa.jsonl", "--out", "{tmp}/out"], "nested more than"),
    Case("build-fifo-pairs", {"docs/a.txt": "text", "qa.jsonl": _fifo("qa.jsonl")},
         ["build", "rag", "--docs", "{tmp}/docs", "--qa", "{tmp}/qa.jsonl", "--out", "{tmp}/out"], "not a file"),
    # ---- messages: capped, escaped
    Case("set-value-with-newlines", {"a.yaml": _yaml(ANSWERS)},
         ["recommend", "{tmp}/a.yaml", "--set", "knowledge_change=sta\ntic\x1b[2J"], "knowledge_change"),
    Case("huge-value-capped", {"a.yaml": _yaml({**ANSWERS, "answers": {**SUPPORT, "traceability": "x" * 5_000_000}})},
         ["recommend", "{tmp}/a.yaml"], "traceability"),
    Case("huge-key-capped", {"a.yaml": _yaml({**ANSWERS, "answers": {"k" * 100_000: "x"}})},
         ["recommend", "{tmp}/a.yaml"], "unknown question"),
    # ---- interrupts
    Case("sigint-recommend", {"a.yaml": _yaml(ANSWERS)}, ["recommend", "{tmp}/a.yaml"], "interrupted", exit_code=130,
         patches={"advisor.engine.recommend": _interrupt}),
    Case("sigint-calibrate", {"c.yaml": _yaml(CASES)}, ["calibrate", "{tmp}/c.yaml", "-o", "{tmp}/o.yaml"],
         "interrupted", exit_code=130, patches={"advisor.analyses.calibrate.calibrate": _interrupt}),
]


def _not_asked(result) -> None:
    assert "Question 1" not in result.output, "the output path was checked only after questions were asked"


def _write_files(root: Path, files: dict) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(root)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root: its kind, mode and (for regular files) content; links are not followed."""
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        body = path.read_bytes() if stat.S_ISREG(info.st_mode) else os.readlink(path) if path.is_symlink() else None
        out[str(path.relative_to(root))] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), body)
    return out


@pytest.fixture
def no_models(monkeypatch):
    """Fail loudly if any model would load: hostile input must be refused before that."""
    import advisor.backends.shared as shared

    def tripwire(*args, **kwargs):
        raise AssertionError("a model started loading before the bad input was refused")

    monkeypatch.setattr(shared, "load_once", tripwire)


def run_case(case: Case, root: Path, monkeypatch):
    """Run one row; return the result after checking exit status, the one message line and the files."""
    _write_files(root, case.files)
    for target, value in case.patches.items():
        monkeypatch.setattr(target, value)
    monkeypatch.chdir(root)
    before = snapshot(root)
    args = [a.replace("{tmp}", str(root)) for a in case.args]
    result = CliRunner().invoke(main, args, input=case.stdin)
    assert result.exit_code == case.exit_code, (case.id, result.output, result.exception)
    assert "Traceback" not in result.output
    err = [line for line in result.stderr.splitlines() if line.strip()]
    if case.usage:
        assert err[-1].startswith("Error: ") and case.fragment in err[-1], result.stderr
    else:
        assert len(err) == 1 and err[0].startswith(("error: ", "interrupted")), result.stderr
        assert case.fragment in err[0], err[0]
        assert len(err[0]) <= 700, len(err[0])
        assert err[0].isprintable(), err[0]
    after = snapshot(root)
    if case.output:
        before.pop(case.output, None)
        after.pop(case.output, None)
    assert after == before, f"{case.id}: files changed: {set(after.items()) ^ set(before.items())}"
    if case.check:
        case.check(root, result)
    return result


@pytest.mark.parametrize("case", CASES_TABLE, ids=[c.id for c in CASES_TABLE])
def test_hostile_input_is_refused_cleanly(case, tmp_path, monkeypatch, no_models):
    run_case(case, tmp_path, monkeypatch)
