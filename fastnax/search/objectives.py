"""Objectives of the co-design search, vectorized over a batch of candidates.

One :class:`Evaluator` call prices a whole batch ``X`` of shape (n, d): the space builds the
:class:`~fastnax.arch.LayerTable`, the hardware model prices it, the graph features feed the
accuracy model. Optimizers call it once per generation (or sweep, or sample set), never per
candidate, and everything it sees is kept in an archive from which the Pareto front is taken.

Scalar objectives
-----------------
The combined costs follow the soft-constraint form of multi-objective NAS (MnasNet, Tan et al.
2019: ``reward = ACC * (COST / T) ** w`` with ``w = -0.07``), written as a cost to minimise:

    J(x) = -ln(accuracy(x) / 100) + beta * ln(cost(x)) / k

with ``cost`` the EDAP (``acc-edap``), the latency (``acc-latency``) or the energy
(``acc-energy``), and ``k`` the number of cost factors it multiplies (3 for EDAP = energy x
latency x area, 1 otherwise): ``ln(EDAP) / 3`` is the log of the geometric mean of the three, so
one exponent prices a halving of any single factor alike. ``beta = 0.07`` (the default, MnasNet's
exponent) trades a halving of the latency for about 4.9 % relative accuracy. The reference ``T`` only shifts ``J``, so the argmin does not
depend on it. Single objectives: ``accuracy`` maximises the predicted accuracy; ``energy``,
``latency``, ``area`` and ``edap`` minimise that cost alone. A Pareto front is swept by varying
``beta`` (the scalarisation weight).

Accuracy under non-idealities
-----------------------------
With ``accuracy="noisy"`` the clean prediction is lowered by a penalty that grows with the
hardware model's mean effective relative weight-noise sigma (device variation, stuck-at faults,
IR drop, drift and ADC quantization folded into one sigma by ``fastnax.hwmodel``):

    accuracy_noisy = max(chance, accuracy_clean - noise_penalty * (sigma / 0.1) ** 2)

``noise_penalty`` (percentage points lost at sigma = 0.1, default 3.0) is a parameter. The
quadratic form is the small-noise expansion of the loss around a trained minimum (the loss grows
with the variance of the weight perturbation); 3 points at 10 % relative weight noise is the order
of the drops reported for ResNet-20-sized CIFAR-10 networks without noise-aware training. It is an
assumption of this model, not a measurement: noise-aware training (``fastnax.train``) is what
measures it.

Constraints
-----------
``max_area`` (mm²), ``max_latency`` (ns) and ``min_accuracy`` (percent, on the accuracy used by the
objective) are hard: an infeasible candidate never enters the front or ``best``, and its scalar
cost is ``J + 1e3 * (1 + relative violation)`` so that optimizers are pulled toward feasibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError, unknown

#: Objectives and what they optimise: (accuracy term?, cost column or None).
OBJECTIVES = {
    "acc-edap": "edap",
    "acc-latency": "latency_ns",
    "acc-energy": "energy_pj",
    "accuracy": None,
    "energy": "energy_pj",
    "latency": "latency_ns",
    "area": "area_mm2",
    "edap": "edap",
}
COMBINED = ("acc-edap", "acc-latency", "acc-energy")
ACCURACY_MODES = ("clean", "noisy")
DEFAULT_BETA = 0.07
DEFAULT_NOISE_PENALTY = 3.0
NOISE_SIGMA_REF = 0.1
INFEASIBLE = 1e3
COST_COLUMNS = ("energy_pj", "latency_ns", "area_mm2", "edap")
PACKAGED_PREDICTOR = Path(__file__).resolve().parents[1] / "data" / "predictor.json"


def cost_column(objective: str) -> str:
    """The cost column of an objective (``edap`` for ``accuracy``, used for its front)."""
    check_objective(objective)
    return OBJECTIVES[objective] or "edap"


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise unknown("objective", objective, OBJECTIVES)
    return objective


# --------------------------------------------------------------------------------------------
# Accuracy models
# --------------------------------------------------------------------------------------------

def features_from_vectors(space, X: np.ndarray) -> np.ndarray:
    """Graph features (n, k) of a batch (indirection so that tests can substitute a stand-in)."""
    from fastnax import graph

    if hasattr(space, "to_base"):  # a Restriction: features of the base space's vectors
        return features_from_vectors(space.base, space.to_base(X).astype(float))
    return graph.features_from_vectors(space, X)


def features_from_index(space, index: np.ndarray) -> np.ndarray:
    """Graph features (n, k) of canonical index rows (``space.to_index`` output), not re-checked."""
    from fastnax import graph

    if hasattr(space, "to_base"):
        return features_from_vectors(space, index.astype(float))
    return graph.features_from_index(space, index)


def layer_table_from_index(space, index: np.ndarray):
    """The space's LayerTable of canonical index rows; ``imc`` skips re-checking the rows."""
    from fastnax.spaces import ImcSpace

    if type(space) is ImcSpace:
        from fastnax.spaces.imc import imc_layer_table

        return imc_layer_table(index, space.codec)
    return space.layer_table(index.astype(float))


class AccuracyModel:
    """Predicted accuracy (percent) of a batch of space vectors.

    Wraps a fitted predictor (``predict(F) -> percent``) or the training-free score. The score is
    not a percent: it is mapped to an accuracy-like scale by a fixed, rank-preserving logistic map
    calibrated on the space itself (see :meth:`calibrate`), and the result is labelled as such.
    Dead networks (graph feature ``dead``: no input-output path) are at chance, 100 / classes.
    """

    def __init__(self, model, kind: str, info: dict):
        self.model = model
        self.kind = kind  # "predictor" or "training-free score"
        self.info = dict(info)
        self._center = 0.0
        self._scale = 1.0
        self._chance = 10.0

    def calibrate(self, space, n: int = 256) -> None:
        """Fix the score-to-accuracy-like map from a seeded sample of the space.

        ``accuracy_like = chance + (100 - chance) * sigmoid((score - median) / iqr)``: the median
        candidate of the space maps to the middle of the range; only the ranking carries
        information. The sample is drawn with a fixed generator of its own (seed 12345), so the map
        is the same for every search of the space, whatever the search's seed.
        """
        self._chance = 100.0 / float(getattr(space, "options", {}).get("num_classes", 10) or 10)
        if self.kind != "training-free score":
            return
        X = space.sample_vectors(n, seed=np.random.default_rng(12345))
        score = np.asarray(self.model.predict(features_from_vectors(space, X)), dtype=float)
        q25, q50, q75 = np.percentile(score, [25, 50, 75])
        self._center = float(q50)
        self._scale = float(max(q75 - q25, 1e-12))
        self.info["score_to_accuracy"] = {"center": self._center, "scale": self._scale,
                                          "chance": self._chance}

    @property
    def chance(self) -> float:
        return self._chance

    def predict(self, space, X: np.ndarray) -> np.ndarray:
        """Accuracy (percent, or the accuracy-like scale of the score) of shape (n,)."""
        return self._from_features(features_from_vectors(space, X))

    def predict_index(self, space, index: np.ndarray) -> np.ndarray:
        """:meth:`predict` of canonical index rows (``space.to_index`` output)."""
        return self._from_features(features_from_index(space, index))

    def _from_features(self, F: np.ndarray) -> np.ndarray:
        raw = np.asarray(self.model.predict(F), dtype=float).reshape(-1)
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
        return {"kind": self.kind, **self.info}


@lru_cache(maxsize=None)
def _dead_column() -> int:
    from fastnax import graph

    return graph.feature_names().index("dead")


def _sidecar_info(predictor) -> dict:
    """What a fitted predictor says about itself (space, options, dataset, records)."""
    info = {}
    for key, attr in (("space", "space_"), ("space_options", "space_options_"), ("dataset", "dataset_"),
                      ("records", "records_info_"), ("target", "target_")):
        value = getattr(predictor, attr, None)
        if value is not None:
            info[key] = value
    return info


def _matches(info: dict, space, dataset: str | None) -> tuple[bool, str]:
    space_name = info.get("space")
    if space_name is not None and space_name != space.name:
        return False, f"fitted on the {space_name!r} space, not {space.name!r}"
    options = info.get("space_options", info.get("options"))
    if isinstance(options, dict) and options:
        own = dict(getattr(space, "options", {}))
        differ = {k: v for k, v in options.items() if k in own and own[k] != v}
        if differ:
            return False, f"fitted for space options {options}, not {own}"
    if dataset is not None and info.get("dataset") not in (None, dataset):
        return False, f"fitted on dataset {info.get('dataset')!r}, not {dataset!r}"
    if space_name is None:
        return False, "its sidecar does not say which space it was fitted on"
    return True, "matches"


def _sidecar_path(path: Path) -> Path:
    name = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(name + ".meta.json")


def _load_predictor(path: Path):
    """(model with ``predict(F)``, sidecar info) of a saved predictor, without importing xgboost.

    The sidecar is plain JSON; the model file must match its sha256 and the feature set must be
    this fastnax's graph features. The trees are evaluated by the pure-numpy
    :class:`fastnax.predictors.treeeval.TreeEnsemble` (importing xgboost costs more than a whole
    search); a model it cannot read falls back to ``XGBPredictor.load``.
    """
    import hashlib
    import json

    from fastnax import graph

    if path.name.endswith(".meta.json"):
        meta_file = path
        path = path.with_name(path.name[:-len(".meta.json")] + ".json")
    else:
        meta_file = _sidecar_path(path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        raw = path.read_bytes()
    except (OSError, ValueError) as exc:
        raise PredictorFileError(f"predictor {str(path)!r} or its sidecar {meta_file.name!r} is missing "
                                 f"or not JSON ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or hashlib.sha256(raw).hexdigest() != meta.get("model_sha256"):
        raise PredictorFileError(f"predictor {str(path)!r}: sidecar missing or sha256 mismatch")
    names = (meta.get("feature_set") or {}).get("names")
    if names != graph.feature_names():
        raise PredictorFileError(f"predictor {str(path)!r} was fitted on another feature set; refit it "
                                 f"with 'fastnax fit'")
    info = {k: meta.get(k) for k in ("space", "space_options", "dataset", "records", "target")
            if meta.get(k) is not None}
    try:
        from fastnax.predictors.treeeval import TreeEnsemble

        model = TreeEnsemble.from_file(path)
    except PredictorFileError:
        from fastnax.predictors import XGBPredictor

        model = XGBPredictor.load(path)
    return model, info


def _training_free(reason: str) -> AccuracyModel:
    from fastnax.predictors import TrainingFreeScore

    return AccuracyModel(TrainingFreeScore(), "training-free score",
                         {"note": "graph-metric score mapped to an accuracy-like scale; not a percent",
                          "why": reason})


def resolve_accuracy_model(predictor, space, dataset: str | None = None) -> AccuracyModel:
    """The accuracy model of a search.

    Parameters
    ----------
    predictor : None, str, path, or fitted predictor
        ``None``: the packaged predictor ``fastnax/data/predictor.json`` when its sidecar says it
        was fitted for this space, its options (and ``dataset`` when given); otherwise the
        training-free score. A path: that predictor file (it must match the space). An object: a
        fitted predictor with ``predict(F)`` (percent).
    """
    if predictor is None:
        if PACKAGED_PREDICTOR.exists():
            try:
                loaded, info = _load_predictor(PACKAGED_PREDICTOR)
            except PredictorFileError as exc:  # a broken packaged file must not break the default
                return _training_free(f"packaged predictor unusable ({exc})")
            ok, why = _matches(info, space, dataset)
            if ok:
                return AccuracyModel(loaded, "predictor", _describe_predictor(PACKAGED_PREDICTOR, info))
            return _training_free(f"packaged predictor {why}")
        return _training_free("no packaged predictor")
    if isinstance(predictor, (str, Path)):
        path = Path(predictor)
        if not path.exists():
            raise PredictorFileError(f"predictor file {str(path)!r} does not exist")
        loaded, info = _load_predictor(path)
        ok, why = _matches(info, space, dataset)
        if not ok and info.get("space") is not None:
            raise PredictorFileError(f"predictor {str(path)!r} cannot score this search: {why}")
        return AccuracyModel(loaded, "predictor", _describe_predictor(path, info))
    if not hasattr(predictor, "predict"):
        raise PredictorFileError(
            f"predictor must be a fitted predictor (with predict), a file path or None; got "
            f"{type(predictor).__name__}")
    if getattr(predictor, "kind", None) == "training-free score" or type(predictor).__name__ == "TrainingFreeScore":
        return AccuracyModel(predictor, "training-free score",
                             {"note": "graph-metric score mapped to an accuracy-like scale; not a percent",
                              "why": "given"})
    info = _sidecar_info(predictor)
    desc = {"file": None, "class": type(predictor).__name__}
    for key in ("records", "n_records", "dataset", "space", "target"):
        if key in info:
            desc[key] = info[key]
    return AccuracyModel(predictor, "predictor", desc)


def _describe_predictor(path: Path, info: dict) -> dict:
    desc = {"file": str(path)}
    for key in ("records", "dataset", "space", "space_options", "target"):
        if key in info:
            desc[key] = info[key]
    return desc


# --------------------------------------------------------------------------------------------
# Objective specification and the evaluator
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectiveSpec:
    """What the search optimises.

    Parameters
    ----------
    objective : str
        One of :data:`OBJECTIVES`.
    beta : float
        Weight of ``ln(cost)`` in the combined costs (default 0.07, MnasNet's exponent).
    accuracy : str
        ``"clean"`` or ``"noisy"`` (clean prediction minus the non-ideality penalty).
    noise_penalty : float
        Percentage points lost at an effective relative weight-noise sigma of 0.1.
    max_area : float or None
        Chip area budget in mm².
    max_latency : float or None
        Latency budget in ns per inference.
    min_accuracy : float or None
        Minimum accuracy in percent (on the accuracy the objective uses).
    """

    objective: str = "acc-edap"
    beta: float = DEFAULT_BETA
    accuracy: str = "clean"
    noise_penalty: float = DEFAULT_NOISE_PENALTY
    max_area: float | None = None
    max_latency: float | None = None
    min_accuracy: float | None = None

    def __post_init__(self) -> None:
        check_objective(self.objective)
        if self.accuracy not in ACCURACY_MODES:
            raise unknown("accuracy mode", self.accuracy, ACCURACY_MODES)
        if not np.isfinite(self.beta) or self.beta < 0:
            raise BoundsError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if not np.isfinite(self.noise_penalty) or self.noise_penalty < 0:
            raise BoundsError(f"noise_penalty must be a finite number >= 0, got {self.noise_penalty!r}")
        for name in ("max_area", "max_latency"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise BoundsError(f"{name} must be a positive number, got {value!r}")
        if self.min_accuracy is not None and not (0 <= self.min_accuracy <= 100):
            raise BoundsError(f"min_accuracy must be a percentage between 0 and 100, got {self.min_accuracy!r}")

    @property
    def cost_column(self) -> str:
        return OBJECTIVES[self.objective] or "edap"

    @property
    def cost_factors(self) -> int:
        """Costs multiplied in the cost column (3 for EDAP)."""
        return 3 if self.cost_column == "edap" else 1

    def constraints(self) -> dict:
        return {"max_area_mm2": self.max_area, "max_latency_ns": self.max_latency,
                "min_accuracy": self.min_accuracy}

    def scalar(self, columns: dict, beta: float | np.ndarray | None = None) -> np.ndarray:
        """Scalar cost J (n,) to minimise (see the module docstring), penalties included."""
        beta = self.beta if beta is None else beta
        acc = np.clip(columns["accuracy"], 1e-3, 100.0)
        name = self.objective
        if name in COMBINED:
            J = -np.log(acc / 100.0) + beta * np.log(np.maximum(columns[self.cost_column], 1e-300)) / self.cost_factors
        elif name == "accuracy":
            J = -np.log(acc / 100.0)
        else:
            J = np.log(np.maximum(columns[self.cost_column], 1e-300)) / self.cost_factors
        violation = self.violation(columns)
        return np.where(violation > 0, J + INFEASIBLE * (1.0 + violation), J)

    def violation(self, columns: dict) -> np.ndarray:
        """Sum of relative constraint violations (n,); 0 where feasible."""
        n = len(columns["accuracy"])
        v = np.zeros(n)
        if self.max_area is not None:
            v += np.maximum(columns["area_mm2"] / self.max_area - 1.0, 0.0)
        if self.max_latency is not None:
            v += np.maximum(columns["latency_ns"] / self.max_latency - 1.0, 0.0)
        if self.min_accuracy is not None:
            v += np.maximum((self.min_accuracy - columns["accuracy"]) / max(self.min_accuracy, 1e-9), 0.0)
        return v


def first_occurrences(index: np.ndarray) -> np.ndarray:
    """Positions (sorted) of the first occurrence of each distinct row of an int matrix (n, d)."""
    return unique_rows(index)[0]


@lru_cache(maxsize=32)
def _row_hash_weights(d: int) -> np.ndarray:
    """Fixed odd 64-bit multipliers (d,) for row hashes (a seeded generator of its own)."""
    return np.random.default_rng(2024).integers(1, 2**62, size=d, dtype=np.int64) | 1


def unique_rows(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of an int matrix (n, d): (sorted first positions (u,), inverse (n,)).

    Rows are grouped by a 64-bit hash (one stable argsort), then every row is compared in full
    with its group's first row: two different rows are never merged. On a hash collision (never
    seen in practice) the exact ``np.unique(axis=0)`` path is taken instead; it is ~10x slower.
    """
    index = np.asarray(index)
    n, d = index.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):
        h = (index.astype(np.int64, copy=False) * _row_hash_weights(d)).sum(axis=1)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(hs[1:], hs[:-1], out=new[1:])
    leader = order[new]  # first position of each hash group (stable sort: smallest index)
    group = np.empty(n, dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    if not (index == index[leader[group]]).all():
        _, first, inverse = np.unique(index, axis=0, return_index=True, return_inverse=True)
        leader, group = first, inverse.reshape(-1)
    rank = np.argsort(leader, kind="stable")  # groups renumbered by first position
    renumber = np.empty_like(rank)
    renumber[rank] = np.arange(len(rank))
    return leader[rank], renumber[group]


@dataclass
class Archive:
    """Everything evaluated: canonical integer vectors and their objective columns."""

    index: list = field(default_factory=list)
    columns: dict = field(default_factory=lambda: {k: [] for k in ("accuracy", "accuracy_clean",
                                                                  *COST_COLUMNS, "noise_sigma")})

    def add(self, index: np.ndarray, cols: dict) -> None:
        self.index.append(index)
        for key in self.columns:
            self.columns[key].append(cols[key])

    def arrays(self) -> tuple[np.ndarray, dict]:
        """Unique evaluated candidates (first occurrence order) and their columns."""
        if not self.index:
            return np.zeros((0, 0), dtype=np.int64), {k: np.zeros(0) for k in self.columns}
        index = np.concatenate(self.index)
        cols = {k: np.concatenate(v) for k, v in self.columns.items()}
        first = first_occurrences(index)
        return index[first], {k: v[first] for k, v in cols.items()}


HARDWARE_ONLY = ("w_bits", "in_bits", "cell_bits", "adc_rule")


def network_columns(space) -> np.ndarray:
    """Coordinates that change the network itself (not crossbar sizes or bit widths)."""
    return np.asarray([j for j, name in enumerate(space.coordinate_names)
                       if "crossbar" not in name and name not in HARDWARE_ONLY], dtype=np.int64)


class BudgetExhausted(Exception):
    """Raised inside an optimizer's callback when the evaluation budget is spent."""


class Evaluator:
    """Prices batches of candidates of one space under one objective, and keeps the archive.

    Parameters
    ----------
    space : SearchSpace
    hardware : HardwareModel
        Anything with ``evaluate(table, nonideality=None) -> Cost``.
    accuracy_model : AccuracyModel
    spec : ObjectiveSpec
    nonideality : optional
        Passed to the hardware model (noise sigma) when ``spec.accuracy == "noisy"``.
    budget : int or None
        Maximum number of candidates to evaluate (``None``: unlimited).
    """

    def __init__(self, space, hardware, accuracy_model: AccuracyModel, spec: ObjectiveSpec,
                 nonideality=None, budget: int | None = None):
        self.space = space
        self.hardware = hardware
        self.accuracy_model = accuracy_model
        self.spec = spec
        self.nonideality = nonideality
        self.budget = budget
        self.n_evaluations = 0
        self.n_calls = 0
        self.archive = Archive()
        self.network_columns = network_columns(space)

    @property
    def remaining(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.n_evaluations

    def columns(self, X) -> tuple[np.ndarray, dict]:
        """Canonical index (n, d) and objective columns of a batch, without archiving."""
        index = self.space.to_index(X)
        n = index.shape[0]
        if n == 0:
            return index, {k: np.zeros(0) for k in self.archive.columns}
        table = layer_table_from_index(self.space, index)
        noisy = self.spec.accuracy == "noisy"
        cost = self.hardware.evaluate(table, self.nonideality)
        # Graph features (hence the clean prediction) ignore crossbar sizes and bit widths: predict
        # once per distinct network and share it among its hardware variants.
        net = index[:, self.network_columns]
        first, inverse = unique_rows(net)
        acc_clean = self.accuracy_model.predict_index(self.space, index[first])[inverse]
        sigma = np.asarray(getattr(cost, "mean_noise_sigma", np.zeros(n)), dtype=float).reshape(-1)
        if sigma.shape != (n,):
            sigma = np.zeros(n)
        if noisy:
            drop = self.spec.noise_penalty * (sigma / NOISE_SIGMA_REF) ** 2
            acc = np.maximum(acc_clean - drop, np.minimum(acc_clean, self.accuracy_model.chance))
        else:
            acc = acc_clean
        cols = {"accuracy": np.asarray(acc, float), "accuracy_clean": np.asarray(acc_clean, float),
                "noise_sigma": sigma}
        for key in COST_COLUMNS:
            cols[key] = np.asarray(getattr(cost, key), dtype=float).reshape(-1)
        return index, cols

    def __call__(self, X, limit: bool = True) -> tuple[np.ndarray, dict]:
        """Evaluate a batch (one hardware call, one predictor call) and archive it.

        With ``limit``, a batch larger than the remaining budget is truncated to it, and a call
        with no budget left raises :class:`BudgetExhausted`.
        """
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None]
        if limit and self.budget is not None:
            left = int(self.remaining)
            if left <= 0:
                raise BudgetExhausted
            X = X[:left]
        index, cols = self.columns(X)
        self.n_evaluations += index.shape[0]
        self.n_calls += 1
        self.archive.add(index, cols)
        return index, cols

    def scalar(self, X, beta=None) -> np.ndarray:
        """Scalar cost J (n,) of a batch (archived)."""
        _, cols = self(X)
        return self.spec.scalar(cols, beta)
