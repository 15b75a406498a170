"""Calibration: scikit-learn estimator API, recovery from perturbed weights, write-back, measured cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from tests.support.analyses import SAMPLE_ANSWERS, synthetic_library
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from advisor.analyses.calibrate import WeightCalibrator, calibrate, cases_xy, write_rule_base
from advisor.cases import add_case, case_from_validation, load_cases
from advisor.engine import compile_rules, recommend, term_weights, with_term_weights
from advisor.errors import InputError
from advisor.models import CaseLibrary
from advisor.rulebase import load_rules


@pytest.fixture(scope="module")
def library(mini):
    return synthetic_library(mini, n=80, seed=3)


@pytest.fixture(scope="module")
def perturbed(mini):
    """The mini rule base with every other weight tripled and the rest cut to 30%."""
    weights = term_weights(mini)
    return with_term_weights(mini, {t: w * (3.0 if i % 2 else 0.3) for i, (t, w) in enumerate(weights.items())})


def test_estimator_params_and_clone(mini):
    est = WeightCalibrator(rules=mini, alpha=0.1, max_iter=50)
    params = est.get_params()
    assert params["alpha"] == 0.1 and params["max_iter"] == 50 and params["rules"] is mini
    copy = clone(est)
    assert copy.get_params()["alpha"] == 0.1 and not hasattr(copy, "weights_")
    est.set_params(alpha=0.5)
    assert est.alpha == 0.5


def test_fit_returns_self_with_learned_state(mini, library):
    X, y = cases_xy(library, mini)
    est = WeightCalibrator(rules=mini)
    assert est.fit(X, y) is est
    assert est.terms_ == list(term_weights(mini))
    assert (est.weights_ >= 0).all() and est.weights_.shape == (len(est.terms_),)
    assert list(est.classes_) == ["rag", "fine-tuning", "hybrid"]
    proba = est.predict_proba(X[:5])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert est.score(X, y) == pytest.approx(1.0)  # labelled by these very weights


def test_cross_val_score_works(mini, library):
    X, y = cases_xy(library, mini)
    scores = cross_val_score(WeightCalibrator(rules=mini), X, y, cv=3)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)


def test_single_class_is_refused_by_fit(mini):
    with pytest.raises(ValueError, match="two different approaches"):
        WeightCalibrator(rules=mini).fit([{}] * 3, ["rag"] * 3)


def test_calibration_recovers_from_perturbed_weights(perturbed, library):
    result = calibrate(library, perturbed, cv=5, seed=0)
    assert result.hand_mean < 0.75  # the perturbation really hurts
    assert result.calibrated_mean >= result.hand_mean + 0.15
    assert result.calibrated_train > result.hand_train
    moved = [w for w in result.weights if abs(w["change"]) > 0.01]
    assert moved and all(w["calibrated"] >= 0 for w in result.weights)
    assert abs(result.weights[0]["change"]) >= abs(result.weights[-1]["change"])  # largest first
    text = result.render_text()
    assert "hand-set" in text and "calibrated" in text and "Weights that moved" in text


def test_calibration_keeps_agreement_with_good_weights(mini, library):
    result = calibrate(library, mini, cv=5, seed=0)
    assert result.hand_mean == 1.0
    assert result.calibrated_mean >= 0.95


def test_written_rule_base_loads_and_scores(tmp_path, perturbed, library):
    result = calibrate(library, perturbed, cv=3)
    out = write_rule_base(tmp_path / "calibrated.yaml", result.rulebase)
    loaded = load_rules(out)
    for w in result.weights:
        assert term_weights(loaded)[w["term"]] == pytest.approx(w["calibrated"], abs=1e-3)
    assert "(calibrated)" in loaded.name
    answers = yaml.safe_load(SAMPLE_ANSWERS.read_text())["answers"]
    verdict = recommend(compile_rules(loaded), answers).recommendation
    assert verdict == recommend(compile_rules(result.rulebase), answers).recommendation  # as written, as fitted
    assert verdict == "rag"  # the sample project (documents that change, answers that cite them)


def test_too_few_and_single_class_and_duplicates(mini, library):
    few = CaseLibrary(version=1, cases=library.cases[:5])
    with pytest.raises(InputError, match="too few"):
        calibrate(few, mini, source="few.yaml")
    one = CaseLibrary(version=1, cases=[c for c in library.cases if c.expected == "rag"])
    with pytest.raises(InputError, match="two different approaches"):
        calibrate(one, mini)
    dup = CaseLibrary(version=1, cases=[*library.cases, library.cases[0]])
    with pytest.raises(InputError, match="duplicate case name 'case 0'"):
        calibrate(dup, mini, source="dup.yaml")


def _validation(tmp_path, best="fine-tuning", **extra):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    data = {"recommended": "rag", "best_measured": best, "agrees": best == "rag",
            "approaches": {"rag": {"answers": {"f1": 0.4, "contains": 0.5}},
                           "fine-tuning": {"answers": {"f1": 0.6, "contains": 0.7}}}, **extra}
    (run / "validation.json").write_text(json.dumps(data))
    return run


def test_measured_case_from_validation_run(tmp_path, default_rules):
    run = _validation(tmp_path)
    case = case_from_validation(run, default_rules, answers=SAMPLE_ANSWERS)
    assert case.expected == "fine-tuning"
    assert case.name == "measured: Marrowind Greenworks support assistant"
    assert "measured" in case.why and "f1 0.60" in case.why and "recommended rag" in case.why
    assert case.answers["knowledge_change"] == "monthly"
    library = tmp_path / "cases.yaml"
    add_case(library, case, default_rules)
    loaded = load_cases(library, default_rules)
    assert [c.expected for c in loaded.cases] == ["fine-tuning"]
    with pytest.raises(InputError, match="already there"):
        add_case(library, case, default_rules)


def test_add_case_keeps_comments(tmp_path, default_rules):
    library = tmp_path / "cases.yaml"
    library.write_text("# my cases\nversion: 1\ncases:\n  - name: one\n    expected: rag\n    why: because\n"
                       "    answers: {knowledge_change: daily}\n")
    case = case_from_validation(_validation(tmp_path), default_rules, answers=SAMPLE_ANSWERS, name="two")
    add_case(library, case, default_rules)
    text = library.read_text()
    assert text.startswith("# my cases")
    assert [c.name for c in load_cases(library, default_rules).cases] == ["one", "two"]


def test_validation_errors(tmp_path, default_rules):
    with pytest.raises(InputError, match="not found"):
        case_from_validation(tmp_path / "nope", default_rules)
    with pytest.raises(InputError, match="best_measured"):
        case_from_validation(_validation(tmp_path, best="raag"), default_rules, answers=SAMPLE_ANSWERS)
    with pytest.raises(InputError, match="--answers"):
        case_from_validation(_validation(tmp_path), default_rules)
    recorded = _validation(tmp_path, answers={"knowledge_change": "daily"})
    assert case_from_validation(recorded, default_rules).answers["knowledge_change"] == "daily"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(InputError, match="malformed JSON"):
        case_from_validation(broken, default_rules)
