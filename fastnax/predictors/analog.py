"""Accuracy on a noisy chip from a few labelled records: a training-free prior plus learned residuals.

With 25 records, gradient-boosted trees over ~80 features cannot find what one good feature
already says: the training-free analog score (:func:`fastnax.robustness.analog_score`)
ranks AnalogNAS-Bench's 1-day drift accuracy at Kendall tau 0.61 with no label at all.
:class:`PriorResidualPredictor` therefore predicts

    accuracy = a + b * analog_score  (+ an XGBoost model of the residual, when it helps),

``a, b`` by least squares over the live labelled records (dead networks: the lowest labelled
accuracy), the residual model (:class:`~fastnax.predictors.XGBPredictor`, default
hyperparameters) kept only when its 5-fold out-of-fold predictions rank the labelled records better
(Kendall tau) than the prior's alone: the search uses the ranking; and never
below :data:`MIN_RESIDUAL_RECORDS` (50) records, where the cross-validation on 25 records kept a
residual that ranked the other cells worse (0.602 against 0.611 for the prior alone on the 1-day
drift, 0.498 against 0.529 on ``analog_accuracy``; 3 seeds).

Evidence (AnalogNAS-Bench, CIFAR-10, development columns, 3 seeds, Kendall tau on the cells not
trained on, N = 25 / 100 / 500): prior alone 0.611 / 0.610 / 0.611 on ``analog_drift_86400``,
prior + residual 0.589 / 0.659 / 0.719, XGBoost on the same features 0.551 / 0.645 / 0.713; on
``analog_accuracy`` 0.529 / 0.529 / 0.529, 0.499 / 0.629 / 0.690 and 0.478 / 0.641 / 0.692: the
residual hurts at N = 25 and helps from N = 100, which the cross-validation decides per fit.

Intervals: split-conformal over the out-of-fold residuals of the chosen model
(:meth:`predict_interval`). Files: a JSON sidecar (format ``fastnax-prior-residual-predictor``)
and, when a residual model is kept, its XGBoost JSON model; never a pickle.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError, RecordsError

FORMAT = "fastnax-prior-residual-predictor"
FORMAT_VERSION = 1
FOLDS = 5
#: fewer labelled records than this: the prior alone (the residual trees hurt at N = 25, see above)
MIN_RESIDUAL_RECORDS = 50


def _prior_score(A: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(score, live) of analog feature rows: the training-free analog score and the live mask."""
    from fastnax.predictors.training_free import DEAD_SCORE, NOISE_WEIGHT
    from fastnax.robustness import DEAD_LOG10_NSR

    tf = A[:, names.index("training_free")]
    log_nsr = A[:, names.index("robustness:log10_nsr")]
    live = (tf > DEAD_SCORE) & (log_nsr < DEAD_LOG10_NSR)
    return np.where(live, tf - NOISE_WEIGHT * log_nsr, 0.0), live


def _conformal(residuals: np.ndarray, coverage) -> tuple[float, float]:
    try:
        coverage = float(coverage)
    except (TypeError, ValueError):
        raise BoundsError(f"coverage must be a number in (0, 1), got {coverage!r}") from None
    if not 0.0 < coverage < 1.0:
        raise BoundsError(f"coverage must be in (0, 1), got {coverage!r}")
    r = np.sort(residuals)
    n = len(r)
    tail = (1.0 - coverage) / 2.0
    lo_k = int(np.floor(tail * (n + 1))) - 1
    hi_k = int(np.ceil((1.0 - tail) * (n + 1))) - 1
    return (r[lo_k] if lo_k >= 0 else -np.inf), (r[hi_k] if hi_k < n else np.inf)


class PriorResidualPredictor:
    """Linear map of the training-free analog score, plus an XGBoost residual when it helps.

    Parameters
    ----------
    random_state : int, default 0
    n_jobs : int, default 1

    Attributes
    ----------
    coef_ : ndarray (2,)
        ``accuracy = coef_[0] + coef_[1] * analog_score`` for live networks.
    dead_value_ : float
        Prediction for dead networks (the lowest labelled accuracy), percent.
    residual_model_ : XGBPredictor or None
    cv_kendall_ : dict
        Kendall tau of the 5-fold out-of-fold predictions of the prior alone and with the residual
        (``prior``, ``residual``): the residual model is kept when it ranks better.
    residuals_ : ndarray
        Out-of-fold residuals of the chosen model (for the intervals), percentage points.
    """

    def __init__(self, random_state: int = 0, n_jobs: int = 1):
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_prior(self, A, y, names):
        score, live = _prior_score(A, names)
        if live.sum() >= 2 and np.ptp(score[live]) > 0:
            coef, *_ = np.linalg.lstsq(np.stack([np.ones(int(live.sum())), score[live]], axis=1), y[live],
                                       rcond=None)
        else:
            coef = np.array([float(np.mean(y)), 0.0])
        return coef, float(np.min(y))

    @staticmethod
    def _prior(A, names, coef, dead_value):
        score, live = _prior_score(A, names)
        return np.where(live, coef[0] + coef[1] * score, dead_value)

    def fit(self, A, y, feature_names=None):
        """Fit on analog features A (n, k) (:func:`~fastnax.predictors.multifidelity.analog_features`)
        and accuracies y (n,), percent. ``feature_names`` default: the ``nb201`` analog names."""
        from sklearn.model_selection import KFold

        from fastnax.predictors.multifidelity import analog_feature_names
        from fastnax.predictors.xgb import XGBPredictor

        names = list(analog_feature_names("nb201") if feature_names is None else feature_names)
        A = np.asarray(A, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != len(names) or y.shape != (len(A),):
            raise BoundsError(f"expected A (n, {len(names)}) and y (n,), got {A.shape} and {y.shape}")
        if "training_free" not in names or "robustness:log10_nsr" not in names:
            raise BoundsError("the features lack 'training_free' / 'robustness:log10_nsr' (nb201 analog features)")
        if len(y) < 4 or not np.all(np.isfinite(y)):
            raise RecordsError(f"fitting needs at least 4 finite accuracies, got {int(np.isfinite(y).sum())}")
        seed = int(self.random_state or 0)
        folds = min(FOLDS, len(y))
        oof_prior, oof_both = np.empty(len(y)), np.empty(len(y))
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(A):
            coef, dead = self._fit_prior(A[train], y[train], names)
            p_train = self._prior(A[train], names, coef, dead)
            p_test = self._prior(A[test], names, coef, dead)
            model = XGBPredictor(random_state=seed, n_jobs=self.n_jobs).fit(A[train], y[train] - p_train)
            oof_prior[test] = p_test
            oof_both[test] = p_test + model.predict(A[test])
        from scipy.stats import kendalltau

        tau_prior = float(np.nan_to_num(kendalltau(oof_prior, y).statistic, nan=-1.0))
        tau_both = float(np.nan_to_num(kendalltau(oof_both, y).statistic, nan=-1.0))
        self.coef_, self.dead_value_ = self._fit_prior(A, y, names)
        self.residual_model_ = None
        if len(y) >= MIN_RESIDUAL_RECORDS and tau_both > tau_prior:
            prior = self._prior(A, names, self.coef_, self.dead_value_)
            self.residual_model_ = XGBPredictor(random_state=seed, n_jobs=self.n_jobs).fit(A, y - prior)
        self.cv_kendall_ = {"prior": tau_prior, "residual": tau_both, "folds": folds}
        self.residuals_ = np.sort(y - (oof_both if self.residual_model_ is not None else oof_prior))
        self.feature_names_ = names
        self.n_features_in_ = len(names)
        self.target_ = getattr(self, "target_", None)
        return self

    def _check(self):
        if not hasattr(self, "coef_"):
            raise PredictorFileError("this PriorResidualPredictor is not fitted; call fit")

    def predict(self, A) -> np.ndarray:
        """Predicted accuracy (n,) in percent of analog feature rows A (n, n_features_in_)."""
        self._check()
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != self.n_features_in_:
            raise BoundsError(f"expected A (n, {self.n_features_in_}), got shape {A.shape}")
        out = self._prior(A, self.feature_names_, self.coef_, self.dead_value_)
        if self.residual_model_ is not None:
            out = out + self.residual_model_.predict(A)
        return out

    def predict_interval(self, A, coverage: float = 0.8):
        """Mean, lower and upper bound (each (n,), percent): split-conformal on out-of-fold residuals."""
        self._check()
        lo, hi = _conformal(self.residuals_, coverage)
        mean = self.predict(A)
        return mean, mean + lo, mean + hi

    # --- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the sidecar to ``path``'s ``.meta.json`` and the residual model (if any) to ``path``."""
        from fastnax import __version__
        from fastnax.io import atomic_write_text, dumps_json
        from fastnax.predictors.files import sidecar_path
        from fastnax.predictors.xgb import _versions

        self._check()
        path = Path(path)
        raw = None if self.residual_model_ is None else bytes(self.residual_model_.model_.save_raw(raw_format="json"))
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "target": self.target_,
                "feature_names": self.feature_names_,
                "prior": {"intercept": float(self.coef_[0]), "slope": float(self.coef_[1]),
                          "dead_value": self.dead_value_},
                "residual_model": None if raw is None else {"file": path.name,
                                                            "sha256": hashlib.sha256(raw).hexdigest()},
                "cv_kendall": self.cv_kendall_, "oof_residuals": [float(v) for v in self.residuals_],
                "params": {"random_state": self.random_state, "n_jobs": self.n_jobs},
                "versions": {**_versions(), "fastnax": __version__}}
        if raw is not None:
            atomic_write_text(path, raw.decode("utf-8"))
        atomic_write_text(sidecar_path(path), dumps_json(meta, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PriorResidualPredictor:
        """Load a predictor written by :meth:`save` (JSON only; the residual model's sha256 is checked)."""
        from fastnax.predictors.files import read_booster, read_sidecar
        from fastnax.predictors.xgb import XGBPredictor

        meta_file, meta = read_sidecar(path, FORMAT, FORMAT_VERSION, "prior-residual predictor")
        try:
            names = [str(n) for n in meta["feature_names"]]
            coef = np.asarray([float(meta["prior"]["intercept"]), float(meta["prior"]["slope"])])
            dead = float(meta["prior"]["dead_value"])
            residuals = np.sort(np.asarray([float(v) for v in meta["oof_residuals"]]))
            own = meta.get("params") or {}
            res = meta["residual_model"]
        except (KeyError, TypeError, ValueError) as exc:
            raise PredictorFileError(f"{meta_file}: malformed prior-residual sidecar ({exc})") from None
        if not (np.all(np.isfinite(coef)) and np.isfinite(dead) and len(residuals) >= 2):
            raise PredictorFileError(f"{meta_file}: prior holds a non-finite value or too few residuals")
        est = cls(random_state=own.get("random_state", 0), n_jobs=own.get("n_jobs", 1))
        est.residual_model_ = None
        if res is not None:
            booster = read_booster(meta_file, res.get("file"), res.get("sha256"), len(names))
            model = XGBPredictor(random_state=est.random_state, n_jobs=est.n_jobs)
            model.model_, model.n_features_in_, model.feature_names_ = booster, len(names), names
            est.residual_model_ = model
        est.coef_, est.dead_value_, est.residuals_ = coef, dead, residuals
        est.feature_names_, est.n_features_in_ = names, len(names)
        est.cv_kendall_ = meta.get("cv_kendall")
        est.target_ = meta.get("target")
        return est

    def __repr__(self) -> str:
        return f"PriorResidualPredictor(random_state={self.random_state!r}, n_jobs={self.n_jobs!r})"


__all__ = ["PriorResidualPredictor", "FORMAT"]
