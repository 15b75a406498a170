"""The docs' examples run: every command in README.md and docs/formats.md that needs neither a model nor a person
at the keyboard is executed as written, the file examples are read by the readers they document, the README's
shown output is what the command prints, and every `advisor ...` command the docs name exists."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from advisor import cli

ROOT = Path(__file__).parents[2]
DOCS = {"README.md": ROOT / "README.md", "docs/formats.md": ROOT / "docs" / "formats.md"}
NEEDS_A_MODEL_OR_A_PERSON = {"ask", "validate", "build", "query", "serve"}


def blocks(path: Path, language: str) -> list[str]:
    """The fenced code blocks of one language in a Markdown file."""
    return re.findall(rf"^```{language}\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def commands() -> list[tuple[str, list[str]]]:
    """(doc, argv) of every `advisor` line in the docs' sh blocks."""
    found = []
    for name, path in DOCS.items():
        for block in blocks(path, "sh"):
            for line in block.replace("\\\n", " ").splitlines():  # a backslash continues a command
                argv = shlex.split(line, comments=True)
                if argv and argv[0] == "advisor":
                    found.append((name, argv[1:]))
    return found


def runnable(argv: list[str]) -> bool:
    """Needs no model, no person and no validation run made by one."""
    return argv[0] not in NEEDS_A_MODEL_OR_A_PERSON and not any(a.startswith("runs/") for a in argv)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh folder that sees the checkout's sample and test data, where the commands write their outputs."""
    for name in ("sample", "tests", "rules", "docs"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(argv):
    return CliRunner().invoke(cli.main, argv, catch_exceptions=False)


def test_the_docs_show_commands_that_run(workdir):
    ran = []
    for doc, argv in commands():
        if not runnable(argv):
            continue
        result = invoke(argv)
        assert result.exit_code == 0, (doc, argv, result.output)
        ran.append(argv[0] if argv[0] != "rules" else " ".join(argv[:2]))
    assert {"recommend", "report", "cases", "rules check", "calibrate"} <= set(ran), ran
    assert (workdir / "report.html").is_file() and (workdir / "my-rules.yaml").is_file()


def test_the_readme_shows_what_recommend_prints(workdir):
    text = DOCS["README.md"].read_text(encoding="utf-8")
    shown = text.split("`advisor recommend sample/answers.yaml` (")[1].split("```\n", 1)[1].split("```")[0]
    printed = invoke(["recommend", "sample/answers.yaml"]).output.splitlines()
    checked = 0
    for line in shown.splitlines():
        if not line.strip() or line.strip() == "...":
            continue
        if line.endswith(" ..."):
            assert any(p.startswith(line[:-4]) for p in printed), line
        else:
            assert line in printed, line
        checked += 1
    assert checked >= 10


def test_every_named_command_exists():
    for name, path in DOCS.items():
        for first, second in re.findall(r"`advisor ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", path.read_text()):
            assert first in cli.main.commands, (name, first)
            command = cli.main.commands[first]
            if hasattr(command, "commands") and second:
                assert second in command.commands, (name, first, second)
    assert "`cases add`" not in DOCS["docs/formats.md"].read_text()


def test_the_file_examples_of_the_formats_read(workdir):
    from advisor.models import RecommendationOut, Reference, Value
    from advisor.runrecords import Measurements

    path = DOCS["docs/formats.md"]
    kinds = set()
    for block in blocks(path, "yaml"):
        data = yaml.safe_load(block)
        if "answers" in data:
            (workdir / "answers.yaml").write_text(block)
            result = invoke(["recommend", "answers.yaml", "--format", "json"])
            assert result.exit_code == 0, result.output
            kinds.add("answers" + (" with costs" if "costs" in data else ""))
        elif "cases" in data:
            (workdir / "cases.yaml").write_text(block)
            result = invoke(["cases", "cases.yaml", "--format", "json"])
            assert result.exit_code == 0 and json.loads(result.stdout)["disagreements"] == [], result.output
            kinds.add("cases")
        else:  # a rule base fragment: its values and references
            for question in data.get("questions", []):
                for value in question["values"]:
                    Value.model_validate(value)
            for reference in data.get("references", []):
                Reference.model_validate(reference)
            kinds.add("rule base fragment")
    actual = json.loads(invoke(["recommend", "sample/answers.yaml", "--format", "json"]).stdout)
    for block in blocks(path, "json"):
        data = json.loads(block)
        if "recommendation" in data:
            RecommendationOut.model_validate(data)
            assert set(data) <= set(actual), set(data) - set(actual)  # no field the output lacks
            kinds.add("recommendation")
        elif "approach" in data:
            Measurements.model_validate(data)
            kinds.add("metrics")
    assert {"answers with costs", "cases", "rule base fragment", "recommendation", "metrics"} <= kinds, kinds
