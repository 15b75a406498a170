"""One answers document in, what `advisor recommend --format json` and `advisor report` give out.

For callers that hold the document in memory rather than in a file (the web app, a notebook): parse and check
it with the same readers as answers files, score it with the same depth analyses, and render the same JSON and
reports. `name` stands where the CLI names the file in its one-line messages.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from advisor.answers import dump_answers, explain_document, load_answers, normalise_answers
from advisor.datafiles import parse_data
from advisor.modelfiles import check_model
from advisor.models import AnswersFile

if TYPE_CHECKING:
    from advisor.analyses.bundle import Analyses
    from advisor.analyses.whatif import WhatIf
    from advisor.engine import CompiledRules, Recommendation
    from advisor.models import RuleBase
    from advisor.runrecords import ValidationRun

DEFAULT_PERTURBATIONS = 500  # what `advisor recommend` and `advisor report` use by default
DEFAULT_SEED = 0


@dataclass
class Assessment:
    """A scored answers document: the file model, the checked answers, the recommendation and its analyses.

    With changed answers (`recommend --set`), `recommendation` scores the changed answers and `what_if` holds
    the comparison with the document's own.
    """

    rulebase: RuleBase
    document: AnswersFile
    answers: dict[str, str]
    recommendation: Recommendation
    depth: Analyses | None
    what_if: WhatIf | None = None


def read_file(path: str | os.PathLike, rulebase: RuleBase) -> tuple[AnswersFile, dict[str, str]]:
    """Read an answers file and check it against the rule base (what the CLI's commands score)."""
    return load_answers(path, rulebase)


def read_document(
    text: str, name: str, rulebase: RuleBase, json_format: bool = False
) -> tuple[AnswersFile, dict[str, str]]:
    """Parse answers-file text (YAML, or JSON) and check it against the rule base, as `load_answers` does a file.

    JSON that does not parse but reads as YAML is refused saying so (a YAML body sent without its content type).
    """
    from advisor.errors import InputError

    try:
        data = parse_data(text, name, json_format=json_format, what="answers file")
    except InputError as exc:
        if json_format and _reads_as_yaml(text, name):
            raise InputError(f"{exc}; the body reads as YAML: send YAML with content-type: application/yaml") \
                from None
        raise explain_document(exc, None, text, name, rulebase) from None
    return check_document(data, name, rulebase)


def _reads_as_yaml(text: str, name: str) -> bool:
    from advisor.errors import InputError

    try:
        return isinstance(parse_data(text, name, what="answers file"), dict)
    except InputError:
        return False


def check_document(data: Any, name: str, rulebase: RuleBase) -> tuple[AnswersFile, dict[str, str]]:
    """Check already-parsed answers-file data; InputError with the same one-line messages as for a file (and,
    for something else, what it looks like)."""
    from advisor.errors import InputError

    try:
        model: AnswersFile = check_model(data, AnswersFile, name, "answers file")
    except InputError as exc:
        raise explain_document(exc, data, None, name, rulebase) from None
    return model, normalise_answers(model.answers, rulebase, f"{name}: answers")


def assess(
    document: AnswersFile,
    answers: dict[str, str],
    rulebase: RuleBase,
    compiled: CompiledRules,
    name: str,
    depth: bool = True,
    perturbations: int = DEFAULT_PERTURBATIONS,
    seed: int = DEFAULT_SEED,
    sets: Sequence[str] = (),
) -> Assessment:
    """Score checked answers with the depth analyses (and the cost estimate when the document has `costs:`).

    `sets` (QUESTION=VALUE, as `recommend --set`) changes answers first: the changed answers are scored and
    analysed, and `what_if` compares them with the document's.
    """
    from advisor.engine import recommend

    what_if = None
    if sets:
        from advisor.analyses.whatif import apply_sets

        what_if = apply_sets(compiled, answers, sets)
        assert what_if is not None  # there are sets
        rec = what_if.after
    else:
        rec = recommend(compiled, answers)
    bundle = None
    if depth:
        from advisor.analyses.bundle import depth_for

        bundle = depth_for(compiled, rec, name, perturbations, seed, raw_costs=document.costs)
    return Assessment(rulebase, document, answers, rec, bundle, what_if)


def recommendation_json(assessment: Assessment) -> dict[str, Any]:
    """The data of `advisor recommend --format json`: the recommendation, its depth fields, and `what_if` if any."""
    data = assessment.recommendation.to_dict()
    if assessment.depth is not None:
        data.update(assessment.depth.json_fields())
    if assessment.what_if is not None:
        data["what_if"] = assessment.what_if.to_dict()
    return data


def render_text(assessment: Assessment) -> str:
    """The terminal summary `advisor recommend` prints: verdict and reasons, depth analyses, what-if."""
    from advisor import report

    text = report.render_text(assessment.recommendation, assessment.rulebase, project=assessment.document.project)
    if assessment.depth is not None:
        from advisor.analyses.bundle import render_text as depth_text

        text += depth_text(assessment.depth)
    if assessment.what_if is not None:
        text += "\n" + assessment.what_if.render_text().rstrip("\n") + "\n"
    return text


def render_report(
    assessment: Assessment,
    fmt: str,
    answers_file: str | None = None,
    validation: ValidationRun | None = None,
) -> str:
    """The report `advisor report` writes ('markdown' or 'html'); `answers_file` is the name it shows as the source."""
    from advisor import report

    return report.render(
        assessment.recommendation,
        assessment.rulebase,
        fmt,
        project=assessment.document.project,
        answers_file=answers_file,
        validation=validation,
        depth=assessment.depth,
        what_if=assessment.what_if,
    )


def answers_text(assessment: Assessment, json_format: bool = False) -> str:
    """The document as an answers file (what `ask --save-answers` writes), keeping its `costs:` section."""
    import json

    document, answers = assessment.document, assessment.answers
    if json_format:
        data: dict[str, Any] = {
            "version": 1,
            **({"project": document.project} if document.project else {}),
            "answers": dict(answers),
        }
        if document.costs is not None:
            data["costs"] = document.costs
        return json.dumps(data, indent=2) + "\n"
    text = dump_answers(answers, document.project)
    if document.costs is not None:
        import yaml

        text += yaml.safe_dump({"costs": document.costs}, sort_keys=False, allow_unicode=True)
    return text
