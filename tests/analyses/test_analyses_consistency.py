"""Say one thing, in the analyses: calibration keeps weights that do not improve and says why; the documented
costs example runs, and no cost claim rests on a guessed default; inputs are checked before heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from tests.support.analyses import ROOT, synthetic_library
from click.testing import CliRunner

from advisor import cli
from advisor.engine import term_weights, with_term_weights
from advisor.rulebase import load_rules

CASES = ROOT / "tests" / "core" / "cases.yaml"


def invoke(*args):
    return CliRunner().invoke(cli.main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def twelve_cases(tmp_path):
    """12 cases of the bundled library (6 rag, 3 fine-tuning, 3 hybrid), one of them mislabelled."""
    by = defaultdict(list)
    for case in yaml.safe_load(CASES.read_text())["cases"]:
        by[case["expected"]].append(case)
    cases = by["rag"][:6] + by["fine-tuning"][:3] + by["hybrid"][:3]
    cases[4] = {**cases[4], "expected": "fine-tuning"}  # a legal research assistant citing case law
    path = tmp_path / "cases.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "cases": cases}, sort_keys=False))
    return path, cases[4]["name"]


# ---------------------------------------------------------------- calibrate


def test_calibrate_keeps_hand_set_weights_that_do_no_better(twelve_cases, tmp_path):
    library, mislabelled = twelve_cases
    out = tmp_path / "calibrated.yaml"
    result = invoke("calibrate", library, "-o", out, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cv_agreement"]["hand"] == data["cv_agreement"]["calibrated"]  # no better on held-out cases
    assert data["adopted"] is False and data["written"] == "hand-set"
    assert term_weights(load_rules(out)) == term_weights(load_rules(None))  # the written rule base: hand-set
    assert data["folds"] == 3 and data["folds_requested"] == 5
    warnings = " ".join(data["warnings"])
    assert "12 cases are few" in warnings and "--cv 5 asked for 5 folds but 3 were used" in warnings
    assert "hybrid" in warnings  # the rarest approach, named
    zeroed = [c for c in data["cut"] if c["calibrated"] == 0]
    assert zeroed and all(c["cases"] for c in data["cut"])  # never a weight cut without the cases behind it
    assert any(d["name"] == mislabelled for c in zeroed for d in c["cases"])
    text = invoke("calibrate", library, "-o", out).output
    assert "Kept the hand-set weights" in text and "use it with --rules" not in text
    assert "wrote " + str(out) + " with the hand-set weights unchanged" in text
    assert f"cut to zero by the cases that score better without it: {mislabelled}" in text
    forced = invoke("calibrate", library, "-o", out, "--write-calibrated")
    assert forced.exit_code == 0 and "although they are not better beyond the noise" in forced.output
    assert term_weights(load_rules(out)) != term_weights(load_rules(None))


def test_calibrate_adopts_weights_that_are_better_beyond_the_noise(mini, tmp_path):
    from advisor.analyses.calibrate import calibrate

    weights = term_weights(mini)
    perturbed = with_term_weights(mini, {t: w * (3.0 if i % 2 else 0.3) for i, (t, w) in enumerate(weights.items())})
    result = calibrate(synthetic_library(mini, n=80, seed=3), perturbed, cv=5, seed=0)
    assert result.adopted and result.improvement > result.noise > 0
    assert result.rulebase is result.calibrated_rulebase
    assert result.decision().startswith("Adopted the calibrated weights")
    assert not any("are few" in w for w in result.warnings)  # 80 cases


@pytest.mark.parametrize("command", [
    ["calibrate", "no-such-cases.yaml", "-o", "{tmp}/out.yaml"],
    ["add-validation", "{tmp}/no-such-run", "--to", "{tmp}/cases.yaml"],
])
def test_a_missing_input_is_reported_before_scikit_learn_loads(command, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    probe = (
        "import sys\n"
        "from advisor.cli import main\n"
        "try:\n"
        f"    main({args!r}, standalone_mode=True)\n"
        "except SystemExit as stop:\n"
        "    print('exit', stop.code, 'sklearn' in sys.modules, 'numpy' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "exit 2 False False", (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1


# ---------------------------------------------------------------- costs


def test_the_documented_costs_example_runs_and_claims_nothing_from_guesses(tmp_path):
    path = tmp_path / "answers.yaml"
    path.write_text("version: 1\nanswers: {knowledge_change: weekly, external_knowledge: most}\n"
                    "costs:\n  queries_per_day: 5000\n")
    result = invoke("recommend", path, "--format", "json")
    assert result.exit_code == 0, result.output
    costs = json.loads(result.stdout)["costs"]
    assert costs["break_even"]["fine_tuning_cheaper"] == "unknown" and costs["break_even"]["queries_per_day"] is None
    assert "at any volume" not in costs["break_even"]["text"] and "guessed defaults" in costs["break_even"]["text"]
    assert [g.split(" = ")[0] for g in costs["guessed"]] == ["tokens_per_query", "price_per_1k_tokens",
                                                             "vector_store_per_month", "fine_tuning_cost"]
    text = invoke("recommend", path).output
    table = text.split("Estimated cost a month")[1]
    assert "figures rest on guessed defaults" in table.split("Assumptions:")[0]  # next to the figures
    assert "Fine-tuning costs less than RAG" not in text


def test_with_every_field_given_the_break_even_is_claimed(tmp_path):
    from advisor.analyses.costs import estimate_costs, parse_costs

    given = {"queries_per_day": 5000, "tokens_per_query": 800, "price_per_1k_tokens": 0.002,
             "vector_store_per_month": 50, "fine_tuning_cost": 400}
    est = estimate_costs(parse_costs(given), {"knowledge_change": "weekly"})
    assert est.to_record().guessed == [] and est.break_even["fine_tuning_cheaper"] != "unknown"
    assert est.break_even["text"].startswith("Fine-tuning")


def test_formats_doc_lists_every_cost_field_with_its_default():
    from advisor.analyses.costs import FIELDS, GUESSED

    doc = (Path(ROOT) / "docs" / "formats.md").read_text()
    section = doc.split("### Cost assumptions")[1].split("\n## ")[0]
    for name, (default, _) in FIELDS.items():
        assert f"`{name}`" in section, name
        if default is not None:
            assert f"{default:g}" in section, name
    for name in GUESSED:
        row = next(line for line in section.splitlines() if f"`{name}`" in line)
        assert "guess" in row, name
