"""The objective specification of the co-design search: objectives, scalar costs, constraints.

The evaluator (``fastnax.search.evaluator``) computes the columns (accuracy, energy, latency,
area, EDAP) of a batch; :class:`ObjectiveSpec` turns them into the scalar cost J and the
constraint violation.

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
An accuracy model states its target: the clean accuracy, the accuracy under non-idealities
(``accuracy_noisy``: the packaged predictor, fitted on records measured on simulated crossbars),
or a training-free score. ``accuracy="auto"`` (the default) reports the target as predicted. With
``accuracy="noisy"`` and a model of the clean accuracy, the clean prediction is lowered by a penalty that grows with the
hardware model's mean effective relative weight-noise sigma (device variation, stuck-at faults,
IR drop, drift and ADC quantization folded into one sigma by ``fastnax.hwmodel``):

    accuracy_noisy = max(chance, accuracy_clean - noise_penalty * (sigma / 0.1) ** 2)

``noise_penalty`` (percentage points lost at sigma = 0.1, default 3.0) is a parameter. The
quadratic form is the small-noise expansion of the loss around a trained minimum (the loss grows
with the variance of the weight perturbation); 3 points at 10 % relative weight noise is the order
of the drops reported for ResNet-20-sized CIFAR-10 networks without noise-aware training. It is an
assumption of this model, not a measurement: noise-aware training (``fastnax.train``) is what
measures it. The penalty is applied to a clean prediction only, never to a model that already
predicts the accuracy under non-idealities.

Constraints
-----------
``max_area`` (mm²), ``max_latency`` (ns) and ``min_accuracy`` (percent, on the accuracy used by the
objective) are hard: an infeasible candidate never enters the front or ``best``, and its scalar
cost is ``J + 1e3 * (1 + relative violation)`` so that optimizers are pulled toward feasibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fastnax.errors import BoundsError, unknown

#: Objectives and the cost column they optimise (None: accuracy alone; its front uses EDAP).
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
ACCURACY_MODES = ("auto", "clean", "noisy")
DEFAULT_BETA = 0.07
DEFAULT_NOISE_PENALTY = 3.0
#: Predictive quantile the objective scores by default: a little below the mean (a design beats
#: it with 60 % probability), never above the mean. Chosen on development columns, fronts scored
#: with the TRUE accuracies, 20 seeds, predictors fitted on 25 cells (2026-12-04, the score held at
#: most at the mean): NAS-Bench-201 CIFAR-10 hypervolume ratio mean / worst 0.979 / 0.765 at 0.4
#: and at the mean (0.5), 0.967 / 0.762 at 0.25 and 0.964 / 0.759 at 0.1; AnalogNAS-Bench 1-day
#: accuracy 0.958 / 0.904 at 0.4, 0.959 / 0.939 at 0.5, 0.957 / 0.902 at 0.25, 0.919 / 0.738 at
#: 0.1: the least pessimistic of the quantiles tried (benchmarks/search_nb201.py --risk,
#: benchmarks/search_analog.py --risk). Before the score was held at the mean, 0.4 read 0.990 /
#: 0.982 on NAS-Bench-201: a positive residual quantile had lifted the score over the mean.
DEFAULT_RISK = 0.4
NOISE_SIGMA_REF = 0.1
INFEASIBLE = 1e3
COST_COLUMNS = ("energy_pj", "latency_ns", "area_mm2", "edap")


def cost_column(objective: str) -> str:
    """The cost column of an objective (``edap`` for ``accuracy``, used for its front)."""
    check_objective(objective)
    return OBJECTIVES[objective] or "edap"


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise unknown("objective", objective, OBJECTIVES)
    return objective


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
        Which accuracy the objective uses: ``"auto"`` (default: what the accuracy model predicts,
        unchanged), ``"clean"`` (needs a model of the clean accuracy) or ``"noisy"`` (the accuracy
        under non-idealities: a noisy model's prediction as it is, or a clean prediction minus
        the non-ideality penalty). See :meth:`fastnax.search.accuracy.AccuracyModel.quantity`.
    noise_penalty : float
        Percentage points lost at an effective relative weight-noise sigma of 0.1.
    max_area : float or None
        Chip area budget in mm².
    max_latency : float or None
        Latency budget in ns per inference.
    min_accuracy : float or None
        Minimum accuracy in percent (on the accuracy the objective uses).
    risk : float in (0, 0.5]
        The predictive quantile of the accuracy that the objective scores (and the front, the
        best design and ``min_accuracy`` use): 0.4 (default, chosen on evidence: see
        :data:`DEFAULT_RISK`) is a little pessimistic, 0.1 the lower end of the 80 % interval,
        0.5 the mean prediction; a quantile below 0.5 never scores above the mean. Models without intervals
        score their prediction whatever the risk.
    """

    objective: str = "acc-edap"
    beta: float = DEFAULT_BETA
    accuracy: str = "auto"
    noise_penalty: float = DEFAULT_NOISE_PENALTY
    max_area: float | None = None
    max_latency: float | None = None
    min_accuracy: float | None = None
    risk: float = DEFAULT_RISK

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
        if isinstance(self.risk, bool) or not isinstance(self.risk, (int, float, np.number)) \
                or not (0 < float(self.risk) <= 0.5):
            raise BoundsError(f"risk must be a quantile in (0, 0.5] (0.4: the default, 0.1: the lower "
                              f"end of the 80 % interval; 0.5: the mean), got {self.risk!r}")
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
