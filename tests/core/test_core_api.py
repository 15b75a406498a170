"""The public surface stays what it is, and the core stays light to import."""

from __future__ import annotations

import subprocess
import sys

import advisor

PUBLIC = {
    "__version__", "InputError", "RuleBase", "AnswersFile", "CaseLibrary", "RecommendationOut", "RECOMMENDABLE",
    "APPROACHES",
    "CONTRACT_QUESTIONS", "load_rules", "check_rules", "dump_rules", "rules_schema", "load_answers", "save_answers",
    "CompiledRules", "Recommendation", "compile_rules", "recommend", "contributions", "term_weights",
    "with_term_weights", "load_cases", "check_cases", "run_questionnaire", "render_text", "render_markdown",
    "render_html", "write_report", "load_validation", "ValidationRun", "Measurements", "Manifest",
    "WeightCalibrator", "calibrate", "exhaustive_lint", "analyse_sensitivity", "what_if", "rank_questions",
    "is_decided", "run_adaptive_questionnaire", "prompt_first", "parse_costs", "estimate_costs",
}


def test_public_names():
    assert set(advisor.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(advisor, name) is not None, name
    assert advisor.APPROACHES is advisor.RECOMMENDABLE  # the earlier name of the recommendable approaches


def test_public_api_end_to_end():
    rec = advisor.recommend(advisor.compile_rules(advisor.load_rules()),
                            {"knowledge_change": "weekly", "external_knowledge": "most"})
    assert rec.recommendation == "rag"


HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_cli_loads_no_heavy_library():
    loaded = _modules_after("import advisor.cli")
    for name in HEAVY:
        assert name not in loaded, name


def test_recommend_json_loads_neither_heavy_libraries_nor_jinja2(tmp_path):
    answers = tmp_path / "a.yaml"
    answers.write_text("version: 1\nanswers: {knowledge_change: weekly}\n")
    code = (
        "import sys\nfrom advisor.cli import main\n"
        f"try:\n    main(['recommend', {str(answers)!r}, '--format', 'json'])\nexcept SystemExit:\n    pass\n"
    )
    loaded = _modules_after(code)
    for name in (*HEAVY, "jinja2"):
        assert name not in loaded, name
    assert "advisor.engine" in loaded


def test_library_call_normalises_answers_like_a_file(tmp_path):
    """One answer rule: 'Weekly' (case, spaces) is 'weekly' in a file, in recommend(...) and in --set alike."""
    from advisor.answers import load_answers
    from advisor.analyses.whatif import parse_sets

    rulebase = advisor.load_rules()
    compiled = advisor.compile_rules(rulebase)
    path = tmp_path / "answers.yaml"
    path.write_text("version: 1\nanswers:\n  knowledge_change: Weekly\n  external_knowledge: ' MOST '\n")
    _, from_file = load_answers(path, rulebase)
    by_call = advisor.recommend(compiled, {"knowledge_change": "Weekly", "external_knowledge": " MOST "})
    assert by_call.to_dict() == advisor.recommend(compiled, from_file).to_dict()
    assert by_call.answers["knowledge_change"] == "weekly"
    assert parse_sets(["knowledge_change=Weekly"], compiled) == {"knowledge_change": "weekly"}
    for bad in ({"knowledge_change": "Weakly"}, {"knowledge_change": 3}, {"knowlege_change": "weekly"}):
        try:
            advisor.recommend(compiled, bad)
        except advisor.InputError as exc:
            assert "knowledge_change" in str(exc) or "knowlege_change" in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")


COMMAND_LAYER = {"advisor/cli.py", "advisor/analyses/cli.py", "backends/commands.py", "advisor/web/command.py",
                 "advisor/commandline/exits.py", "advisor/commandline/params.py"}


def test_click_is_imported_by_the_command_modules_only():
    """Library code raises InputError and returns records; only the command layer parses options and exits."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    importing = set()
    for path in [*root.joinpath("advisor").rglob("*.py"), *root.joinpath("backends").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "click" or name.startswith("click.") for name in names):
                importing.add(path.relative_to(root).as_posix())
    assert importing and importing <= COMMAND_LAYER, importing - COMMAND_LAYER
