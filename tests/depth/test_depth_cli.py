"""The depth commands through click's CliRunner: exit status and messages."""

from __future__ import annotations

import json

import pytest
import yaml
from click.testing import CliRunner
from depth_support import MINI, SAMPLE_ANSWERS, synthetic_library

from advisor import cli
from advisor.calibrate import write_rule_base
from advisor.depth_cli import add_validation_command, calibrate_command
from advisor.engine import term_weights, with_term_weights
from advisor.rulebase import load_rules

MAIN = cli.AdvisorGroup(commands={"calibrate": calibrate_command, "add-validation": add_validation_command})


def invoke(*args, **kwargs):
    return CliRunner().invoke(MAIN, [str(a) for a in args], catch_exceptions=False, **kwargs)


def assert_input_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in err[0], err[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A synthetic case library labelled by the mini rule base, and a spoiled copy of that rule base."""
    tmp = tmp_path_factory.mktemp("cal")
    mini = load_rules(MINI)
    library = synthetic_library(mini, n=60, seed=9)
    cases = tmp / "cases.yaml"
    cases.write_text(yaml.safe_dump(library.model_dump(mode="json"), sort_keys=False))
    weights = term_weights(mini)
    spoiled = with_term_weights(mini, {t: w * (3.0 if i % 2 else 0.3) for i, (t, w) in enumerate(weights.items())})
    rules = write_rule_base(tmp / "spoiled.yaml", spoiled)
    return {"cases": cases, "rules": rules, "tmp": tmp, "library": library}


def test_calibrate_text_and_written_rules(files):
    out = files["tmp"] / "calibrated.yaml"
    result = invoke("calibrate", files["cases"], "--rules", files["rules"], "--output", out)
    assert result.exit_code == 0, result.output
    assert "agreement on held-out cases (CV)" in result.output and "Weights that moved" in result.output
    assert f"wrote {out}" in result.output
    assert load_rules(out).name.endswith("(calibrated)")


def test_calibrate_json(files):
    out = files["tmp"] / "c2.yaml"
    result = invoke("calibrate", files["cases"], "--rules", files["rules"], "--output", out, "--format", "json",
                    "--cv", "3", "--seed", "1")
    data = json.loads(result.stdout)
    assert data["folds"] == 3 and data["output"] == str(out)
    assert data["cv_agreement"]["calibrated"] > data["cv_agreement"]["hand"]
    assert {"term", "hand", "calibrated", "change", "relative"} <= set(data["weights"][0])


def test_calibrate_bad_input(files, tmp_path):
    few = tmp_path / "few.yaml"
    data = files["library"].model_dump(mode="json")
    few.write_text(yaml.safe_dump({"version": 1, "cases": data["cases"][:4]}))
    assert_input_error(invoke("calibrate", few, "--output", tmp_path / "o.yaml"), "too few", "few.yaml")
    dup = tmp_path / "dup.yaml"
    dup.write_text(yaml.safe_dump({"version": 1, "cases": data["cases"] + data["cases"][:1]}))
    assert_input_error(invoke("calibrate", dup, "--output", tmp_path / "o.yaml"), "duplicate case name")
    bad_label = tmp_path / "label.yaml"
    bad_label.write_text(yaml.safe_dump({"version": 1, "cases": [{**data["cases"][0], "expected": "rga"}]}))
    assert_input_error(invoke("calibrate", bad_label, "--output", tmp_path / "o.yaml"), "label.yaml", "expected")
    bad_answer = tmp_path / "answer.yaml"
    case = {**data["cases"][0], "answers": {**data["cases"][0]["answers"], "latency_budget": "fast"}}
    bad_answer.write_text(yaml.safe_dump({"version": 1, "cases": [case]}))
    assert_input_error(invoke("calibrate", bad_answer, "--output", tmp_path / "o.yaml"), "latency_budget", "fast")
    assert_input_error(invoke("calibrate", files["cases"], "--output", tmp_path / "o.txt"), ".yaml")
    assert not (tmp_path / "o.yaml").exists()


def test_add_validation(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "validation.json").write_text(json.dumps(
        {"recommended": "rag", "best_measured": "hybrid", "agrees": False, "approaches": {}}))
    library = tmp_path / "cases.yaml"
    result = invoke("add-validation", run, "--answers", SAMPLE_ANSWERS, "--to", library)
    assert result.exit_code == 0, result.output
    assert "expected hybrid" in result.output
    cases = yaml.safe_load(library.read_text())["cases"]
    assert cases[0]["expected"] == "hybrid" and cases[0]["source"] == [str(run / "validation.json")]
    assert_input_error(invoke("add-validation", run, "--answers", SAMPLE_ANSWERS, "--to", library), "already there")
    assert_input_error(invoke("add-validation", run, "--to", library), "--answers")
