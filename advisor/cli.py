"""The `advisor` command line: a thin layer over the library. Bad input exits 2, internal faults exit 1."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from advisor import __version__
from advisor.analyses.cli import add_validation_command, calibrate_command
from advisor.backends.commands import build, draft, query, validate
from advisor.errors import InputError
from advisor.commandline.exits import exit_statuses
from advisor.text import terminal_safe
from advisor.web.command import serve_command

FORMATS = ("text", "json", "markdown", "html")
PARTIAL_ANSWERS = "advisor-answers.yaml"


class AdvisorGroup(click.Group):
    """Runs every command under the one error-to-exit mapping (`advisor.commandline.exits`)."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command: bad input exits 2, an interrupt 130, an internal fault 1, each with one line."""
        with exit_statuses(bool(ctx.params.get("debug"))):
            return super().invoke(ctx)


def _rulebase(path: str | None) -> Any:
    from advisor.rulebase import load_rules

    return load_rules(path)


def _assess(answers_path: str, rules: str | None, sets: tuple[str, ...] = (),
            depth: bool = False, perturbations: int = 500, seed: int = 0) -> Any:
    """Read and score an answers file through the library (`advisor.assessment`), as the web app does a body."""
    from advisor import assessment
    from advisor.engine import compile_rules

    rulebase = _rulebase(rules)
    document, answers = assessment.read_file(answers_path, rulebase)
    return assessment.assess(document, answers, rulebase, compile_rules(rulebase), answers_path, depth=depth,
                             perturbations=perturbations, seed=seed, sets=sets)


def _read_line() -> str:
    """One line from standard input ('' at its end); a seam for tests."""
    return sys.stdin.readline()


def _emit(text: str, output: str | None) -> None:
    if output:
        from advisor.atomic import write_text

        write_text(output, text)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.group(cls=AdvisorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="advisor", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show the traceback of internal faults.")
def main(debug: bool) -> None:
    """Recommend RAG, fine-tuning or a hybrid from a questionnaire, and explain why."""


@main.command()
@click.argument("answers", metavar="ANSWERS")
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Output format.")
@click.option("--output", "-o", metavar="FILE", help="Write to FILE instead of the terminal.")
@click.option("--set", "sets", multiple=True, metavar="QUESTION=VALUE",
              help="What if: score with this answer changed (repeatable) and compare with the file's answers.")
@click.option("--depth/--no-depth", default=True, show_default=True,
              help="Add robustness to the weights, few-shot prompting first and (given costs:) a cost estimate.")
@click.option("--perturbations", type=click.IntRange(0, 100_000), default=500, show_default=True,
              help="Random changes of all weights (each within ±20%) behind the robustness figure.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of those random changes.")
def recommend(answers: str, rules: str | None, fmt: str, output: str | None, sets: tuple[str, ...],
              depth: bool, perturbations: int, seed: int) -> None:
    """Score an answers file (YAML or JSON) and print the recommendation."""
    if output:
        from advisor.atomic import check_output_file, refuse_overwrite

        check_output_file(output)
        refuse_overwrite(output, answers, rules, what="--output")
    from advisor import assessment

    result = _assess(answers, rules, sets, depth, perturbations, seed)
    if fmt == "json":
        _emit(json.dumps(assessment.recommendation_json(result), indent=2, ensure_ascii=False) + "\n", output)
    elif fmt == "text":
        _emit(terminal_safe(assessment.render_text(result)), output)
    else:
        _emit(assessment.render_report(result, fmt, answers_file=answers), output)


@main.command("report")
@click.argument("answers", metavar="ANSWERS")
@click.option("--output", "-o", metavar="FILE", required=True, help="Report file: .md or .html.")
@click.option("--validation", metavar="DIR", help="Add the Evidence section from DIR/validation.json.")
@click.option("--allow-other-answers", is_flag=True,
              help="Report a validation run made with other answers than ANSWERS, with a warning naming them.")
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--depth/--no-depth", default=True, show_default=True,
              help="Add robustness to the weights, few-shot prompting first and (given costs:) a cost estimate.")
def report_command(answers: str, output: str, validation: str | None, allow_other_answers: bool, rules: str | None,
                   depth: bool) -> None:
    """Write the Markdown or HTML report (format from the ending of --output).

    A validation run belongs to the answers it was run with: one made with other answers is refused unless
    --allow-other-answers is given.
    """
    from advisor import report
    from advisor.atomic import check_output_file, refuse_overwrite

    report.format_for(output)
    check_output_file(output, "report")
    refuse_overwrite(output, answers, rules, validation, what="--output")
    from advisor import assessment
    from advisor.atomic import write_text

    from advisor.runrecords import load_validation

    evidence = load_validation(validation) if validation else None
    result = _assess(answers, rules, depth=depth)
    if evidence is not None and validation is not None:
        from advisor.runrecords import validation_path

        warning = assessment.check_evidence(evidence, result, str(validation_path(validation)), answers,
                                            allow_other_answers)
        if warning:
            click.echo(f"warning: {warning}", err=True)
    write_text(output, assessment.render_report(result, report.format_for(output), answers_file=answers,
                                                validation=evidence))
    rec = result.recommendation
    then = f", then {rec.recommendation} if it falls short" if rec.start_with != rec.recommendation else ""
    click.echo(f"wrote {output}: {rec.start_with}{then} (confidence {rec.confidence:.2f})")


@main.command()
@click.argument("cases_file", metavar="CASES")
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True)
def cases(cases_file: str, rules: str | None, fmt: str) -> None:
    """Check a case library against the rule base (exit 0 even with disagreements)."""
    from advisor.cases import case_warnings, check_cases, load_cases
    from advisor.engine import compile_rules

    rulebase = _rulebase(rules)
    library = load_cases(cases_file, rulebase)
    for warning in case_warnings(library, cases_file):
        click.echo(warning, err=True)
    result = check_cases(compile_rules(rulebase), library)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"{result.agree} of {result.total} cases agree ({result.accuracy:.0%}).")
    for d in result.disagreements:
        click.echo(terminal_safe(f"  disagree: {d['name']}: expected {d['expected']}, got {d['got']}"))
    click.echo("confusion (rows expected, columns got):")
    names = list(result.confusion)
    click.echo("  " + " " * 12 + "".join(f"{n:>13}" for n in names))
    for expected, row in result.confusion.items():
        click.echo(f"  {expected:<12}" + "".join(f"{row[n]:>13}" for n in names))


@main.command()
@click.option("--rules", "rules", metavar="FILE", help="Use this rule base instead of the bundled one.")
@click.option("--save-answers", metavar="FILE", help="Save the answers here (YAML, or JSON for .json).")
@click.option("--report", "report_path", metavar="FILE", help="Also write the report (.md or .html).")
@click.option("--project", metavar="NAME", help="Project name shown in the report.")
@click.option("--adaptive", is_flag=True,
              help="Ask the most informative question next and stop once the rest cannot change the verdict.")
@click.pass_context
def ask(ctx: click.Context, rules: str | None, save_answers: str | None, report_path: str | None,
        project: str | None, adaptive: bool) -> None:
    """Walk through the questionnaire and print the recommendation; resumes from a saved partial answers file.

    After the ten questions of the answers contract come two more: knowledge_location (does the knowledge an
    answer needs arrive with the request or fit in every prompt, or must it be searched in a corpus?) and
    style_kind (is the behaviour need a tone the prompt can set, or a strict format it does not make reliable?).
    Enter keeps their neutral default, not_sure; '?' at any question shows its help and sources.
    """
    from advisor.answers import load_partial_answers, save_answers as save
    from advisor.atomic import check_output_file, refuse_overwrite
    from advisor.engine import compile_rules
    from advisor.questionnaire import Interrupted, run_questionnaire

    from advisor.datafiles import check_strings

    check_strings(project, "--project")
    path = save_answers or PARTIAL_ANSWERS
    if save_answers:
        check_output_file(save_answers, "answers file")
        refuse_overwrite(save_answers, rules, what="--save-answers")
    if report_path:
        from advisor.report import format_for

        format_for(report_path)
        check_output_file(report_path, "report")
        refuse_overwrite(report_path, path, rules, what="--report")
    if sys.stdin is None or sys.stdin.closed:
        raise InputError("standard input is closed; 'advisor ask' reads your replies from it "
                         "(or score an answers file with 'advisor recommend FILE')")
    rulebase = _rulebase(rules)
    initial, saved_project = load_partial_answers(path, rulebase)
    project = project or saved_project
    if initial:
        click.echo(f"Resuming from {path}: {len(initial)} of {len(rulebase.questions)} question(s) answered "
                   "(Enter keeps an answer, b goes back).")

    def read(prompt: str) -> str:
        if sys.stdin.isatty():  # a person at a terminal: input() gives line editing
            return input(prompt)
        click.echo(prompt, nl=False)
        line = _read_line()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    if adaptive:
        # same replies, same contract, same loop
        from advisor.analyses.adaptive import run_adaptive_questionnaire as run_questionnaire
    try:
        answers = run_questionnaire(rulebase, read, click.echo, initial=initial)
    except Interrupted as stop:
        if stop.answers == initial:
            kept = f"{path} is unchanged" if initial else "nothing was saved"
            click.echo(f"\nInterrupted before a new answer: {kept}.", err=True)
        else:
            save(path, stop.answers, project)
            resume = "advisor ask" + (f" --save-answers {path}" if save_answers else "")
            click.echo(f"\nInterrupted: saved {len(stop.answers)} answer(s) to {path}. "
                       f"Resume with '{resume}' or score them with 'advisor recommend {path}'.", err=True)
        ctx.exit(130)
    if save_answers or initial:
        save(path, answers, project)
        click.echo(f"saved answers to {path}")
    from advisor import report
    from advisor.analyses.bundle import render_text as depth_text
    from advisor.assessment import assess
    from advisor.models import AnswersFile

    document = AnswersFile(version=1, project=project, answers=answers)
    assessment = assess(document, answers, rulebase, compile_rules(rulebase), save_answers or PARTIAL_ANSWERS)
    rec, bundle = assessment.recommendation, assessment.depth
    assert bundle is not None  # assess analyses in depth by default
    click.echo("")
    click.echo(terminal_safe(report.render_text(rec, rulebase, project=project) + depth_text(bundle)), nl=False)
    if report_path:
        report.write_report(report_path, rec, rulebase, project=project, answers_file=save_answers, depth=bundle)
        click.echo(f"wrote {report_path}")


@main.group("rules")
def rules_group() -> None:
    """Check a rule base or print its JSON Schema."""


@rules_group.command("check")
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--exhaustive", is_flag=True,
              help="Also score every answer combination: ties, near ties, dead rules, unreachable verdicts.")
@click.option("--near", type=click.FloatRange(0, None), default=0.1, show_default=True,
              help="With --exhaustive: raw margin under which a verdict counts as a near tie.")
@click.option("--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True,
              help="With --exhaustive: output format of the findings.")
@click.option("--strict", is_flag=True, help="Exit 2 for warnings too (dead parts, missing help or sources).")
def rules_check(file: str | None, exhaustive: bool, near: float, fmt: str, strict: bool) -> None:
    """Report every problem of a rule base (default: the bundled one). Exit 2 for an error, which every command
    taking --rules refuses too; warnings (the rule base still loads) exit 2 only with --strict."""
    from advisor.rulebase import DEFAULT_NAME, check_rules

    problems = check_rules(file)
    name = file or DEFAULT_NAME
    errors = [p for p in problems if not p.warning]
    warnings = [p for p in problems if p.warning]
    for problem in errors:
        click.echo(str(problem), err=True)
    for problem in warnings:
        click.echo(f"warning: {problem}", err=True)
    if errors:
        raise InputError(f"{name}: {len(errors)} error(s): the rule base cannot be used"
                         + (f", and {len(warnings)} warning(s)" if warnings else ""))
    if warnings and strict:
        raise InputError(f"{name}: {len(warnings)} warning(s) (--strict); the rule base itself loads")
    rulebase = _rulebase(file)
    summary = (f"{name}: ok ({len(rulebase.questions)} questions, {len(rulebase.factors)} factors, "
               f"{len(rulebase.rules)} rules" + (f"; {len(warnings)} warning(s)" if warnings else "") + ")")
    if exhaustive:
        from advisor.analyses.cli import exhaustive_check

        if fmt == "text":
            click.echo(summary)
        exhaustive_check(file, near, fmt)
        return
    click.echo(summary)


@rules_group.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rule base files."""
    from advisor.rulebase import rules_schema as schema

    click.echo(json.dumps(schema(), indent=2))


main.add_command(build)
main.add_command(query)
main.add_command(draft)
main.add_command(validate)
main.add_command(calibrate_command)
main.add_command(add_validation_command)
main.add_command(serve_command)


if __name__ == "__main__":  # pragma: no cover
    main()
