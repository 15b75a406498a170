"""Calibration: fit a rule base's factor and rule weights to a labelled case library.

The engine is linear in its weights: raw[a] = sum over terms t of w_t * F[t][a], with F the unweighted
contributions (`engine.contributions(..., weighted=False)`). `WeightCalibrator` is a scikit-learn
classifier over answer sets that minimises the multinomial logistic loss of softmax(raw / temperature)
against the expected approach, plus an L2 pull toward the hand-set weights (so a weight moves only where
the cases ask for it), with every weight kept non-negative (L-BFGS-B with bounds). Its constructor stores
settings only; `fit` returns self; learned state ends in `_` (`weights_`, `terms_`, `rules_`); so it works
with `clone`, `cross_val_score` and grid search.

`calibrate` runs the whole job for `advisor calibrate`: cross-validated agreement of the hand-set and the
calibrated weights on the same folds, the weights that moved, and the calibrated rule base (written with
`write_rule_base`). Measured cases from validation runs are added to a library by
`advisor.cases` (`case_from_validation`, `add_case`).

numpy, scipy and scikit-learn are imported here, never by the command line at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from advisor.cases import check_library
from advisor.engine import compile_rules, contributions, pick_many, term_weights, tie_indices, with_term_weights
from advisor.errors import InputError
from advisor.models import RECOMMENDABLE, CaseLibrary, RuleBase
from advisor.outcomes import PROMPT
from advisor.samplesize import MEASURABLE_INPUTS

MIN_CASES = 10


def features(rulebase: RuleBase, X: Sequence[Mapping[str, Any]]) -> tuple[list[str], np.ndarray]:
    """Term ids and the unweighted contribution tensor F of shape (cases, terms, 3) for answer sets X."""
    compiled = compile_rules(rulebase)
    terms: list[str] | None = None
    rows = []
    for answers in X:
        contrib = contributions(compiled, answers, weighted=False)
        if terms is None:
            terms = list(contrib)
        rows.append([[contrib[t][a] for a in RECOMMENDABLE] for t in terms])
    if terms is None:
        terms = list(term_weights(rulebase))
    return terms, np.asarray(rows, dtype=float).reshape(len(rows), len(terms), 3)


def pick_rows(raw: np.ndarray, tie_order: Sequence[str]) -> np.ndarray:
    """The engine's verdict for each row of raw scores (n, 3): highest, near-ties to the earlier in tie_order."""
    best, _ = pick_many(np.asarray(raw).T, tie_indices(tie_order))
    return best.astype(np.intp)


def _default_rules() -> RuleBase:
    from advisor.rulebase import load_rules

    return load_rules(None)


class WeightCalibrator(ClassifierMixin, BaseEstimator):
    """Fits a rule base's term weights to labelled answer sets.

    X: answer mappings; y: 'rag' | 'fine-tuning' | 'hybrid'.

    rules: the rule base whose weights are the starting point and the L2 anchor (None: the bundled default).
    alpha: strength of the pull toward the hand-set weights. temperature: raw scores are divided by it
    before the softmax. class_weight: None or 'balanced'. max_iter: L-BFGS-B iterations. learn_scale: also
    fit a free sharpness of the softmax (the verdict does not depend on it; it stops the loss from inflating
    every weight to sharpen its probabilities).
    """

    def __init__(
        self,
        rules: RuleBase | None = None,
        alpha: float = 0.02,
        temperature: float = 1.0,
        class_weight: str | None = None,
        max_iter: int = 500,
        learn_scale: bool = True,
    ):
        self.rules = rules
        self.learn_scale = learn_scale
        self.alpha = alpha
        self.temperature = temperature
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _rulebase(self) -> RuleBase:
        return self.rules if self.rules is not None else _default_rules()

    def fit(self, X: Sequence[Mapping[str, Any]], y: Sequence[str]) -> WeightCalibrator:
        """Fit the weights to the answer sets X and their expected approaches y; returns self."""
        from scipy.optimize import minimize
        from threadpoolctl import threadpool_limits

        rulebase = self._rulebase()
        labels = [str(v) for v in y]
        if len(labels) != len(X):
            raise ValueError(f"X has {len(X)} answer sets but y has {len(labels)} labels")
        for label in labels:
            if label not in RECOMMENDABLE:
                raise ValueError(f"unknown label {label!r}; the labels are: {', '.join(RECOMMENDABLE)}")
        if len(set(labels)) < 2:
            raise ValueError("calibration needs cases of at least two different approaches")
        if self.alpha < 0 or self.temperature <= 0:
            raise ValueError("alpha must be >= 0 and temperature > 0")
        terms, F = features(rulebase, X)
        hand = term_weights(rulebase)
        w0 = np.array([hand[t] for t in terms], dtype=float)
        target = np.array([RECOMMENDABLE.index(v) for v in labels])
        Y = np.eye(3)[target]
        sw = np.ones(len(labels))
        if self.class_weight == "balanced":
            counts = np.bincount(target, minlength=3).astype(float)
            sw = len(labels) / (np.count_nonzero(counts) * counts[target])
        elif self.class_weight is not None:
            raise ValueError("class_weight must be None or 'balanced'")
        sw = sw / sw.sum()
        tau = float(self.temperature)

        n_terms = len(terms)

        def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
            # params: the term weights, then log of a free sharpness of the softmax (it carries the overall
            # scale, so the L2 pull keeps the weights' shape near the hand-set one instead of fighting scale)
            w, log_s = params[:n_terms], params[n_terms]
            sharp = np.exp(log_s) / tau
            raw = np.einsum("nta,t->na", F, w)
            z = raw * sharp
            z -= z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(logp)
            resid = (p - Y) * sw[:, None]
            value = -(sw * (Y * logp).sum(axis=1)).sum() + self.alpha * np.sum((w - w0) ** 2)
            grad_w = np.einsum("nta,na->t", F, resid) * sharp + 2 * self.alpha * (w - w0)
            grad_s = float(np.sum(resid * raw) * sharp) if self.learn_scale else 0.0
            return float(value), np.append(grad_w, grad_s)

        bounds = [(0.0, None)] * n_terms + [(-5.0, 5.0) if self.learn_scale else (0.0, 0.0)]
        # one BLAS thread: the problem is tiny, and idle BLAS threads spinning between L-BFGS-B steps made
        # fitting about six times slower on two cores
        with threadpool_limits(limits=1):
            result = minimize(
                loss,
                np.append(w0, 0.0),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": int(self.max_iter)},
            )
        self.scale_ = float(np.exp(result.x[n_terms]))
        result.x = result.x[:n_terms]
        self.terms_ = terms
        self.hand_weights_ = w0
        self.weights_ = np.maximum(result.x, 0.0)
        self.n_iter_ = int(result.nit)
        self.loss_ = float(result.fun)
        self.classes_ = np.array(RECOMMENDABLE)
        self.rules_ = with_term_weights(rulebase, dict(zip(terms, self.weights_.tolist())))
        return self

    def pressure(self, X: Sequence[Mapping[str, Any]], y: Sequence[str]) -> np.ndarray:
        """Per case and term, d(case's loss)/d(weight) at the fitted weights, shape (cases, terms): a positive
        entry means the case pushes that weight down (it is scored better with less of the term)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "weights_")
        _, F = features(self._rulebase(), X)
        sharp = getattr(self, "scale_", 1.0) / self.temperature
        p = self.predict_proba(X)
        Y = np.eye(3)[[RECOMMENDABLE.index(str(v)) for v in y]]
        return np.einsum("nta,na->nt", F, p - Y) * sharp

    def decision_function(self, X: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Raw scores (n, 3) in the order of classes_, under the fitted weights."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "weights_")
        _, F = features(self._rulebase(), X)
        return np.einsum("nta,t->na", F, self.weights_)

    def predict_proba(self, X: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Softmax of the raw scores / temperature (the model the loss fits)."""
        z = self.decision_function(X) * getattr(self, "scale_", 1.0) / self.temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The engine's verdict under the fitted weights (same tie order as the rule base)."""
        raw = self.decision_function(X)
        return self.classes_[pick_rows(raw, self._rulebase().scoring.tie_order)]


def hand_predict(rulebase: RuleBase, X: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """The verdicts of the rule base as it stands (hand-set weights)."""
    terms, F = features(rulebase, X)
    hand = term_weights(rulebase)
    w = np.array([hand[t] for t in terms])
    return np.array(RECOMMENDABLE)[pick_rows(np.einsum("nta,t->na", F, w), rulebase.scoring.tie_order)]


def cases_xy(library: CaseLibrary, rulebase: RuleBase) -> tuple[list[dict[str, str]], list[str]]:
    """The answer sets (checked against the rule base) and expected approaches of a case library."""
    from advisor.answers import normalise_answers

    X = [normalise_answers(c.answers, rulebase, c.name) for c in library.cases]
    return X, [c.expected for c in library.cases]


def fold_plan(y: Sequence[str], cv: int) -> tuple[int, bool, str]:
    """(folds, stratified, why fewer than asked or not stratified: '' when neither).

    Stratified k-fold needs a case of every expected approach in every fold, so it uses at most as many folds
    as the rarest approach has cases; with an approach of a single case the folds cannot be stratified.
    """
    counts = {a: list(y).count(a) for a in sorted(set(y))}
    rarest = min(counts, key=lambda a: (counts[a], a))
    smallest = counts[rarest]
    if smallest >= 2:
        folds = max(2, min(cv, smallest))
        why = (f"--cv {cv} asked for {cv} folds but {folds} were used: the rarest expected approach ({rarest}) has "
               f"{smallest} cases, and every fold needs one of each" if folds < cv else "")
        return folds, True, why
    folds = max(2, min(cv, len(y)))
    why = (f"the folds are not stratified: {rarest} has a single case, so some folds hold none of it"
           + (f"; --cv {cv} asked for {cv} folds but {folds} were used ({len(y)} cases)" if folds < cv else ""))
    return folds, False, why


def splitter(y: Sequence[str], cv: int, seed: int) -> Any:
    """Stratified k-fold (shuffled, seeded) when every class has two or more cases, plain k-fold otherwise
    (`fold_plan` says how many folds, and why when not the number asked)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    folds, stratified, _ = fold_plan(y, cv)
    if stratified:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return KFold(n_splits=folds, shuffle=True, random_state=seed)


def improvement_noise(hand_cv: Sequence[float], calibrated_cv: Sequence[float]) -> tuple[float, float]:
    """(mean gain of the calibrated weights in held-out agreement, the cross-validation noise around it).

    The noise is two standard errors of the per-fold gains (paired: both weight sets score the same folds); the
    calibrated weights are adopted only when the gain exceeds it.
    """
    gains = np.asarray(calibrated_cv, dtype=float) - np.asarray(hand_cv, dtype=float)
    if len(gains) < 2:
        return float(gains.mean()) if len(gains) else 0.0, float("inf")
    return float(gains.mean()), float(2 * gains.std(ddof=1) / np.sqrt(len(gains)))


@dataclass
class CalibrationResult:
    """Cross-validated agreement of the hand-set and the calibrated weights, whether the calibrated ones are adopted,
    the weights that moved (and the cases behind a weight cut to zero or by half), and the rule base to write.

    `rulebase` is the calibrated rule base when `adopted`, else the hand-set one: calibrated weights that do not
    agree with held-out cases better than the hand-set ones, beyond the cross-validation noise, are not kept.
    """

    cases: int
    folds: int
    hand_cv: list[float]
    calibrated_cv: list[float]
    hand_train: float
    calibrated_train: float
    weights: list[dict[str, Any]]
    rulebase: RuleBase
    settings: dict[str, Any] = field(default_factory=dict)
    disagreements: list[dict[str, str]] = field(default_factory=list)
    adopted: bool = False
    improvement: float = 0.0
    noise: float = 0.0
    calibrated_rulebase: RuleBase | None = None
    warnings: list[str] = field(default_factory=list)
    cut: list[dict[str, Any]] = field(default_factory=list)  # weights cut to zero or by half, with their cases
    skipped: list[str] = field(default_factory=list)  # cases expecting `prompt`, which no weight decides

    @property
    def hand_mean(self) -> float:
        """Mean cross-validated agreement of the hand-set weights."""
        return float(np.mean(self.hand_cv))

    @property
    def calibrated_mean(self) -> float:
        """Mean cross-validated agreement of the calibrated weights."""
        return float(np.mean(self.calibrated_cv))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--format json`."""
        return {
            "cases": self.cases,
            "folds": self.folds,
            "folds_requested": self.settings.get("cv"),
            "cv_agreement": {
                "hand": round(self.hand_mean, 4),
                "calibrated": round(self.calibrated_mean, 4),
                "hand_folds": [round(x, 4) for x in self.hand_cv],
                "calibrated_folds": [round(x, 4) for x in self.calibrated_cv],
            },
            "improvement": round(self.improvement, 4),
            "noise": round(self.noise, 4) if np.isfinite(self.noise) else None,
            "adopted": self.adopted,
            "train_agreement": {"hand": round(self.hand_train, 4), "calibrated": round(self.calibrated_train, 4)},
            "weights": self.weights,
            "cut": self.cut,
            "warnings": self.warnings,
            "skipped_prompt_cases": self.skipped,
            "settings": self.settings,
            "disagreements_after": self.disagreements,
        }

    def decision(self) -> str:
        """One sentence: which weights are kept, and why (the gain against the cross-validation noise)."""
        gain = f"{self.improvement * 100:.1f} points"
        noise = f"±{self.noise * 100:.1f} points" if np.isfinite(self.noise) else "not measurable with one fold"
        both = f"{self.calibrated_mean:.1%} against {self.hand_mean:.1%} of held-out cases"
        if self.adopted:
            return (f"Adopted the calibrated weights: they agree with {both}, {gain} better, beyond the "
                    f"cross-validation noise ({noise}).")
        if self.improvement <= 0:
            return f"Kept the hand-set weights: the calibrated ones do no better ({both})."
        return (f"Kept the hand-set weights: the calibrated ones agree with {both}, {gain} better but within the "
                f"cross-validation noise ({noise}); add cases to tell.")

    def render_text(self, moved_only: bool = True) -> str:
        """Side-by-side agreement, the decision, warnings and the weights that moved, for the terminal."""
        lines = [
            f"Calibrated on {self.cases} cases, {self.folds}-fold cross-validation "
            f"(seed {self.settings.get('seed', 0)}, alpha {self.settings.get('alpha')}):",
            "",
            f"  {'':<34} {'hand-set':>9} {'calibrated':>11}",
            f"  {'agreement on held-out cases (CV)':<34} {self.hand_mean:>9.1%} {self.calibrated_mean:>11.1%}",
            f"  {'agreement on all cases (fit)':<34} {self.hand_train:>9.1%} {self.calibrated_train:>11.1%}",
            "",
            self.decision(),
        ]
        lines += [f"Warning: {w}" for w in self.warnings]
        lines.append("")
        moved = [w for w in self.weights if abs(w["change"]) >= 0.005] if moved_only else self.weights
        if moved:
            lines.append("Weights that moved (largest first)" + ("" if self.adopted else ", not written") + ":")
            lines.append(f"  {'term':<40} {'hand':>7} {'calibrated':>11} {'change':>8}")
            for w in moved:
                rel = f"{w['relative']:+.0%}" if w["relative"] is not None else "new"
                lines.append(f"  {w['term']:<40} {w['hand']:>7.3f} {w['calibrated']:>11.3f} {rel:>8}")
        else:
            lines.append("No weight moved by 0.005 or more: the cases agree with the hand-set weights.")
        for c in self.cut:
            how = "to zero" if c["calibrated"] == 0 else "by half or more"
            names = "; ".join(f"{d['name']} (expects {d['expected']})" for d in c["cases"])
            lines.append(f"  {c['term']} cut {how} by the cases that score better without it: {names}")
        return "\n".join(lines)


SMALL_LIBRARY = MEASURABLE_INPUTS  # fewer cases than this: cross-validated agreement moves a lot with one case
CUT_SHARE = 0.5  # a weight cut by this share or more (or to zero) names the cases that drove it
DRIVERS = 3  # how many cases to name


def _cuts(fitted: WeightCalibrator, X: Sequence[Mapping[str, Any]], y: Sequence[str],
          names: Sequence[str]) -> list[dict[str, Any]]:
    """Weights cut to zero or by half, each with the cases that push it down most at the fitted weights."""
    pressure = fitted.pressure(X, y)
    cuts = []
    for t, (term, hand, new) in enumerate(zip(fitted.terms_, fitted.hand_weights_, fitted.weights_)):
        if hand <= 0 or new > hand * (1 - CUT_SHARE) + 1e-9:
            continue
        order = [i for i in np.argsort(-pressure[:, t], kind="stable") if pressure[i, t] > 1e-12][:DRIVERS]
        cuts.append({
            "term": term,
            "hand": round(float(hand), 4),
            "calibrated": round(float(new), 4) if new > 1e-6 else 0.0,
            "cases": [{"name": names[i], "expected": str(y[i]), "pressure": round(float(pressure[i, t]), 4)}
                      for i in order],
        })
    return cuts


def calibrate(
    library: CaseLibrary,
    rulebase: RuleBase,
    *,
    cv: int = 5,
    alpha: float = 0.02,
    temperature: float = 1.0,
    seed: int = 0,
    class_weight: str | None = None,
    source: str = "cases",
    min_cases: int = MIN_CASES,
    write_calibrated: bool = False,
) -> CalibrationResult:
    """Cross-validate hand-set against calibrated weights on the same folds, then fit on every case.

    The calibrated weights become the result's rule base only when they agree with held-out cases better than
    the hand-set ones beyond the cross-validation noise (`improvement_noise`), or when `write_calibrated`.
    Cases expecting `prompt` are left out: the prompt-first outcome follows a rule, not the weights.
    """
    from sklearn.model_selection import cross_val_score

    check_library(library, source)
    kept = [c for c in library.cases if c.expected != PROMPT]
    skipped = [c.name for c in library.cases if c.expected == PROMPT]
    X, y = cases_xy(CaseLibrary(version=1, cases=kept), rulebase)
    n = len(y)
    left_out = f" ({len(skipped)} case(s) expecting prompt are left out: no weight decides them)" if skipped else ""
    if n < min_cases:
        raise InputError(
            f"{source}: {n} case(s) are too few to calibrate on{left_out}; give at least {min_cases}, "
            "with at least two different expected approaches"
        )
    if len(set(y)) < 2:
        raise InputError(
            f"{source}: every case expects '{y[0]}'; calibration needs cases of at least two different approaches"
        )
    warnings = []
    if n < SMALL_LIBRARY:
        warnings.append(
            f"{n} cases are few: one case moves the agreement by {1 / n:.0%}, so cross-validation can tell only "
            f"large differences; {SMALL_LIBRARY} or more cases make it measurable"
        )
    folds, _, why = fold_plan(y, cv)
    if why:
        warnings.append(why)
    if skipped:
        warnings.append(f"{len(skipped)} case(s) expecting prompt are left out: the prompt-first outcome follows "
                        f"the rule base's prompt rule, not the weights ({', '.join(skipped[:DRIVERS])}"
                        f"{', ...' if len(skipped) > DRIVERS else ''})")
    split = splitter(y, cv, seed)
    estimator = WeightCalibrator(rules=rulebase, alpha=alpha, temperature=temperature, class_weight=class_weight)
    calibrated_cv = [float(x) for x in cross_val_score(estimator, X, y, cv=split)]
    hand = hand_predict(rulebase, X)
    y_arr = np.array(y)
    hand_cv = [float(np.mean(hand[test] == y_arr[test])) for _, test in split.split(X, y)]
    fitted = estimator.fit(X, y)
    after = fitted.predict(X)
    weights: list[dict[str, Any]] = []
    for term, w_hand, w_new in zip(fitted.terms_, fitted.hand_weights_, fitted.weights_):
        weights.append(
            {
                "term": term,
                "hand": round(float(w_hand), 4),
                "calibrated": round(float(w_new), 4),
                "change": round(float(w_new - w_hand), 4),
                "relative": round(float((w_new - w_hand) / w_hand), 4) if w_hand > 0 else None,
            }
        )
    weights.sort(key=lambda w: -abs(w["change"]))
    gain, noise = improvement_noise(hand_cv, calibrated_cv)
    adopted = bool(gain > 0 and gain > noise)
    new_rules = fitted.rules_.model_copy(deep=True)
    new_rules.name = f"{rulebase.name} (calibrated)"
    note = (
        f"Weights calibrated on {n} cases from {source} (advisor calibrate, alpha {alpha}, seed {seed}); "
        f"cross-validated agreement {np.mean(hand_cv):.1%} hand-set, {np.mean(calibrated_cv):.1%} calibrated."
    )
    new_rules.description = f"{rulebase.description.strip()}\n\n{note}".strip()
    disagreements = [
        {"name": c.name, "expected": c.expected, "got": str(g)} for c, g in zip(kept, after) if g != c.expected
    ]
    result = CalibrationResult(
        cases=n,
        folds=split.get_n_splits(),
        hand_cv=hand_cv,
        calibrated_cv=calibrated_cv,
        hand_train=float(np.mean(hand == y_arr)),
        calibrated_train=float(np.mean(after == y_arr)),
        weights=weights,
        rulebase=rulebase,
        settings={"alpha": alpha, "temperature": temperature, "seed": seed, "cv": cv, "class_weight": class_weight},
        disagreements=disagreements,
        adopted=adopted,
        improvement=gain,
        noise=noise,
        calibrated_rulebase=new_rules,
        warnings=warnings,
        cut=_cuts(fitted, X, y, [c.name for c in kept]),
        skipped=skipped,
    )
    if adopted or write_calibrated:
        result.rulebase = new_rules
    else:
        kept_rules = rulebase.model_copy(deep=True)
        kept_rules.description = (f"{rulebase.description.strip()}\n\nadvisor calibrate kept these hand-set weights: "
                                  f"{result.decision()}").strip()
        result.rulebase = kept_rules
    return result


def write_rule_base(path: str | os.PathLike, rulebase: RuleBase, calibrated: bool = True) -> Path:
    """Write a rule base as YAML atomically, after checking the text loads back (what `--rules` reads)."""
    from advisor.atomic import write_text
    from advisor.datafiles import parse_data
    from advisor.rulebase import dump_rules, parse_rules

    what = "with calibrated weights" if calibrated else "with its hand-set weights kept (see the description)"
    text = f"# Written by 'advisor calibrate': the hand-set rule base {what}.\n" + dump_rules(rulebase)
    parse_rules(parse_data(text, str(path), what="rule base"), str(path))
    return write_text(path, text, "rule base")
