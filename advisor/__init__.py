"""advisor: recommend RAG, fine-tuning or a hybrid, and validate the choice on your own data.

The public API is listed in `__all__`; names are imported on first use, so `import advisor` stays cheap.

    >>> from advisor import load_rules, compile_rules, recommend
    >>> rec = recommend(compile_rules(load_rules()), {"knowledge_change": "weekly", "external_knowledge": "most"})
    >>> rec.recommendation
    'rag'
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    # errors
    "InputError": "advisor.errors",
    # models
    "RuleBase": "advisor.models",
    "AnswersFile": "advisor.models",
    "CaseLibrary": "advisor.models",
    "RecommendationOut": "advisor.models",
    "RECOMMENDABLE": "advisor.models",
    "CONTRACT_QUESTIONS": "advisor.models",
    # rule bases
    "load_rules": "advisor.rulebase",
    "check_rules": "advisor.rulebase",
    "dump_rules": "advisor.rulebase",
    "rules_schema": "advisor.rulebase",
    # answers
    "load_answers": "advisor.answers",
    "save_answers": "advisor.answers",
    # engine
    "CompiledRules": "advisor.engine",
    "Recommendation": "advisor.engine",
    "compile_rules": "advisor.engine",
    "recommend": "advisor.engine",
    "contributions": "advisor.engine",
    "term_weights": "advisor.engine",
    "with_term_weights": "advisor.engine",
    # case library
    "load_cases": "advisor.cases",
    "check_cases": "advisor.cases",
    # questionnaire
    "run_questionnaire": "advisor.questionnaire",
    # reports
    "render_text": "advisor.report",
    "render_markdown": "advisor.report",
    "render_html": "advisor.report",
    "write_report": "advisor.report",
    "load_validation": "advisor.runrecords",
    "ValidationRun": "advisor.runrecords",
    "Measurements": "advisor.runrecords",
    "Manifest": "advisor.runrecords",
    # depth: calibration, exhaustive lint, sensitivity, what-if, adaptive questioning, prompt first, cost
    "WeightCalibrator": "advisor.analyses.calibrate",
    "calibrate": "advisor.analyses.calibrate",
    "exhaustive_lint": "advisor.analyses.exhaustive",
    "analyse_sensitivity": "advisor.analyses.sensitivity",
    "what_if": "advisor.analyses.whatif",
    "rank_questions": "advisor.analyses.adaptive",
    "is_decided": "advisor.analyses.adaptive",
    "run_adaptive_questionnaire": "advisor.analyses.adaptive",
    "prompt_first": "advisor.analyses.promptfirst",
    "parse_costs": "advisor.analyses.costs",
    "estimate_costs": "advisor.analyses.costs",
}

# Earlier public names kept for scripts written against them: name -> (module, current name).
_ALIASES = {"APPROACHES": ("advisor.models", "RECOMMENDABLE")}

__all__ = ["__version__", *_EXPORTS, *_ALIASES]


def __getattr__(name: str) -> Any:
    module, current = _ALIASES.get(name) or (_EXPORTS.get(name), name)
    if module is None:
        raise AttributeError(f"module 'advisor' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), current)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
