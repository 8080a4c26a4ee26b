"""Accuracy models of the search: what a candidate's accuracy column is, and where it comes from.

An :class:`AccuracyModel` wraps a fitted predictor (``predict(F) -> percent``) or the
training-free score, and states three things the evaluator relies on:

- its **target**: ``accuracy_clean``, ``accuracy_noisy`` (under the non-idealities its records
  were measured with: the packaged predictor) or ``score`` (training-free, not a percent);
- the **quantity** a search reports for a requested accuracy mode (:meth:`quantity`): a clean
  prediction may be lowered by the non-ideality penalty, a noisy one never is (that would count
  the non-idealities twice), and a clean quantity cannot be made from a noisy model;
- the **features it reads** (:meth:`feature_mask`): the split features of a tree ensemble, the
  terms of the training-free score, all of them for a model that does not say. The evaluator
  shares one prediction among candidates only over coordinates none of these features depends on.

Every prediction comes with an **interval and a support flag** (:meth:`predict_detail`): the
mean, the 80 % interval, whether the candidate lies inside the support of the records the model
was fitted on, and the **scored** value, the predictive quantile ``risk`` that the objective uses
(default 0.4, a little pessimistic; 0.1 is the lower end of the 80 % interval), never above the
mean (skewed residuals can put a quantile below 0.5 over it). The mean is held
inside the records' accuracy range and, outside the support, at most the accuracy of the nearest
record (see
:mod:`fastnax.predictors.uncertainty`); a candidate that *is* a record is scored by its
measurement (mean over its records, interval their range).

:func:`resolve_accuracy_model` turns the ``predictor`` argument of ``search.run`` into a model,
reading files through :mod:`fastnax.predictors.files` (the one reader of predictor files).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError
from fastnax.search.loading import load_predictor  # noqa: F401 (re-exported: the search's loader)
from fastnax.predictors.hardware_features import model_inputs as _hardware_inputs

_DATA = Path(__file__).resolve().parents[1] / "data"
#: The predictors shipped with fastnax, by the dataset their records were trained on. Each one is
#: used only for the space and space options its sidecar names (see :func:`resolve_accuracy_model`).
PACKAGED_PREDICTORS = {"digits": _DATA / "predictor.json", "cifar10": _DATA / "cifar10_predictor.json"}
PACKAGED_PREDICTOR = PACKAGED_PREDICTORS["digits"]  # the default search's (digits) predictor

#: Quantities a search can report in its ``accuracy`` column, and what each one is.
QUANTITIES = {
    "accuracy_clean": "predicted accuracy without non-idealities (percent)",
    "accuracy_noisy": "predicted accuracy under the non-idealities the predictor's records were "
                      "measured with (percent)",
    "accuracy_noisy_penalized": "clean prediction minus noise_penalty * (sigma / 0.1)^2, sigma the "
                                "hardware model's effective weight noise (percent)",
    "score": "training-free score on an accuracy-like scale (not a percent)",
    "score_penalized": "training-free score minus the non-ideality penalty (accuracy-like scale, not "
                       "a percent)",
}
TARGETS = ("accuracy_clean", "accuracy_noisy", "score")


def quantity_meaning(quantity: str) -> str:
    """What a quantity is, also for named accuracies (``accuracy_analog_drift_86400``...)."""
    if quantity in QUANTITIES:
        return QUANTITIES[quantity]
    return (f"predicted {quantity[len('accuracy_'):].replace('_', ' ')} accuracy, the named accuracy "
            f"the predictor's records measured (percent; under the non-idealities they were measured with)")


class AccuracyModel:
    """Predicted accuracy (percent) of a batch of canonical index rows of a space.

    The score is not a percent: it is mapped to an accuracy-like scale by a fixed, rank-preserving
    logistic map calibrated on the space itself (see :meth:`calibrate`), and labelled as such.
    Dead networks (graph feature ``dead``: no input-output path) are at chance, 100 / classes.

    Parameters
    ----------
    model : object with ``predict(F)``
    kind : str
        ``"predictor"`` or ``"training-free score"``.
    info : dict
        What is known of the model (file, records, space, dataset...), copied into results.
    target : str, optional
        ``accuracy_clean``, ``accuracy_noisy`` or ``score``; default: ``score`` for the
        training-free score, else ``accuracy_clean``.
    uncertainty : fastnax.predictors.uncertainty.Uncertainty, optional
        Intervals and support of a fitted predictor (default: the model's ``uncertainty_``).
    inputs : callable, optional
        ``inputs(space, index, F, table=None)``: what ``model.predict`` reads for canonical rows
        ``index`` whose graph features are ``F`` and layer table ``table`` when the caller has it
        (default: ``F``; :mod:`fastnax.search.analog_model`, :mod:`fastnax.predictors.hardware_features`).
    """

    def __init__(self, model, kind: str, info: dict, target: str | None = None, uncertainty=None, inputs=None):
        self.model = model
        self.inputs = inputs
        self.uncertainty = uncertainty if uncertainty is not None else getattr(model, "uncertainty_", None)
        self._measured = None
        self.kind = kind  # "predictor" or "training-free score"
        self.info = dict(info)
        if target is None:
            target = "score" if kind == "training-free score" else "accuracy_clean"
        from fastnax.datasets.records import is_accuracy_name

        if target not in TARGETS and not is_accuracy_name(target):
            raise PredictorFileError(f"accuracy model target {target!r} is not one of {', '.join(TARGETS)} "
                                     f"or a named accuracy accuracy_<name>")
        self.target = target
        self._center = 0.0
        self._scale = 1.0
        self._chance = 10.0

    def quantity(self, mode: str) -> tuple[str, bool]:
        """(quantity reported, apply the non-ideality penalty?) for an accuracy mode.

        ``auto``: the target as predicted. ``clean``: a clean target (or the score). ``noisy``: a
        noisy target as predicted, or a clean prediction (or the score) minus the penalty.
        """
        if mode == "auto":
            return self.target, False
        noisy_target = self.target not in ("accuracy_clean", "score")  # accuracy_noisy, accuracy_<name>
        if mode == "clean":
            if noisy_target:
                raise BoundsError("accuracy 'clean' needs a model of the clean accuracy, but this "
                                  "predictor predicts accuracy_noisy (under non-idealities); use "
                                  "accuracy 'auto' or 'noisy', or a predictor fitted with --target "
                                  "accuracy_clean")
            return self.target, False
        if mode == "noisy":
            if noisy_target:
                return self.target, False
            return ("score_penalized" if self.target == "score" else "accuracy_noisy_penalized"), True
        raise BoundsError(f"accuracy mode {mode!r} is not one of auto, clean, noisy")

    def feature_mask(self) -> np.ndarray:
        """Boolean (k,) over ``graph.feature_names()``: the columns a prediction may depend on
        (the model's own, plus ``dead``, which this wrapper reads)."""
        from fastnax import graph

        names = graph.feature_names()
        read = _features_read(self.model, len(names) + len(getattr(self.inputs, "names", ())))
        mask = np.ones(len(names), dtype=bool) if read is None else np.zeros(len(names), dtype=bool)
        if read is not None:
            mask[read[read < len(names)]] = True  # the hardware columns: see reads_hardware
        mask[names.index("dead")] = True
        return mask

    @property
    def reads_hardware(self) -> bool:  # noise figures (predictors.hardware_features): nothing shared
        return getattr(self.inputs, "chips", None) is not None  # between hardware variants

    def calibrate(self, space, n: int = 256) -> None:
        """Fix the score-to-accuracy-like map from a seeded sample of the space.

        ``accuracy_like = chance + (100 - chance) * sigmoid((score - median) / iqr)``: the median
        candidate of the space maps to the middle of the range; only the ranking carries
        information. The sample is drawn with a fixed generator of its own (seed 12345), so the map
        is the same for every search of the space, whatever the search's seed.
        """
        self._chance = 100.0 / float(space.options.get("num_classes", 10) or 10)
        self._measured = _measured_table(space, self.uncertainty)
        if self.kind != "training-free score":
            return
        X = space.sample_vectors(n, seed=np.random.default_rng(12345))
        score = np.asarray(self.model.predict(space.features(X)), dtype=float)
        q25, q50, q75 = np.percentile(score, [25, 50, 75])
        self._center = float(q50)
        self._scale = float(max(q75 - q25, 1e-12))
        self.info["score_to_accuracy"] = {"center": self._center, "scale": self._scale,
                                          "chance": self._chance}

    @property
    def chance(self) -> float:
        return self._chance

    def predict(self, space, X: np.ndarray) -> np.ndarray:
        """Accuracy (percent, or the accuracy-like scale of the score) of vectors X (n, d)."""
        return self.predict_index(space, space.to_index(np.asarray(X, dtype=float)))

    def predict_index(self, space, index: np.ndarray) -> np.ndarray:
        """:meth:`predict` of canonical index rows (``space.to_index`` output), shape (n,)."""
        index = np.asarray(index, dtype=np.int64)
        F = space.features_from_index(index)
        return self._from_features(F, None if self.inputs is None else self.inputs(space, index, F))

    def measured_index(self) -> np.ndarray:
        """Canonical index rows (m, d) of the records that are members of the calibrated space."""
        return np.zeros((0, 0), dtype=np.int64) if self._measured is None else self._measured[1]

    @property
    def has_intervals(self) -> bool:
        """Whether predictions come with a fitted interval (a predictor fitted with CV)."""
        return self.kind != "training-free score" and (
            self.uncertainty is not None or hasattr(self.model, "predict_interval"))

    def predict_detail(self, space, index: np.ndarray, risk: float = 0.5, measured: bool = True,
                       table=None) -> dict:
        """Mean, 80 % interval, support and scored value of canonical index rows (n, d).

        Returns
        -------
        dict of ndarray of shape (n,)
            ``accuracy_mean``, ``accuracy_lower``, ``accuracy_upper`` (percent, or the score's
            accuracy-like scale), ``in_support`` (bool), ``accuracy_scored`` (the predictive
            quantile ``risk``; 0.5 scores the mean) and ``measured`` (bool: a record's
            measurement, not a prediction). Models without intervals (the training-free score, a
            predictor fitted without cross-validation) give a zero-width interval and
            ``in_support`` True.
        """
        index = np.asarray(index, dtype=np.int64)
        F = space.features_from_index(index)
        M = F if self.inputs is None else self.inputs(space, index, F, table=table)  # table: the caller's
        raw = np.asarray(self.model.predict(M), dtype=float).reshape(-1)
        n = len(raw)
        support = np.ones(n, dtype=bool)
        if self.kind == "training-free score":
            z = np.clip((raw - self._center) / self._scale, -50, 50)
            mean = self._chance + (100.0 - self._chance) / (1.0 + np.exp(-z))
            lower = upper = scored = mean
        elif self.uncertainty is not None:
            out = self.uncertainty.predict(M, raw, COVERAGE, quantile=risk)  # the columns the model read
            mean, lower, upper, support, scored = (out["accuracy"], out["lower"], out["upper"],
                                                   out["in_support"], out["score"])
        elif (intervals := _own_intervals(self.model, M, risk)) is not None:
            mean, lower, upper, scored = intervals
        else:  # no intervals (e.g. an XGBPredictor fitted without cross-validation): zero width
            mean = np.clip(raw, 0.0, 100.0)
            lower = upper = scored = mean
        out = {"accuracy_mean": np.array(mean, dtype=float), "accuracy_lower": np.array(lower, dtype=float),
               "accuracy_upper": np.array(upper, dtype=float), "in_support": np.array(support, dtype=bool),
               "accuracy_scored": np.array(scored, dtype=float), "measured": np.zeros(n, dtype=bool)}
        if measured:
            self.apply_measured(index, out)
        # A dead network (no input-output path: its output does not depend on its input) answers
        # the same class for every image, so its accuracy is chance, whatever a predictor fitted on
        # a few live networks extrapolates (it has often never seen a dead one).
        dead = F[:, _dead_column()] > 0
        if dead.any():
            for key in ("accuracy_mean", "accuracy_lower", "accuracy_upper", "accuracy_scored"):
                out[key][dead] = self._chance
            out["in_support"][dead] = True
        return out

    def apply_measured(self, index: np.ndarray, detail: dict) -> None:
        """Replace, in place, the prediction of every row of ``index`` that is a record by its
        measurement. The match is on the whole row (crossbar sizes and bit widths included: the
        record measured that hardware), never on the coordinates a prediction is shared over."""
        if self._measured is None or not len(index):
            return
        rows, value, low, high = _lookup(self._measured, np.asarray(index, dtype=np.int64))
        hit = rows >= 0
        if hit.any():
            for key, v in (("accuracy_mean", value), ("accuracy_lower", low), ("accuracy_upper", high),
                           ("accuracy_scored", value)):
                detail[key][hit] = v[hit]
            detail["in_support"][hit] = True
            detail["measured"][hit] = True

    def _from_features(self, F: np.ndarray, M: np.ndarray | None = None) -> np.ndarray:
        raw = np.asarray(self.model.predict(F if M is None else M), dtype=float).reshape(-1)
        if self.kind == "training-free score":
            z = np.clip((raw - self._center) / self._scale, -50, 50)
            acc = self._chance + (100.0 - self._chance) / (1.0 + np.exp(-z))
        else:
            acc = np.clip(raw, 0.0, 100.0)
        # A dead network (no input-output path: its output does not depend on its input) answers
        # the same class for every image, so its accuracy is chance, whatever a predictor fitted on
        # a few live networks extrapolates (it has often never seen a dead one).
        return np.where(F[:, _dead_column()] > 0, self._chance, acc)

    def describe(self) -> dict:
        out = {"kind": self.kind, "target": self.target, **self.info,
               "intervals": ("conformal 80 % intervals and a support measure from the records"
                             if self.uncertainty is not None else
                             "the model's own predict_interval" if self.has_intervals else
                             "none (zero-width: the model was fitted without cross-validation or is a score)")}
        if self._measured is not None:
            out["measured_records"] = int(len(self._measured[1]))
        return out


def _own_intervals(model, F: np.ndarray, risk: float):
    """(mean, lower, upper, scored) from a model's own ``predict_interval``, or None when it has
    none (``XGBPredictor.predict_interval`` refuses a predictor fitted without intervals)."""
    if not hasattr(model, "predict_interval"):
        return None
    try:
        mean, lower, upper = (np.asarray(v, dtype=float) for v in model.predict_interval(F, COVERAGE))
        scored = mean if risk == 0.5 else np.minimum(  # pessimistic: never above the mean
            np.asarray(model.predict_interval(F, 1.0 - 2.0 * risk)[1], float), mean)
    except PredictorFileError:
        return None
    return mean, lower, upper, scored


@lru_cache(maxsize=None)
def _dead_column() -> int:
    from fastnax import graph

    return graph.feature_names().index("dead")


#: Nominal coverage of the reported interval.
COVERAGE = 0.8


def _measured_table(space, uncertainty):
    """(sorted hashes, rows, mean, low, high) of the records that are members of ``space``."""
    archs = getattr(uncertainty, "record_archs", ()) or ()
    if not archs:
        return None
    from fastnax.arch import Architecture
    from fastnax.errors import FastnaxError

    genotypes = getattr(uncertainty, "record_genotypes", ()) or ()
    own = (space.name, tuple(sorted(dict(space.options).items())))
    if genotypes and tuple(uncertainty.record_space) == own:
        from fastnax.errors import FastnaxError

        try:  # the space checks the bounds and canonicalizes: a tampered sidecar is refused here
            rows = space.to_index(np.asarray(genotypes, dtype=float))
        except FastnaxError:
            rows = None
        if rows is not None:
            return _table(rows, np.asarray(uncertainty.record_y, dtype=float))
    rows, ys = [], []
    for text, y in zip(archs, uncertainty.record_y):
        try:
            arch = Architecture.from_string(text)
            if not space.contains(arch):
                continue
            rows.append(space.encode([arch])[0])
        except FastnaxError:
            continue
        ys.append(float(y))
    if not rows:
        return None
    return _table(np.asarray(rows, dtype=np.int64), np.asarray(ys))


def _table(rows: np.ndarray, ys: np.ndarray):
    from fastnax.search.rows import unique_rows

    rows = np.asarray(rows, dtype=np.int64)
    first, inverse = unique_rows(rows)
    mean = np.bincount(inverse, ys) / np.bincount(inverse)
    low = np.full(len(first), np.inf)
    high = np.full(len(first), -np.inf)
    np.minimum.at(low, inverse, ys)
    np.maximum.at(high, inverse, ys)
    from fastnax.search.rows import row_hashes

    rows = rows[first]
    h = row_hashes(rows)
    order = np.argsort(h, kind="stable")
    return h[order], rows[order], mean[order], low[order], high[order]


def _lookup(table, index: np.ndarray):
    """Position (n,) of each index row in the measured table (-1: not a record), and values."""
    from fastnax.search.rows import find_rows

    hashes, rows, mean, low, high = table
    where = find_rows(hashes, rows, np.asarray(index, dtype=np.int64))
    pos = np.maximum(where, 0)  # misses: any row (their values are not read)
    return where, mean[pos], low[pos], high[pos]


def _features_read(model, n_features: int) -> np.ndarray | None:
    """Column indices a model's ``predict(F)`` reads, or None when it does not say.

    ``features_read_`` (any model may set it); the split features of a NumPy tree ensemble or of
    an XGBoost booster (``model_``); the terms of the training-free score."""
    read = getattr(model, "features_read_", None)
    if read is not None:
        return np.asarray(read, dtype=np.int64)
    from fastnax.predictors.treeeval import TreeEnsemble

    if isinstance(model, TreeEnsemble):
        return np.unique(model.feature[~model.is_leaf]) if model.n_features == n_features else None
    booster = getattr(model, "model_", None)
    if booster is not None and hasattr(booster, "save_raw") and getattr(model, "n_features_in_", None) == n_features:
        try:
            trees = TreeEnsemble(json.loads(bytes(booster.save_raw("json")).decode("utf-8")))
        except (PredictorFileError, ValueError, TypeError):
            return None
        return np.unique(trees.feature[~trees.is_leaf])
    from fastnax.predictors.training_free import WEIGHTS, TrainingFreeScore

    if type(model) is TrainingFreeScore:
        from fastnax import graph

        names = graph.feature_names()
        return np.asarray([names.index(name) for name in WEIGHTS], dtype=np.int64)
    return None


def _training_free(reason: str) -> AccuracyModel:
    from fastnax.predictors import TrainingFreeScore

    return AccuracyModel(TrainingFreeScore(), "training-free score",
                         {"note": "graph-metric score mapped to an accuracy-like scale; not a percent",
                          "why": reason})


def _from_file(path: Path, space, dataset) -> AccuracyModel:
    model, checked = load_predictor(path)
    checked.check_for(space, dataset)
    desc = {"file": str(path), **checked.info()}
    uncertainty = None
    if checked.meta.get("uncertainty") is not None:
        from fastnax.predictors.uncertainty import Uncertainty

        uncertainty = Uncertainty.from_dict(checked.meta["uncertainty"], checked.n_features)
    return AccuracyModel(model, "predictor", desc, target=checked.target or "accuracy_clean",
                         uncertainty=uncertainty, inputs=_hardware_inputs(checked.hardware_chips, desc))


def packaged_accuracy_model(space, dataset: str | None = None) -> AccuracyModel:
    """The packaged predictor fitted for ``space`` (and ``dataset`` when given), else the
    training-free score with the reason (a packaged file that is unusable or fitted elsewhere
    never breaks a default search)."""
    if dataset is not None:
        if dataset not in PACKAGED_PREDICTORS:
            return _training_free(f"no packaged predictor for dataset {dataset!r} (packaged: "
                                  f"{', '.join(PACKAGED_PREDICTORS)})")
        candidates = {dataset: PACKAGED_PREDICTORS[dataset]}
    else:
        candidates = PACKAGED_PREDICTORS
    reasons = []
    for name, path in candidates.items():
        if not path.exists():
            reasons.append(f"{name}: {path.name} is not installed")
            continue
        try:
            return _from_file(path, space, dataset)
        except PredictorFileError as exc:
            reasons.append(f"{name}: {exc}")
    return _training_free("packaged predictor: " + "; ".join(reasons))


def resolve_accuracy_model(predictor, space, dataset: str | None = None) -> AccuracyModel:
    """The accuracy model of a search.

    Parameters
    ----------
    predictor : None, str, path, or fitted predictor
        ``None``: the packaged predictor of ``dataset`` (:data:`PACKAGED_PREDICTORS`; without a
        dataset, the first packaged one) when its sidecar says it was fitted for this space and
        its options; otherwise the training-free score, with the reason in its description.
        A path: that predictor file (it must say it was fitted for this
        space). An object: a fitted predictor with ``predict(F)`` (percent); its ``target_``
        says what it predicts (a predictor that does not say is taken as clean accuracy).
    space : SearchSpace
    dataset : str, optional
    """
    from fastnax.search import analog_model

    if predictor is None:
        return packaged_accuracy_model(space, dataset)
    if isinstance(predictor, (str, Path)):
        path = Path(predictor)
        if not path.exists():
            raise PredictorFileError(f"predictor file {str(path)!r} does not exist")
        if analog_model.is_prior_residual_file(path):
            model, desc = analog_model.load_checked(path, space, dataset)
            return AccuracyModel(model, "predictor", desc, target=model.target_, inputs=analog_model.analog_inputs)
        return _from_file(path, space, dataset)
    if not hasattr(predictor, "predict"):
        raise PredictorFileError(
            f"predictor must be a fitted predictor (with predict), a file path or None; got "
            f"{type(predictor).__name__}")
    if getattr(predictor, "kind", None) == "training-free score" or type(predictor).__name__ == "TrainingFreeScore":
        return AccuracyModel(predictor, "training-free score",
                             {"note": "graph-metric score mapped to an accuracy-like scale; not a percent",
                              "why": "given"})
    desc = {"file": None, "class": type(predictor).__name__}
    for key, attr in (("space", "space_"), ("space_options", "space_options_"), ("dataset", "dataset_"),
                      ("records", "records_info_")):
        value = getattr(predictor, attr, None)
        if value is not None:
            desc[key] = value
    target = getattr(predictor, "target_", None)
    if target is None:
        desc["target_assumed"] = "the predictor does not say what it predicts; taken as accuracy_clean"
    inputs = analog_model.inputs_of(predictor) or _hardware_inputs(getattr(predictor, "hardware_chips_", None), desc)
    return AccuracyModel(predictor, "predictor", desc, target=target or "accuracy_clean", inputs=inputs)
