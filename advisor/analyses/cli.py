"""Command-line pieces of the depth features: `advisor calibrate`, `advisor add-validation` and
`rules check --exhaustive`. The library they call lives in the analyses' own modules and `advisor.cases`.

Only click is imported at module level: numpy, scikit-learn and the analyses load inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from advisor.errors import InputError
from advisor.commandline.params import FINITE_NON_NEGATIVE


def _load_rules(path: str | None) -> Any:
    from advisor.rulebase import load_rules

    return load_rules(path)


@click.command("calibrate")
@click.argument("cases_file", metavar="CASES")
@click.option("--output", "-o", metavar="FILE", required=True, help="Write the calibrated rule base here (YAML).")
@click.option("--rules", "rules", metavar="FILE", help="Start from this rule base instead of the bundled one.")
@click.option("--cv", type=click.IntRange(2, 20), default=5, show_default=True, help="Cross-validation folds.")
@click.option("--alpha", type=FINITE_NON_NEGATIVE, default=0.02, show_default=True,
              help="Pull toward the hand-set weights (larger: weights move less).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold split.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
@click.option("--all-weights", is_flag=True, help="List every weight, not only those that moved.")
@click.option("--write-calibrated", is_flag=True,
              help="Write the calibrated weights even when they do not beat the hand-set ones beyond the noise.")
def calibrate_command(cases_file: str, output: str, rules: str | None, cv: int, alpha: float, seed: int, fmt: str,
                      all_weights: bool, write_calibrated: bool) -> None:
    """Fit the rule base's weights to a case library and compare cross-validated agreement; write the calibrated
    rule base if it does better beyond the noise, else the hand-set one, and say which."""
    from advisor.atomic import check_output_file, refuse_overwrite
    from advisor.cases import load_cases

    if not output.lower().endswith((".yaml", ".yml", ".json")):
        raise InputError(f"--output '{output}': write the rule base to a .yaml file")
    check_output_file(output, "rule base")
    refuse_overwrite(output, cases_file, rules, what="--output")
    rulebase = _load_rules(rules)
    library = load_cases(cases_file, rulebase)
    # inputs are checked: only now the numerical libraries load
    from advisor.analyses.calibrate import calibrate, write_rule_base

    result = calibrate(library, rulebase, cv=cv, alpha=alpha, seed=seed, source=cases_file,
                       write_calibrated=write_calibrated)
    calibrated = result.rulebase is not rulebase and result.rulebase is result.calibrated_rulebase
    write_rule_base(output, result.rulebase, calibrated=calibrated)
    if fmt == "json":
        click.echo(json.dumps({**result.to_dict(), "output": output, "written": "calibrated" if calibrated else
                               "hand-set"}, indent=2, ensure_ascii=False))
        return
    click.echo(result.render_text(moved_only=not all_weights))
    click.echo("")
    if calibrated:
        forced = "" if result.adopted else " (--write-calibrated: although they are not better beyond the noise)"
        click.echo(f"wrote {output} with the calibrated weights{forced}; use it with --rules {output}")
    else:
        click.echo(f"wrote {output} with the hand-set weights unchanged; --write-calibrated writes the calibrated "
                   "ones anyway")


@click.command("add-validation")
@click.argument("validation", metavar="VALIDATION")
@click.option("--to", "cases_file", metavar="CASES", required=True,
              help="The case library to add the measured case to (created when missing).")
@click.option("--answers", metavar="FILE", help="The answers file of the run (when the run does not record it).")
@click.option("--name", metavar="TEXT", help="Name of the new case (default: 'measured: <project>').")
@click.option("--rules", "rules", metavar="FILE", help="Check the answers against this rule base.")
def add_validation_command(validation: str, cases_file: str, answers: str | None, name: str | None,
                           rules: str | None) -> None:
    """Add a validation run (validation.json or its folder) to a case library as a measured case."""
    from advisor.atomic import check_output_file, refuse_overwrite
    from advisor.cases import add_case, case_from_validation

    check_output_file(cases_file, "case library")
    refuse_overwrite(cases_file, validation, answers, rules, what="--to")
    rulebase = _load_rules(rules)
    case = case_from_validation(validation, rulebase, answers=answers, name=name)
    add_case(cases_file, case, rulebase)
    click.echo(f"added measured case '{case.name}' (expected {case.expected}) to {cases_file}")


def exhaustive_check(file: str | None, near: float, fmt: str, echo: Callable[[str], None] = click.echo) -> None:
    """`advisor rules check --exhaustive`: enumerate every answer combination and print the findings."""
    from advisor.engine import compile_rules
    from advisor.analyses.exhaustive import exhaustive_lint

    report = exhaustive_lint(compile_rules(_load_rules(file)), near_margin=near)
    if fmt == "json":
        echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        echo(report.render_text())
