"""Multi-fidelity accuracy predictor: many cheap clean labels, few expensive noisy ones.

A clean accuracy costs one digital training; an accuracy on a noisy chip (``accuracy_noisy``,
``accuracy_analog_drift_86400``, ...) costs an analog simulation or measurement on top. When the
records hold the target for a few architectures and ``accuracy_clean`` for many,
:class:`MultiFidelityPredictor` uses both:

1. a clean model ``g``: :class:`~fastnax.predictors.XGBPredictor` on every record (all have
   ``accuracy_clean``), over :func:`analog_features` on ``nb201`` (graph features, the cell's
   one-hot edge ops, the robustness features of :mod:`fastnax.robustness` and the training-free
   score) or the graph features elsewhere;
2. a calibration on the records that hold the target, with ``g`` taken out-of-fold (5-fold) on
   them so it sees the clean model's real error: a model of the drop,
   ``target = g - (a + c * robustness_score)`` (``"drop"``, on ``nb201``), or ``target = a + b * g``
   (``"linear"``), least squares over the live labelled records; ``"auto"`` (default) keeps the
   drop model when its slope's t-statistic exceeds :data:`DROP_T_MIN`;
3. boosted trees and a random forest of the calibration's residual on the labelled records,
   shrunk by ``n / (n +`` :data:`RESIDUAL_PRIOR_RECORDS` ``)``.

Why this form (AnalogNAS-Bench, CIFAR-10, development columns only; 25 labelled + 500 clean-only
records, Kendall tau on the other 15,100 cells; 1-day drift first). First round, graph features, 4
seeds: ``a + b g`` 0.630, the clean prediction as an XGBoost feature 0.562, a clean model plus an
XGBoost model of the drop 0.594, XGBoost on the 25 alone 0.487. With the robustness score and
:func:`analog_features`, 8 seeds: ``a + b g`` 0.632, ``a + b g + c r`` 0.619, ``g - (a + c r)``
0.669; on ``analog_accuracy`` 0.617 / 0.557 / 0.577. With 25 labels a two-parameter map is what
the data can pin down, and a slope fixed at 1 (the target *is* the clean accuracy minus a drop)
spends them on the drop.

The drop model also takes a slope ``d`` on the centred clean prediction, held near 0 by a ridge of
strength :data:`CLEAN_SLOPE_RIDGE` ``* n * var(g)``: ``target = g - (a + c r) + d (g - mean g)``
(seeds 100-119, ridge in {0.1, 0.3, 1, 3}: ridge 1 gives 0.672 / 0.665 / 0.670 on
``analog_drift_{86400,60,3600}`` against 0.668 / 0.662 / 0.667 for d = 0; a free ``d`` 0.666 /
0.657 / 0.663). A bigger or bagged clean model (500 trees at rate 0.03; three seeds averaged)
moved the targets by under 0.001.

Round three (seeds 100-119; 1-day / 1-min / 1-h drift, ``analog_accuracy``): t > 2 and no trees
0.668 / 0.662 / 0.667 / 0.619; :data:`DROP_T_MIN` 0 and the residual trees shrunk by n / (n + 60)
(0.29 at n = 25): 0.675 / 0.672 / 0.674 / 0.637 (weight 0.2: 0.675 / 0.671 / 0.674 / 0.632; 0.5:
0.672 / 0.671 / 0.672 / 0.642; t > 2 with the trees: 0.668 / 0.666 / 0.668 / 0.637). Did not help:
averaging in :class:`~fastnax.predictors.analog.PriorResidualPredictor` on the 25 (normal scores;
worse with any weight), the clean model on normal scores (clean tau 0.861 against 0.866) or with a
forest (0.859), path-encoding features (0.865), the analog / training-free score or log10_nsr as
ridge-shrunk drop terms (-0.001 to -0.01), the drop on logit / log / sqrt accuracies, the drop
fitted on the labelled records' true clean accuracies (0.668). The true clean accuracy in place of
``g`` gives 0.686: the clean model's error is what is left.

Intervals: split-conformal, ``mean + quantile(residuals)`` (:meth:`predict_interval`), over the
calibration's exact leave-one-out residuals less the trees' 5-fold out-of-fold prediction.
Files: :meth:`save` writes the clean model as XGBoost JSON (``PATH``) and a JSON sidecar
(``PATH`` with ``.meta.json``, format ``fastnax-multifidelity-predictor``) holding the calibration, the
residuals and the model's sha256; :meth:`load` parses JSON only (never unpickles).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError, RecordsError
from fastnax.robustness import DEAD_LOG10_NSR

KIND = "multifidelity"
#: sidecar format: distinct from XGBPredictor's, so XGBPredictor.load refuses these files
FORMAT = "fastnax-multifidelity-predictor"
FORMAT_VERSION = 1
FOLDS = 5
CALIBRATIONS = ("drop", "linear")
#: ``calibration="auto"`` models the drop when its slope on the robustness score has a
#: t-statistic above this (0: whenever the drop grows with the score; see the module docstring)
DROP_T_MIN = 0.0
#: the residual trees' weight is n / (n + this) for n labelled records (below 4: no trees)
RESIDUAL_PRIOR_RECORDS = 60.0
RESIDUAL_MIN_RECORDS = 4
#: ridge strength (times n * var of the clean prediction) that holds the drop model's slope on the
#: clean prediction near 0 (``target = g - (a + c r) + d (g - mean g)``, ``d`` shrunk toward 0)
CLEAN_SLOPE_RIDGE = 1.0


def _least_squares(Z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float | None]:
    """Coefficients (2,) of ``y ~ Z`` and the t-statistic of the slope (None without a residual dof)."""
    coef, *_ = np.linalg.lstsq(Z, y, rcond=None)
    if not np.all(np.isfinite(coef)):
        raise RecordsError("the calibration on the labelled records is singular")
    dof = len(y) - Z.shape[1]
    if dof <= 0:
        return coef, None
    resid = y - Z @ coef
    var = float(resid @ resid) / dof * np.linalg.pinv(Z.T @ Z)[1, 1]
    return coef, (float(coef[1] / np.sqrt(var)) if var > 0 else float(np.sign(coef[1]) * np.inf))


def _loo_residuals(Z: np.ndarray, y: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Exact leave-one-out residuals of least squares: ``e_i / (1 - h_ii)``."""
    hat = np.einsum("ij,jk,ik->i", Z, np.linalg.pinv(Z.T @ Z), Z)
    return (y - Z @ coef) / np.maximum(1.0 - hat, 1e-6)


def _drop_with_clean_slope(g, r, target, ridge: float = CLEAN_SLOPE_RIDGE):
    """The drop calibration: ``target - g = -(a + c r) + d (g - mean g)``, ``d`` ridge-shrunk toward 0.

    Returns ``(coef (a, c), d, mean g, leave-one-out residuals of the target)``. ``d = 0`` is the
    plain drop model (the target is the clean prediction minus a drop that depends on the
    robustness score only); a free ``d`` costs a third parameter that 25 labels pin down badly, so
    it is held near 0 by a ridge of strength ``ridge * n * var(g)`` (exact LOO residuals through
    the ridge hat matrix).
    """
    center = float(np.mean(g))
    Z = np.stack([np.ones(len(g)), r, g - center], axis=1)
    y = target - g
    penalty = np.diag([0.0, 0.0, float(ridge) * len(g) * float(np.var(g))])
    inv = np.linalg.pinv(Z.T @ Z + penalty)
    w = inv @ Z.T @ y
    if not np.all(np.isfinite(w)):
        raise RecordsError("the calibration on the labelled records is singular")
    hat = np.einsum("ij,jk,ik->i", Z, inv, Z)
    resid = (y - Z @ w) / np.maximum(1.0 - hat, 1e-6)
    return np.array([-w[0], -w[1]]), float(w[2]), center, resid


def analog_feature_names(space_name: str = "nb201") -> list[str]:
    """Column names of :func:`analog_features` for a space."""
    from fastnax import graph
    from fastnax.robustness import FEATURE_NAMES

    names = graph.feature_names()
    if space_name != "nb201":
        return names
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    return (names + [f"edge{e}_{op}" for op in ops for e in range(6)]
            + [f"robustness:{n}" for n in FEATURE_NAMES] + ["training_free"])


def analog_features(space, X, F=None, sigma=1.0) -> np.ndarray:
    """Features (n, k) for accuracy under non-idealities of a batch of space vectors (vectorized).

    On ``nb201``: the graph features, the one-hot op of each of the six cell edges (30 columns),
    :func:`fastnax.robustness.robustness_features` (2) and the training-free score (1); names in
    :func:`analog_feature_names`. Other spaces: the graph features alone.
    """
    from fastnax import graph
    from fastnax.predictors.training_free import TrainingFreeScore

    X = np.asarray(X, dtype=np.float64)
    F = graph.features_from_vectors(space, X) if F is None else np.asarray(F, dtype=np.float64)
    if getattr(space, "name", None) != "nb201":
        return F
    from fastnax.robustness import robustness_features

    ops = np.rint(X[:, :6]).astype(np.int64)
    onehot = np.concatenate([(ops == o) for o in range(5)], axis=1).astype(np.float64)
    tf = TrainingFreeScore().predict(F)[:, None]
    return np.concatenate([F, onehot, robustness_features(space, X, sigma, F), tf], axis=1)


class MultiFidelityPredictor:
    """Predict a costly accuracy from many clean records and a few labelled ones.

    Parameters
    ----------
    random_state : int, default 0
        Seed of the clean model and of the out-of-fold split.
    n_jobs : int, default 1
        XGBoost threads.
    calibration : {"auto", "drop", "linear"}, default "auto"
        How the target is tied to the clean prediction (module docstring); ``"drop"`` needs the
        robustness features (``nb201``), elsewhere ``"linear"``. ``"auto"``: the drop model when
        its slope on the robustness score has a t-statistic > :data:`DROP_T_MIN`, else linear.

    Attributes
    ----------
    clean_model_ : XGBPredictor
        The clean-accuracy model (features -> accuracy_clean, percent).
    mode_ : str
        ``"drop"``: ``calibrated = clean - (coef_[0] + coef_[1] * robustness_score - clean_slope_ *
        (clean - clean_center_))`` (dead networks: ``clean``); ``"linear"``: ``coef_[0] + coef_[1] * clean``.
    coef_ : ndarray (2,)
    clean_slope_, clean_center_ : float
        The drop model's ridge-shrunk slope on the clean prediction and its centre (0 if linear).
    residual_models_, residual_weight_ : dict of xgboost.Booster or None, float
        Trees of the calibration's residual; the prediction adds ``residual_weight_`` times their mean.
    residuals_ : ndarray
        Out-of-sample residuals (target - prediction, percentage points) for the intervals.
    target_, n_labelled_, n_clean_ : str, int, int
    """

    def __init__(self, random_state: int = 0, n_jobs: int = 1, calibration: str = "auto"):
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.calibration = calibration

    # --- fitting -------------------------------------------------------------------------------
    def fit(self, F, clean, target, robustness=None):
        """Fit on a feature matrix F (n, k), clean accuracies (n,) and target accuracies (n,).

        ``target`` holds NaN where a record did not measure it; at least 3 must be finite.
        ``robustness`` is the column of F holding ``robustness_score`` (needed by the ``"drop"``
        calibration; ``fit_records`` sets it); without it the calibration is ``"linear"``.
        """
        from sklearn.model_selection import KFold

        from fastnax.predictors.xgb import XGBPredictor

        F = np.asarray(F, dtype=np.float64)
        clean = np.asarray(clean, dtype=np.float64)
        target = np.asarray(target, dtype=np.float64)
        if F.ndim != 2 or clean.shape != (len(F),) or target.shape != (len(F),):
            raise BoundsError(f"expected F (n, k), clean (n,) and target (n,); got {F.shape}, {clean.shape}, "
                              f"{target.shape}")
        if not np.all(np.isfinite(clean)):
            raise BoundsError("clean accuracies hold a NaN or infinite value; every record needs accuracy_clean")
        labelled = np.flatnonzero(np.isfinite(target))
        if len(labelled) < 3:
            raise RecordsError(f"the multi-fidelity calibration needs at least 3 records with the target, "
                               f"got {len(labelled)}")
        seed = int(self.random_state or 0)
        self.clean_model_ = XGBPredictor(random_state=seed, n_jobs=self.n_jobs).fit(F, clean)
        # out-of-fold clean predictions of the labelled records
        folds = min(FOLDS, len(F))
        oof = np.empty(len(F))
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(F):
            model = XGBPredictor(random_state=seed, n_jobs=self.n_jobs).fit(F[train], clean[train])
            oof[test] = model.predict(F[test])
        if self.calibration not in ("auto", *CALIBRATIONS):
            raise BoundsError(f"calibration must be one of auto, {', '.join(CALIBRATIONS)}, got {self.calibration!r}")
        mode = self.calibration if robustness is not None else "linear"
        self.drop_t_ = None
        if mode in ("auto", "drop"):
            live = labelled[F[labelled, int(robustness)] < DEAD_LOG10_NSR]  # dead ones: no drop
            if len(live) >= 3:
                Z = np.stack([np.ones(len(live)), F[live, int(robustness)]], axis=1)
                y = oof[live] - target[live]  # the drop below the clean prediction
                coef, t = _least_squares(Z, y)
                self.drop_t_ = t
            if mode == "drop" and len(live) < 3:
                raise RecordsError(f"the drop calibration needs at least 3 live records with the target, "
                                   f"got {len(live)}")
            if mode == "auto":
                mode = "drop" if self.drop_t_ is not None and self.drop_t_ > DROP_T_MIN else "linear"
        self.clean_slope_, self.clean_center_ = 0.0, 0.0
        if mode == "drop":
            coef, d, center, resid = _drop_with_clean_slope(oof[live], F[live, int(robustness)], target[live])
            self.clean_slope_, self.clean_center_ = d, center
        else:
            Z = np.stack([np.ones(len(labelled)), oof[labelled]], axis=1)
            y = target[labelled]
            coef, _ = _least_squares(Z, y)
            resid = _loo_residuals(Z, y, coef)
        self.mode_ = mode
        self.robustness_column_ = None if robustness is None else int(robustness)
        self.coef_ = coef
        rows = live if mode == "drop" else labelled  # the records whose LOO residuals ``resid`` are
        resid = self._fit_residual(F[labelled], target[labelled] - self._calibrated(oof[labelled], F[labelled]),
                                   resid, np.searchsorted(labelled, rows), seed)
        self.residuals_ = np.sort(resid)
        self.n_labelled_ = int(len(labelled))
        self.n_clean_ = int(len(F))
        self.n_features_in_ = int(F.shape[1])
        self.target_ = getattr(self, "target_", None)
        self.feature_names_ = getattr(self, "feature_names_", None)
        return self

    def _fit_residual(self, F, residual, loo, at, seed):
        """Fit the shrunk residual trees on the labelled rows F; returns the intervals' residuals:
        the calibration's LOO residuals ``loo`` (of labelled positions ``at``) less the trees'
        5-fold out-of-fold prediction."""
        from sklearn.model_selection import KFold

        from fastnax.predictors.residual import fit_trees, predict_trees

        n = len(F)
        self.residual_weight_, self.residual_models_ = 0.0, None
        if n < RESIDUAL_MIN_RECORDS:
            return loo
        self.residual_weight_ = n / (n + RESIDUAL_PRIOR_RECORDS)
        self.residual_models_ = fit_trees(F, residual, seed, int(self.n_jobs))
        oof = np.empty(n)
        for train, test in KFold(min(FOLDS, n), shuffle=True, random_state=seed).split(F):
            oof[test] = predict_trees(fit_trees(F[train], residual[train], seed, int(self.n_jobs)), F[test])
        return loo - self.residual_weight_ * oof[at]

    def fit_records(self, records, target: str):
        """Fit on records (Records or a records file): all give ``accuracy_clean``, some ``target``."""
        from fastnax.arch import Architecture
        from fastnax.datasets.records import is_accuracy_name
        from fastnax.predictors.files import read_fit_records
        from fastnax.predictors.xgb import _check_record_spaces

        records, info = read_fit_records(records)
        if not is_accuracy_name(target) or target == "accuracy_clean":
            raise BoundsError(f"target {target!r} is not a noisy accuracy name: expected accuracy_noisy or "
                              f"accuracy_<name> (the clean accuracy is the cheap label here)")
        info["count"] = len(records)
        if target == "accuracy_noisy":  # the chips it was measured on (Record.chips)
            info["hardware"] = sorted({r.chips for r in records if r.accuracy_noisy is not None})
        archs = [Architecture.from_string(r.arch) for r in records]
        _check_record_spaces(records, archs)
        spaces_seen = sorted({(a.space, a.options) for a in archs}, key=str)
        if len(spaces_seen) > 1:
            raise RecordsError(f"records mix {len(spaces_seen)} spaces/option sets; fit one space at a time")
        y = np.asarray([np.nan if r.accuracy(target) is None else r.accuracy(target) for r in records])
        self.target_ = target
        F, self.feature_names_ = self._features(archs)
        column = self.feature_names_.index("robustness:robustness_score") \
            if "robustness:robustness_score" in self.feature_names_ else None
        self.fit(F, [r.accuracy_clean for r in records], y, robustness=column)
        self.space_ = archs[0].space
        self.space_options_ = dict(archs[0].options)
        self.dataset_ = ",".join(sorted({r.dataset for r in records}))
        self.records_info_ = info
        return self

    # --- prediction ----------------------------------------------------------------------------
    def _check(self):
        if not hasattr(self, "coef_"):
            raise PredictorFileError("this MultiFidelityPredictor is not fitted; call fit or fit_records")

    def _calibrated(self, g, F) -> np.ndarray:
        """The calibration (no residual trees) of clean predictions g (n,) of rows F."""
        if self.mode_ == "drop":
            r = F[:, self.robustness_column_]
            drop = self.coef_[0] + self.coef_[1] * r - self.clean_slope_ * (g - self.clean_center_)
            return np.where(r < DEAD_LOG10_NSR, g - drop, g)
        return self.coef_[0] + self.coef_[1] * g

    def predict(self, F) -> np.ndarray:
        """Predicted target accuracy (n,) in percent of a feature matrix F (n, n_features_in_)."""
        from fastnax.predictors.residual import predict_trees

        self._check()
        F = np.asarray(F, dtype=np.float64)
        out = self._calibrated(self.clean_model_.predict(F), F)
        if self.residual_models_:
            out = out + self.residual_weight_ * predict_trees(self.residual_models_, F)
        return out

    def predict_clean(self, F) -> np.ndarray:
        """The clean model's prediction (n,), percent."""
        self._check()
        return self.clean_model_.predict(F)

    def predict_interval(self, F, coverage: float = 0.8):
        """Mean, lower and upper bound (each (n,), percent): split-conformal on the LOO residuals.

        ``[lower, upper]`` holds the target with probability about ``coverage`` for an
        architecture drawn like the labelled records (finite-sample quantiles at ``k / (n + 1)``).
        """
        from fastnax.predictors.residual import conformal_bounds

        self._check()
        lo, hi = conformal_bounds(self.residuals_, coverage)
        mean = self.predict(F)
        return mean, mean + lo, mean + hi

    @staticmethod
    def _features(archs):
        """(F, names): :func:`analog_features` of architectures of one space."""
        from fastnax import spaces
        from fastnax.arch import Architecture

        archs = [Architecture.from_string(a) if isinstance(a, str) else a for a in archs]
        if not archs:
            raise BoundsError("no architectures given")
        space = spaces.get(archs[0].space, **archs[0].option_dict)
        X = np.asarray([a.genotype for a in archs], dtype=np.float64)
        return analog_features(space, X), analog_feature_names(space.name)

    def predict_archs(self, archs) -> np.ndarray:
        """Predicted target accuracy (n,) of architectures (or canonical strings)."""
        self._check()
        F, names = self._features(archs)
        if self.feature_names_ is not None and self.feature_names_ != names:
            raise PredictorFileError("this predictor was fitted on another feature set; refit it")
        return self.predict(F)

    # --- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the clean model (XGBoost JSON) to ``path`` and the sidecar beside it; returns ``path``."""
        from fastnax import __version__
        from fastnax.io import atomic_write_text, dumps_json
        from fastnax.predictors.files import feature_set_id, sidecar_path, write_booster
        from fastnax.predictors.xgb import _versions

        self._check()
        path = Path(path)
        raw = bytes(self.clean_model_.model_.save_raw(raw_format="json"))
        names = self.feature_names_
        meta = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "kind": KIND,
            "model_file": path.name, "model_sha256": hashlib.sha256(raw).hexdigest(),
            "feature_set": {"kind": "fastnax.analog" if names else "matrix",
                            "id": feature_set_id(names) if names else None,
                            "names": names, "n_features": int(self.n_features_in_)},
            "target": self.target_,
            "clean_params": self.clean_model_.get_params(),
            "calibration": {"mode": self.mode_, "robustness_column": self.robustness_column_,
                            "drop_t": self.drop_t_,
                            "intercept": float(self.coef_[0]), "slope": float(self.coef_[1]),
                            "clean_slope": float(self.clean_slope_), "clean_center": float(self.clean_center_),
                            "loo_residuals": [float(v) for v in self.residuals_],
                            "n_labelled": self.n_labelled_, "n_clean": self.n_clean_},
            "params": {"random_state": self.random_state, "n_jobs": self.n_jobs,
                       "calibration": self.calibration},
            "space": getattr(self, "space_", None), "space_options": getattr(self, "space_options_", None),
            "dataset": getattr(self, "dataset_", None), "records": getattr(self, "records_info_", None),
            "versions": {**_versions(), "fastnax": __version__},
        }
        atomic_write_text(path, raw.decode("utf-8"))
        if self.residual_models_:
            stem = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
            meta["residual"] = {"weight": self.residual_weight_,
                                "models": {name: write_booster(path.with_name(f"{stem}.residual-{name}.json"), booster)
                                           for name, booster in self.residual_models_.items()}}
        atomic_write_text(sidecar_path(path), dumps_json(meta, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiFidelityPredictor:
        """Load a predictor written by :meth:`save` (JSON only; the model's sha256 is checked)."""
        from fastnax.predictors.files import read_booster, read_sidecar
        from fastnax.predictors.xgb import XGBPredictor

        meta_file, meta = read_sidecar(path, FORMAT, FORMAT_VERSION, "multi-fidelity predictor")
        try:
            cal = meta["calibration"]
            coef = np.asarray([float(cal["intercept"]), float(cal["slope"])])
            mode = cal["mode"]
            column = cal["robustness_column"]
            residuals = np.sort(np.asarray([float(v) for v in cal["loo_residuals"]]))
            clean_slope = float(cal.get("clean_slope", 0.0))  # files before it: the plain drop model
            clean_center = float(cal.get("clean_center", 0.0))
            fs = meta["feature_set"]
            n_features = int(fs["n_features"])
            params = {k: v for k, v in (meta.get("clean_params") or {}).items()}
            own = meta.get("params") or {}
            residual = meta.get("residual")  # files before the residual trees: none
            weight = float(residual["weight"]) if residual else 0.0
            trees = {name: (f["file"], f["sha256"]) for name, f in residual["models"].items()} if residual else {}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PredictorFileError(f"{meta_file}: malformed multi-fidelity sidecar ({exc})") from None
        if mode not in CALIBRATIONS or (mode == "drop") != isinstance(column, int) or isinstance(column, bool):
            raise PredictorFileError(f"{meta_file}: calibration mode {mode!r} / robustness column {column!r} "
                                     f"is not valid (modes: {', '.join(CALIBRATIONS)})")
        finite = np.all(np.isfinite([*coef, clean_slope, clean_center, weight])) and np.all(np.isfinite(residuals))
        if not finite or len(residuals) < 2:
            raise PredictorFileError(f"{meta_file}: calibration holds a non-finite value or too few residuals")
        valid = XGBPredictor().get_params()
        if set(params) - set(valid):
            raise PredictorFileError(f"{meta_file}: unknown clean-model parameter {sorted(set(params) - set(valid))[0]!r}")
        clean = XGBPredictor(**params)
        booster = read_booster(meta_file, meta.get("model_file"), meta.get("model_sha256"), n_features)
        clean.model_ = booster
        clean.n_features_in_ = n_features
        clean.feature_names_ = fs.get("names")
        clean.target_ = "accuracy_clean"
        if mode == "drop" and not 0 <= column < n_features:
            raise PredictorFileError(f"{meta_file}: robustness column {column} is outside the {n_features} features")
        est = cls(random_state=own.get("random_state", 0), n_jobs=own.get("n_jobs", 1),
                  calibration=own.get("calibration", "auto"))
        est.mode_, est.robustness_column_, est.drop_t_ = mode, column, cal.get("drop_t")
        est.clean_model_, est.coef_ = clean, coef
        est.clean_slope_, est.clean_center_ = clean_slope, clean_center
        est.residuals_ = residuals
        est.residual_weight_ = weight
        est.residual_models_ = {name: read_booster(meta_file, file, sha, n_features)
                                for name, (file, sha) in trees.items()} or None
        est.n_labelled_ = int(cal.get("n_labelled", len(residuals)))
        est.n_clean_ = int(cal.get("n_clean", 0))
        est.n_features_in_ = n_features
        est.feature_names_ = fs.get("names")
        est.target_ = meta.get("target")
        for key in ("space", "space_options", "dataset"):
            setattr(est, key + "_", meta.get(key))
        est.records_info_ = meta.get("records")
        return est

    def __repr__(self) -> str:
        return (f"MultiFidelityPredictor(random_state={self.random_state!r}, n_jobs={self.n_jobs!r}, "
                f"calibration={self.calibration!r})")


__all__ = ["MultiFidelityPredictor", "KIND", "CALIBRATIONS", "analog_features", "analog_feature_names"]
