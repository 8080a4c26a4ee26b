"""XGBoost accuracy predictor over graph features, with the scikit-learn estimator API.

xgboost is imported only inside ``fit``, ``predict`` and ``load``. Files: :meth:`XGBPredictor.save`
writes XGBoost's own JSON model (``PATH``) and a JSON sidecar (``PATH`` with ``.meta.json``) that
names the feature set, the target, the space and its options, the dataset, the records it was
fitted on (path, sha256, count), the versions, the hyperparameters, the cross-validated training
metrics and the model file's sha256. :meth:`XGBPredictor.load` parses both as JSON only (it never
unpickles), checks the hash and refuses a model of another feature set.

Default hyperparameters were chosen on NAS-Bench-201 CIFAR-10 only (``c10valid_valid_200ep``,
train on N random cells, Kendall tau on the rest, N in {25, 100, 500}, 6 seeds): among depth
{2, 3, 4, 5, 6, 8}, learning rate {0.03, 0.05, 0.1}, 200-800 trees, row/column subsampling and the
``rank:pairwise`` objective, depth 6 / rate 0.05 / 300 trees / subsample 0.8 / colsample 0.8 was
best or tied at every N (``rank:pairwise`` collapsed at N=500); 200 trees at rate 0.075 ranked the
same (within 0.002 tau at every N, 8 seeds) and predicts a third faster (1,000,000 rows in ~1.3 s
on one thread), so it is the default. CIFAR-100 and ImageNet16-120 were never looked at while
choosing.

scikit-learn estimator checks (``sklearn.utils.estimator_checks``) pass except the ones listed in
:data:`ESTIMATOR_CHECK_EXCEPTIONS` (see tests/test_predictors.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from fastnax.errors import BoundsError, FastnaxError, PredictorFileError, RecordsError

FORMAT = "fastnax-predictor"
FORMAT_VERSION = 1
TARGETS = ("accuracy_clean", "accuracy_noisy")

#: estimator checks that do not apply, with the reason
ESTIMATOR_CHECK_EXCEPTIONS = {
    "check_sample_weight_equivalence_on_dense_data":
        "fit takes no sample_weight (records are unweighted)",
    "check_sample_weight_equivalence_on_sparse_data":
        "fit takes no sample_weight (records are unweighted)",
}


#: What to do when xgboost is missing (it is an extra: the search evaluates saved trees with NumPy).
XGBOOST_MISSING = ("fitting or loading an XGBoost predictor needs xgboost, which is not installed: "
                   "pip install 'fastnax[fit]' (CPU-only xgboost-cpu where it exists, ~5 MB), or "
                   "pip install xgboost for the CUDA build; never both")


def import_xgboost():
    """``import xgboost``, or a one-line :class:`FastnaxError` saying how to install it."""
    try:
        import xgboost
    except ImportError:
        raise FastnaxError(XGBOOST_MISSING) from None
    return xgboost


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _feature_set_id(names: list[str]) -> str:
    return _sha256("\n".join(names).encode())[:16]


def meta_path(path: str | os.PathLike) -> Path:
    """The sidecar of a model path: ``model.json`` -> ``model.meta.json``."""
    path = Path(path)
    name = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(name + ".meta.json")


class XGBPredictor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees (XGBoost) from graph features to accuracy (percent).

    Parameters
    ----------
    n_estimators : int, default 200
        Boosting rounds (trees).
    max_depth : int, default 6
    learning_rate : float, default 0.075
    subsample, colsample_bytree : float in (0, 1], default 0.8
        Row and column sampling per tree.
    min_child_weight : float, default 1.0
    reg_lambda : float, default 1.0
        L2 regularisation of leaf weights.
    objective : str, default "reg:squarederror"
        Any XGBoost regression or ranking objective.
    random_state : int or None, default 0
        Seed of XGBoost's sampling (None: 0). Same seed, same model.
    n_jobs : int, default 1
        Threads used by XGBoost.

    Attributes
    ----------
    model_ : xgboost.Booster
    n_features_in_ : int
    feature_names_ : list of str or None
        Graph feature names when fitted on records (``fastnax.graph.feature_names()``).
    feature_names_in_ : ndarray of str
        The same names, under scikit-learn's attribute (set when fitted on records, loaded from a
        file, or fitted on a DataFrame).
    target_, space_, space_options_, dataset_, records_info_, cv_metrics_ :
        Set by :meth:`fit_records` (None after :meth:`fit` on a plain matrix, except ``target_``).
    """

    def __init__(self, n_estimators=200, max_depth=6, learning_rate=0.075, subsample=0.8,
                 colsample_bytree=0.8, min_child_weight=1.0, reg_lambda=1.0,
                 objective="reg:squarederror", random_state=0, n_jobs=1):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.objective = objective
        self.random_state = random_state
        self.n_jobs = n_jobs

    # --- scikit-learn API ----------------------------------------------------------------------
    def _booster_params(self) -> dict:
        def positive_int(name):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise BoundsError(f"{name} must be a positive integer, got {value!r}")
            return int(value)

        def in_range(name, lo, hi, lo_open=True):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise BoundsError(f"{name} must be a number, got {value!r}") from None
            if not (lo < value <= hi if lo_open else lo <= value <= hi):
                raise BoundsError(f"{name} must be in {'(' if lo_open else '['}{lo}, {hi}], got {value!r}")
            return value

        positive_int("n_estimators")
        seed = self.random_state
        if seed is None:
            seed = 0
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise BoundsError(f"random_state must be a non-negative integer or None, got {seed!r}")
        if not isinstance(self.objective, str):
            raise BoundsError(f"objective must be an XGBoost objective name, got {self.objective!r}")
        return {
            "max_depth": positive_int("max_depth"),
            "eta": in_range("learning_rate", 0.0, 1.0),
            "subsample": in_range("subsample", 0.0, 1.0),
            "colsample_bytree": in_range("colsample_bytree", 0.0, 1.0),
            "min_child_weight": in_range("min_child_weight", 0.0, np.inf, lo_open=False),
            "lambda": in_range("reg_lambda", 0.0, np.inf, lo_open=False),
            "objective": self.objective,
            "seed": int(seed) % (2 ** 31),
            "nthread": positive_int("n_jobs"),
            "tree_method": "hist",
            "verbosity": 0,
        }

    def fit(self, X, y):
        """Fit on a feature matrix X (n, k) and accuracies y (n,) in percent; returns self."""
        xgboost = import_xgboost()

        params = self._booster_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=2)
        if not np.all(np.isfinite(y)):
            raise BoundsError("y holds a NaN or infinite value")
        dtrain = xgboost.DMatrix(X, label=y, nthread=params["nthread"])
        if params["objective"].startswith("rank:"):
            dtrain.set_group([X.shape[0]])
        self.model_ = xgboost.train(params, dtrain, num_boost_round=int(self.n_estimators))
        if not hasattr(self, "feature_names_"):
            self.feature_names_ = None
        self.target_ = getattr(self, "target_", None)
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted accuracy (n,) in percent of a feature matrix X (n, n_features_in_)."""
        check_is_fitted(self, "model_")
        if hasattr(X, "columns") or getattr(self, "feature_names_in_", None) is None:
            X = validate_data(self, X, dtype=np.float64, reset=False)
        else:
            # fitted on named graph features, given the plain matrix fastnax.graph.features returns:
            # its columns are those names by construction, so only the count is checked (sklearn
            # would warn on every call that the matrix has no column names)
            X = check_array(X, dtype=np.float64)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input.")
        return np.asarray(self.model_.inplace_predict(X), dtype=np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # --- records and architectures -------------------------------------------------------------
    def fit_records(self, records, target: str = "accuracy_clean", cv: int = 5, hardware: bool = False):
        """Fit on architecture records (a list of Records or a records file path).

        Features are the graph features of each record's architecture string; with ``hardware``,
        also the hardware model's noise figures on the records' chips
        (:mod:`fastnax.predictors.hardware_features`; the records must all name the same chips,
        stored in ``hardware_chips_``). With ``cv >= 2`` the k-fold cross-validated quality
        (out-of-fold predictions, same hyperparameters) is stored in ``cv_metrics_`` before the
        final fit on all records.
        """
        from fastnax import graph
        from fastnax.arch import Architecture
        from fastnax.datasets.records import is_accuracy_name
        from fastnax.predictors.files import read_fit_records

        records_list, info = read_fit_records(records)

        if target not in TARGETS and not is_accuracy_name(target):
            raise BoundsError(f"unknown target {target!r}; expected one of: {', '.join(TARGETS)} or a "
                              f"named accuracy accuracy_<name> (lower-case letters, digits, '_')")
        info["count"] = len(records_list)
        if target == "accuracy_noisy":  # the chips it was measured on (Record.chips)
            info["hardware"] = sorted({r.chips for r in records_list if r.accuracy_noisy is not None})
        missing = [i for i, r in enumerate(records_list) if r.accuracy(target) is None]
        if missing:
            raise RecordsError(f"{len(missing)} of {len(records_list)} records have no {target} "
                               f"(first: record {missing[0] + 1}); fit another target or measure it")
        if len(records_list) < 2:
            raise RecordsError(f"fitting needs at least 2 records, got {len(records_list)}")
        archs = [Architecture.from_string(r.arch) for r in records_list]
        _check_record_spaces(records_list, archs)
        spaces_seen = sorted({(a.space, a.options) for a in archs}, key=str)
        if len(spaces_seen) > 1:
            raise RecordsError(f"records mix {len(spaces_seen)} spaces/option sets "
                               f"({', '.join(sorted({s for s, _ in spaces_seen}))}); fit one space at a time")
        X = graph.features(archs)
        chips = sorted({r.chips for r in records_list}) if hardware else None
        if chips is not None:
            from fastnax.predictors import hardware_features

            if len(chips) != 1:
                raise RecordsError(f"hardware features need records measured on one set of chips; these "
                                   f"name {len(chips)}: {', '.join(chips)}")
            chips = chips[0]
            X = hardware_features.with_hardware_archs(archs, X, chips)
        y = np.asarray([r.accuracy(target) for r in records_list], dtype=float)
        cv_metrics = self.cross_validate(X, y, cv) if cv and len(y) >= max(int(cv), 4) else None
        self.fit(X, y)
        self.hardware_chips_ = chips
        self.feature_names_ = graph.feature_names() if chips is None else hardware_features.feature_names()
        self.feature_names_in_ = np.asarray(self.feature_names_, dtype=object)  # scikit-learn's name
        self.target_ = target
        self.space_ = archs[0].space
        self.space_options_ = dict(archs[0].options)
        self.dataset_ = sorted({r.dataset for r in records_list})[0] if len({r.dataset for r in records_list}) == 1 \
            else ",".join(sorted({r.dataset for r in records_list}))
        self.records_info_ = info
        self.cv_metrics_ = cv_metrics
        self.uncertainty_ = None
        if cv_metrics is not None:
            from dataclasses import replace

            self.uncertainty_ = replace(self._fit_uncertainty(X, y),
                                        record_archs=tuple(str(a) for a in archs),
                                        record_space=(archs[0].space, tuple(sorted(archs[0].option_dict.items()))),
                                        record_genotypes=tuple(tuple(int(v) for v in a.genotype) for a in archs))
        return self

    def fit_with_intervals(self, X, y, folds: int = 5):
        """Fit on a feature matrix X (n, k) and accuracies y (n,) with k-fold cross-validation,
        keeping the out-of-fold quality (``cv_metrics_``) and the intervals (``uncertainty_``);
        returns self."""
        metrics = self.cross_validate(X, y, folds)
        self.fit(X, y)
        self.cv_metrics_ = metrics
        self.uncertainty_ = self._fit_uncertainty(np.asarray(X, dtype=float), np.asarray(y, dtype=float))
        return self

    def _fit_uncertainty(self, X, y):
        """Conformal intervals and support from the cross-validation's out-of-fold residuals."""
        from fastnax.predictors.uncertainty import Uncertainty, read_columns

        oof, fold_of = self.__dict__.pop("_oof")
        model_json = json.loads(bytes(self.model_.save_raw(raw_format="json")))
        return Uncertainty.fit(X, y, oof, fold_of, read_columns(model_json))

    def predict_interval(self, X, coverage: float = 0.8):
        """Mean, lower and upper bound (each (n,), percent) of a feature matrix X.

        The mean is held inside the records' accuracy range (and, outside the records' support, at
        most the nearest record's accuracy); ``[lower, upper]`` is the conformal interval of nominal
        ``coverage`` (see :mod:`fastnax.predictors.uncertainty`). Needs a predictor fitted by
        :meth:`fit_records` with cross-validation (or loaded from such a file).
        """
        check_is_fitted(self, "model_")
        if getattr(self, "uncertainty_", None) is None:
            raise PredictorFileError("this predictor has no intervals: fit it with fit_records and cv >= 2")
        out = self.uncertainty_.predict(X, self.predict(X), coverage)
        return out["accuracy"], out["lower"], out["upper"]

    def cross_validate(self, X, y, folds: int = 5) -> dict:
        """k-fold out-of-fold quality (Kendall, Spearman, RMSE, MAE) of these hyperparameters."""
        from sklearn.base import clone
        from sklearn.model_selection import KFold

        from fastnax.predictors.metrics import evaluate

        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        folds = int(folds)
        if folds < 2 or folds > len(y):
            raise BoundsError(f"cross-validation needs 2 <= folds <= {len(y)} records, got {folds}")
        self._booster_params()  # every hyperparameter checked (a negative seed) before any fold
        seed = 0 if self.random_state is None else int(self.random_state)
        oof = np.empty_like(y)
        fold_of = np.empty(len(y), dtype=np.int64)
        for k, (train, test) in enumerate(KFold(folds, shuffle=True, random_state=seed).split(X)):
            oof[test] = clone(self).fit(X[train], y[train]).predict(X[test])
            fold_of[test] = k
        self._oof = (oof, fold_of)  # kept for the intervals fitted by fit_records
        out = evaluate(y, oof)
        out["folds"] = folds
        return out

    def predict_archs(self, archs) -> np.ndarray:
        """Predicted accuracy (n,) of architectures (or canonical strings)."""
        from fastnax import graph

        check_is_fitted(self, "model_")
        self._check_graph_features()
        F = graph.features(archs)
        if getattr(self, "hardware_chips_", None) is not None:
            from fastnax.predictors.hardware_features import with_hardware_archs

            F = with_hardware_archs(archs, F, self.hardware_chips_)
        return self.predict(F)

    def _check_graph_features(self) -> None:
        from fastnax import graph

        from fastnax.predictors import hardware_features

        hardware = getattr(self, "hardware_chips_", None) is not None
        names = hardware_features.feature_names() if hardware else graph.feature_names()
        if self.feature_names_ != names:
            raise PredictorFileError(
                "this predictor was not fitted on fastnax graph features "
                f"(feature set {self.feature_names_ and _feature_set_id(self.feature_names_)!r}, "
                f"expected {_feature_set_id(names)!r}); refit it with 'fastnax fit'")

    # --- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the XGBoost JSON model to ``path`` and the sidecar beside it; returns ``path``.

        Both files are written atomically (temporary file, fsync, rename).
        """
        from fastnax import __version__
        from fastnax.io import atomic_write_json, atomic_write_text

        check_is_fitted(self, "model_")
        path = Path(path)
        raw = bytes(self.model_.save_raw(raw_format="json"))
        from fastnax.predictors.hardware_features import KIND as HARDWARE_KIND

        names = self.feature_names_
        chips = getattr(self, "hardware_chips_", None)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_file": path.name,
            "model_sha256": _sha256(raw),
            "feature_set": {"kind": "matrix" if not names else "fastnax.graph" if chips is None else HARDWARE_KIND,
                            "id": _feature_set_id(names) if names else None,
                            "names": names, "n_features": int(self.n_features_in_),
                            **({"chips": chips} if chips is not None else {})},
            "target": self.target_,
            "space": getattr(self, "space_", None),
            "space_options": getattr(self, "space_options_", None),
            "dataset": getattr(self, "dataset_", None),
            "records": getattr(self, "records_info_", None),
            "params": {k: (v if not isinstance(v, np.generic) else v.item()) for k, v in self.get_params().items()},
            "training_metrics": json_safe(getattr(self, "cv_metrics_", None)),
            "uncertainty": (self.uncertainty_.to_dict() if getattr(self, "uncertainty_", None) is not None
                            else None),
            "versions": _versions(),
        }
        meta["versions"]["fastnax"] = __version__
        atomic_write_text(path, raw.decode("utf-8"))
        atomic_write_json(meta_path(path), meta, indent=2, sort_keys=True)  # strict: NaN -> null
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> XGBPredictor:
        """Load a predictor saved by :meth:`save` (the model path or its ``.meta.json``).

        Raises
        ------
        PredictorFileError
            Missing files, a file that is not JSON (pickle payloads are refused, never unpickled),
            a model whose sha256 differs from the sidecar's, or a model of another feature set.
        """
        xgboost = import_xgboost()

        from fastnax.predictors.files import read_predictor_file

        checked = read_predictor_file(path)  # the one reader: format, version, sha256, features
        meta, meta_file, model_file, raw = checked.meta, checked.meta_file, checked.model_file, checked.model_bytes
        fs = meta.get("feature_set") or {}
        names = fs.get("names")
        params = meta.get("params") or {}
        valid = cls().get_params()
        unknown_params = sorted(set(params) - set(valid))
        if unknown_params:
            raise PredictorFileError(f"{meta_file}: unknown parameter {unknown_params[0]!r}; valid: {', '.join(valid)}")
        est = cls(**params)
        booster = xgboost.Booster()
        try:
            booster.load_model(bytearray(raw))
        except xgboost.core.XGBoostError as exc:
            raise PredictorFileError(f"{model_file}: XGBoost cannot read the model ({str(exc).splitlines()[0]})") from None
        n_features = int(fs.get("n_features") or 0)
        if booster.num_features() != n_features:
            raise PredictorFileError(f"{model_file}: model has {booster.num_features()} features, the "
                                     f"sidecar says {n_features}")
        booster.set_param({"nthread": int(est.n_jobs) if isinstance(est.n_jobs, int) and est.n_jobs > 0 else 1})
        est.model_ = booster
        est.n_features_in_ = n_features
        est.feature_names_ = names
        est.hardware_chips_ = checked.hardware_chips
        if names:
            est.feature_names_in_ = np.asarray(names, dtype=object)
        est.target_ = meta.get("target")
        est.space_ = meta.get("space")
        est.space_options_ = meta.get("space_options")
        est.dataset_ = meta.get("dataset")
        est.records_info_ = meta.get("records")
        est.cv_metrics_ = meta.get("training_metrics")
        est.uncertainty_ = None
        if meta.get("uncertainty") is not None:
            from fastnax.predictors.uncertainty import Uncertainty

            est.uncertainty_ = Uncertainty.from_dict(meta["uncertainty"], n_features)
        est.versions_ = meta.get("versions")
        return est


def json_safe(value):
    """``value`` with every non-finite float replaced by None (strict JSON: no NaN / Infinity).

    A quality metric can be undefined (Kendall tau of records that all have one accuracy); JSON
    has no NaN, and a sidecar or report that holds one is not JSON other tools can read.
    """
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


def _check_record_spaces(records_list, archs) -> None:
    """RecordsError when a record's ``space`` field is not a space its architecture belongs to."""
    from fastnax import spaces
    from fastnax.errors import FastnaxError

    checked = {}
    for i, (r, a) in enumerate(zip(records_list, archs)):
        if r.space == a.space:
            continue
        key = (r.space, a.space, a.options)
        if key not in checked:
            try:
                space = spaces.get(r.space, **a.option_dict)
            except FastnaxError:
                space = None
            checked[key] = space
        space = checked[key]
        if space is None or not space.contains(a):
            raise RecordsError(f"record {i + 1} says space {r.space!r} but its architecture belongs to the "
                               f"{a.space!r} space; records of another space cannot be fitted together")


from fastnax.predictors.files import parse_json_bytes as _parse_json_bytes  # noqa: E402,F401
from fastnax.predictors.files import read_json as _read_json  # noqa: E402,F401


def _versions() -> dict:
    import sklearn
    xgboost = import_xgboost()

    return {"xgboost": xgboost.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}
