"""Accuracy on a noisy chip from a few labelled records: a training-free prior plus learned residuals.

With 25 records, gradient-boosted trees over ~80 features cannot find what one good feature
already says: the training-free analog score (:func:`fastnax.robustness.analog_score`)
ranks AnalogNAS-Bench's 1-day drift accuracy at Kendall tau 0.61 with no label at all.
:class:`PriorResidualPredictor` therefore predicts, on the *normal scores* of the accuracies
(``z = Phi^-1((rank - 1/2) / n)`` of the labelled records, ties averaged),

    z = a + b * analog_score  +  w(n) * mean(boosted trees, random forest)(features),

``a, b`` by least squares over the live labelled records (dead networks: the lowest labelled
``z``), the two tree models (XGBoost; :data:`BOOSTED` and :data:`FOREST`) fitted on the residual
``z - prior``, and ``w(n) = n / (n + RESIDUAL_PRIOR_RECORDS)`` shrinking the residual toward the
prior when labels are few. The prediction goes back to percent through the monotone map from the
labelled records' normal scores to their accuracies (linear between them, linear beyond the ends),
so the ranking is that of ``z``.

Why this form (AnalogNAS-Bench, CIFAR-10, development columns only, development seeds 100-119,
never the benchmark's 0-19; Kendall tau on the cells not trained on; N = 100 / 500, first on
``analog_drift_86400`` then ``analog_accuracy``). The previous form (the prior and an XGBoost
residual, depth 6, on raw percent, kept when 5-fold CV said so; 8 seeds): 0.657 / 0.717 and
0.613 / 0.685. Fitting the normal scores instead of percent: 0.673 / 0.729 and 0.639 / 0.708
(-log(100.5 - y): 0.669 / 0.732, 0.631 / 0.703): squared error on percent spends the trees on the
long tail of poor cells (5 % of cells lie below 41 % after a day), while Kendall weighs every pair
alike. Depth 4: 0.671 / 0.732, 0.639 / 0.713. Averaging a random forest of the residual in:
0.680 / 0.735, 0.646 / 0.715 (forest alone 0.679 / 0.728; depth-6 forest 0.679 / 0.731; three
bagged boosters instead of one: +0.001). Did not help: kernel ridge or a GP over one-hot edge ops
or path encodings of the residual (0.61-0.65 at N = 500), an isotonic prior (-0.006), the prior
as a tree feature (+-0.001), a pairwise ranking objective (0.54 at N = 500), dropping the one-hot
edge ops (-0.01). With the shrunk residual the trees pay from N = 25 on (10 seeds, 1-day drift,
``analog_accuracy``, drift at 1 min and 1 h, N = 25): w = 1 gives 0.607 / 0.537 / 0.590 / 0.600,
``RESIDUAL_PRIOR_RECORDS`` = 15 gives 0.618 / 0.548 / 0.600 / 0.610 (30: 0.619 / 0.548 / 0.600 /
0.611, but 0.003-0.007 less at N = 100), prior alone 0.611 / 0.529 / - / -. A ceiling for
reference: XGBoost on 8,000 labelled cells ranks the others at 0.790 / 0.778, and cells with equal
features (isomorphic cells, trained and measured separately) rank each other's accuracies at
0.786 / 0.782: most of what separates similar cells on the chip is measurement noise.

Intervals: split-conformal over 5-fold out-of-fold residuals of ``z`` (the whole model refitted
per fold), mapped to percent (:meth:`predict_interval`; the map is monotone, so the coverage
carries over and the interval is wider where accuracies spread). Files: a JSON sidecar (format
``fastnax-prior-residual-predictor``, version 2) and the two XGBoost JSON models beside it; never
a pickle.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError, RecordsError
from fastnax.predictors.residual import BOOSTED, FOREST  # noqa: F401 (re-exported: the residual's models)
from fastnax.predictors.residual import MODELS, conformal_bounds, fit_trees, predict_trees

FORMAT = "fastnax-prior-residual-predictor"
FORMAT_VERSION = 2
FOLDS = 5
#: the residual's weight is n / (n + this): the prior counts as this many labelled records
RESIDUAL_PRIOR_RECORDS = 15.0


def _prior_score(A: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(score, live) of analog feature rows: the training-free analog score and the live mask."""
    from fastnax.predictors.training_free import DEAD_SCORE, NOISE_WEIGHT
    from fastnax.robustness import DEAD_LOG10_NSR

    tf = A[:, names.index("training_free")]
    log_nsr = A[:, names.index("robustness:log10_nsr")]
    live = (tf > DEAD_SCORE) & (log_nsr < DEAD_LOG10_NSR)
    return np.where(live, tf - NOISE_WEIGHT * log_nsr, 0.0), live


def normal_scores(y: np.ndarray) -> np.ndarray:
    """``Phi^-1((rank - 1/2) / n)`` of y (n,), ties given their average rank."""
    from scipy.stats import norm, rankdata

    return norm.ppf((rankdata(y) - 0.5) / len(y))


def score_map(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knots (z, accuracy) of the monotone map from normal scores back to accuracies of y (n,)."""
    acc, first = np.unique(y, return_index=True)
    return normal_scores(y)[first], acc


def to_accuracy(z: np.ndarray, knots_z: np.ndarray, knots_acc: np.ndarray) -> np.ndarray:
    """Accuracy (percent, clipped to [0, 100]) of normal scores z: linear between the knots, the end
    segments' slopes beyond them (one knot: a shift), strictly increasing up to the clip."""
    z = np.asarray(z, dtype=np.float64)
    if len(knots_z) < 2:
        return np.clip(knots_acc[0] + z - knots_z[0], 0.0, 100.0)
    out = np.interp(z, knots_z, knots_acc)
    lo_slope = (knots_acc[1] - knots_acc[0]) / (knots_z[1] - knots_z[0])
    hi_slope = (knots_acc[-1] - knots_acc[-2]) / (knots_z[-1] - knots_z[-2])
    out = np.where(z < knots_z[0], knots_acc[0] + lo_slope * (z - knots_z[0]), out)
    out = np.where(z > knots_z[-1], knots_acc[-1] + hi_slope * (z - knots_z[-1]), out)
    return np.clip(out, 0.0, 100.0)


class PriorResidualPredictor:
    """Normal scores of the accuracy: a linear map of the analog score plus shrunk tree residuals.

    Parameters
    ----------
    random_state : int, default 0
    n_jobs : int, default 1

    Attributes
    ----------
    coef_ : ndarray (2,)
        ``z = coef_[0] + coef_[1] * analog_score`` for live networks (the prior, in normal scores).
    dead_value_ : float
        Prior ``z`` of dead networks (the lowest labelled one).
    residual_weight_ : float
        ``n / (n + RESIDUAL_PRIOR_RECORDS)``.
    residual_models_ : dict of str -> xgboost.Booster
        ``boosted`` and ``forest``, fitted on ``z - prior``; their mean is the residual.
    knots_ : tuple of ndarray
        ``(z, accuracy)`` of the map back to percent (:func:`to_accuracy`).
    cv_kendall_ : dict
        Kendall tau of the 5-fold out-of-fold predictions of the prior alone and of the whole model
        (``prior``, ``residual``) on the labelled records.
    residuals_ : ndarray
        Out-of-fold residuals of ``z`` (for the intervals).
    """

    def __init__(self, random_state: int = 0, n_jobs: int = 1):
        self.random_state = random_state
        self.n_jobs = n_jobs

    @staticmethod
    def _fit_prior(A, z, names):
        score, live = _prior_score(A, names)
        if live.sum() >= 2 and np.ptp(score[live]) > 0:
            coef, *_ = np.linalg.lstsq(np.stack([np.ones(int(live.sum())), score[live]], axis=1), z[live],
                                       rcond=None)
        else:
            coef = np.array([float(np.mean(z)), 0.0])
        return coef, float(np.min(z))

    @staticmethod
    def _prior(A, names, coef, dead_value):
        score, live = _prior_score(A, names)
        return np.where(live, coef[0] + coef[1] * score, dead_value)

    def _fit_z(self, A, z, names, seed):
        """(coef, dead value, boosters) of the model of normal scores z on rows A."""
        coef, dead = self._fit_prior(A, z, names)
        prior = self._prior(A, names, coef, dead)
        return coef, dead, fit_trees(A, z - prior, seed, int(self.n_jobs))

    def fit(self, A, y, feature_names=None):
        """Fit on analog features A (n, k) (:func:`~fastnax.predictors.multifidelity.analog_features`)
        and accuracies y (n,), percent. ``feature_names`` default: the ``nb201`` analog names."""
        from scipy.stats import kendalltau
        from sklearn.model_selection import KFold

        from fastnax.predictors.multifidelity import analog_feature_names

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
        z = normal_scores(y)
        weight = len(y) / (len(y) + RESIDUAL_PRIOR_RECORDS)
        folds = min(FOLDS, len(y))
        oof_prior, oof_both = np.empty(len(y)), np.empty(len(y))
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(A):
            coef, dead, boosters = self._fit_z(A[train], z[train], names, seed)
            oof_prior[test] = self._prior(A[test], names, coef, dead)
            oof_both[test] = oof_prior[test] + weight * predict_trees(boosters, A[test])
        self.coef_, self.dead_value_, self.residual_models_ = self._fit_z(A, z, names, seed)
        self.residual_weight_ = float(weight)
        self.knots_ = score_map(y)
        self.cv_kendall_ = {"prior": float(np.nan_to_num(kendalltau(oof_prior, y).statistic, nan=-1.0)),
                            "residual": float(np.nan_to_num(kendalltau(oof_both, y).statistic, nan=-1.0)),
                            "folds": folds}
        self.residuals_ = np.sort(z - oof_both)
        self.feature_names_ = names
        self.n_features_in_ = len(names)
        self.target_ = getattr(self, "target_", None)
        return self

    def fit_records(self, records, target: str):
        """Fit on ``nb201`` records (Records or a records file) that hold ``target``; records
        without it are left out (at least 4 must have it)."""
        from fastnax.arch import Architecture
        from fastnax.datasets.records import is_accuracy_name
        from fastnax.predictors.files import read_fit_records
        from fastnax.predictors.xgb import _check_record_spaces

        records, info = read_fit_records(records)
        if not is_accuracy_name(target):
            raise BoundsError(f"target {target!r} is not an accuracy name (accuracy_clean, accuracy_noisy or "
                              f"accuracy_<name>)")
        records = [r for r in records if r.accuracy(target) is not None]
        info["count"] = len(records)
        if len(records) < 4:
            raise RecordsError(f"the prior-residual predictor needs at least 4 records with {target}, "
                               f"got {len(records)}")
        archs = [Architecture.from_string(r.arch) for r in records]
        _check_record_spaces(records, archs)
        if {a.space for a in archs} != {"nb201"} or len({a.options for a in archs}) > 1:
            raise RecordsError(f"the prior-residual predictor fits one nb201 space (its analog score "
                               f"needs the cell); these records are of {sorted({a.space for a in archs})}")
        from fastnax.predictors.multifidelity import MultiFidelityPredictor

        A, names = MultiFidelityPredictor._features(archs)
        self.target_ = target
        self.fit(A, [r.accuracy(target) for r in records], feature_names=names)
        self.space_ = archs[0].space
        self.space_options_ = dict(archs[0].options)
        self.dataset_ = ",".join(sorted({r.dataset for r in records}))
        self.records_info_ = info
        return self

    def _check(self):
        if not hasattr(self, "coef_"):
            raise PredictorFileError("this PriorResidualPredictor is not fitted; call fit")

    def predict_z(self, A) -> np.ndarray:
        """Predicted normal score (n,) of analog feature rows A (n, n_features_in_): the ranking."""
        self._check()
        A = np.asarray(A, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != self.n_features_in_:
            raise BoundsError(f"expected A (n, {self.n_features_in_}), got shape {A.shape}")
        prior = self._prior(A, self.feature_names_, self.coef_, self.dead_value_)
        return prior + self.residual_weight_ * predict_trees(self.residual_models_, A)

    def predict(self, A) -> np.ndarray:
        """Predicted accuracy (n,) in percent of analog feature rows A (n, n_features_in_)."""
        return to_accuracy(self.predict_z(A), *self.knots_)

    def predict_interval(self, A, coverage: float = 0.8):
        """Mean, lower and upper bound (each (n,), percent): split-conformal on out-of-fold residuals."""
        self._check()
        lo, hi = conformal_bounds(self.residuals_, coverage)
        z = self.predict_z(A)
        return tuple(to_accuracy(v, *self.knots_) for v in (z, z + lo, z + hi))

    def predict_archs(self, archs) -> np.ndarray:
        """Predicted accuracy (n,) of ``nb201`` architectures (or canonical strings), percent."""
        from fastnax.predictors.multifidelity import MultiFidelityPredictor

        A, names = MultiFidelityPredictor._features(archs)
        if names != self.feature_names_:
            raise PredictorFileError("this predictor was fitted on another feature set; refit it")
        return self.predict(A)

    # --- files ---------------------------------------------------------------------------------
    @staticmethod
    def _model_files(path: Path) -> dict:
        stem = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
        return {"boosted": path, "forest": path.with_name(stem + ".forest.json")}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the boosted trees to ``path``, the forest beside it (``.forest.json``) and the
        sidecar to ``path``'s ``.meta.json``; returns ``path``."""
        from fastnax import __version__
        from fastnax.io import atomic_write_text, dumps_json
        from fastnax.predictors.files import sidecar_path, write_booster
        from fastnax.predictors.xgb import _versions

        self._check()
        path = Path(path)
        models = {name: write_booster(file, self.residual_models_[name])
                  for name, file in self._model_files(path).items()}
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "target": self.target_,
                "feature_names": self.feature_names_,
                "prior": {"intercept": float(self.coef_[0]), "slope": float(self.coef_[1]),
                          "dead_value": self.dead_value_},
                "residual_weight": self.residual_weight_, "residual_models": models,
                "score_map": {"z": [float(v) for v in self.knots_[0]],
                              "accuracy": [float(v) for v in self.knots_[1]]},
                "cv_kendall": self.cv_kendall_, "oof_residuals": [float(v) for v in self.residuals_],
                "params": {"random_state": self.random_state, "n_jobs": self.n_jobs},
                "space": getattr(self, "space_", None), "space_options": getattr(self, "space_options_", None),
                "dataset": getattr(self, "dataset_", None), "records": getattr(self, "records_info_", None),
                "versions": {**_versions(), "fastnax": __version__}}
        atomic_write_text(sidecar_path(path), dumps_json(meta, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> PriorResidualPredictor:
        """Load a predictor written by :meth:`save` (JSON only; each model's sha256 is checked)."""
        from fastnax.predictors.files import read_booster, read_sidecar

        meta_file, meta = read_sidecar(path, FORMAT, FORMAT_VERSION, "prior-residual predictor")
        try:
            names = [str(n) for n in meta["feature_names"]]
            coef = np.asarray([float(meta["prior"]["intercept"]), float(meta["prior"]["slope"])])
            dead = float(meta["prior"]["dead_value"])
            weight = float(meta["residual_weight"])
            knots = (np.asarray(meta["score_map"]["z"], dtype=np.float64),
                     np.asarray(meta["score_map"]["accuracy"], dtype=np.float64))
            residuals = np.sort(np.asarray([float(v) for v in meta["oof_residuals"]]))
            own = meta.get("params") or {}
            files = {name: meta["residual_models"][name] for name in MODELS}
        except (KeyError, TypeError, ValueError) as exc:
            raise PredictorFileError(f"{meta_file}: malformed prior-residual sidecar ({exc})") from None
        ok = (np.all(np.isfinite(coef)) and np.isfinite(dead) and np.isfinite(weight) and len(residuals) >= 2
              and len(knots[0]) == len(knots[1]) >= 1 and np.all(np.isfinite(knots[0]))
              and np.all(np.diff(knots[0]) > 0) and np.all(np.diff(knots[1]) > 0))
        if not ok:
            raise PredictorFileError(f"{meta_file}: a non-finite value, too few residuals or a score map "
                                     f"that is not increasing")
        est = cls(random_state=own.get("random_state", 0), n_jobs=own.get("n_jobs", 1))
        est.residual_models_ = {name: read_booster(meta_file, f.get("file") if isinstance(f, dict) else None,
                                                   f.get("sha256") if isinstance(f, dict) else None, len(names))
                                for name, f in files.items()}
        est.coef_, est.dead_value_, est.residual_weight_, est.knots_ = coef, dead, weight, knots
        est.residuals_ = residuals
        est.feature_names_, est.n_features_in_ = names, len(names)
        est.cv_kendall_ = meta.get("cv_kendall")
        est.target_ = meta.get("target")
        for key in ("space", "space_options", "dataset"):
            setattr(est, key + "_", meta.get(key))
        est.records_info_ = meta.get("records")
        return est

    def __repr__(self) -> str:
        return f"PriorResidualPredictor(random_state={self.random_state!r}, n_jobs={self.n_jobs!r})"


__all__ = ["PriorResidualPredictor", "FORMAT", "normal_scores", "to_accuracy"]
