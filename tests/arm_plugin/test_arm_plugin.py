"""An arm from another package, registered through the `advisor.arms` entry points, is a full arm: a choice
of `build` and `--approaches`, measured in the validation's evidence and shown in its report, with no core change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from advisor.backends import arms
from advisor.backends.validate import parse_approaches
from advisor.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample"


def test_without_the_package_the_arm_is_unknown():
    assert "echo" not in arms.names()
    result = CliRunner().invoke(main, ["build", "--help"])
    assert "{prompt|rag|fine-tuning|hybrid}" in result.output


def test_the_registered_arm_is_a_choice_in_cost_order(echo_installed):
    assert arms.names() == ("echo", "prompt", "rag", "fine-tuning", "hybrid")  # cost rank 5: cheapest
    assert "{echo|prompt|rag|fine-tuning|hybrid}" in CliRunner().invoke(main, ["build", "--help"]).output
    assert parse_approaches("echo,rag") == ["echo", "rag"]
    assert parse_approaches(None, has_documents=False) == ["echo", "prompt", "fine-tuning"]
    assert arms.label("echo") == "echo of the nearest pair"


def test_the_registered_arm_is_validated_and_reported(echo_installed, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["validate", str(SAMPLE / "answers.yaml"), "--docs", str(SAMPLE / "docs"),
                                       "--qa", str(SAMPLE / "qa.jsonl"), "--out", str(out), "--approaches", "echo",
                                       "--eval-limit", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    echo = run["approaches"]["echo"]
    assert echo["status"] == "ok" and echo["questions"] == 3
    assert run["best_measured"] == "echo" and run["tied_with_best"] == ["echo"]
    assert all("echo" in ex["outputs"] for ex in run["examples"]) and run["examples"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "echo of the nearest pair" in report
    assert json.loads((out / "echo" / "manifest.json").read_text(encoding="utf-8"))["approach"] == "echo"


def test_an_entry_point_reusing_a_name_is_refused(echo_installed, tmp_path, monkeypatch):
    info = tmp_path / "clash-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: clash\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[advisor.arms]\nrag = echo_arm:CLASH\n", encoding="utf-8")
    arms.registry.cache_clear()
    with pytest.raises(TypeError, match="entry point rag = echo_arm:CLASH"):
        arms.registry()
