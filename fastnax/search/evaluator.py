"""The evaluator: prices batches of candidates, keeps the archive, enforces the budget.

One :class:`Evaluator` call prices a whole batch ``X`` of shape (n, d): the space builds the
:class:`~fastnax.arch.LayerTable` (``space.layer_table_from_index``), the hardware model prices
it, the space's graph features feed the accuracy model. Optimizers call it once per generation
(or sweep, or sample set), never per candidate, and everything it sees is kept in an
:class:`Archive` from which the Pareto front is taken.

Every column of every candidate is a function of that candidate alone, so a candidate priced
once is never priced again: the evaluator keeps each canonical row's columns (:class:`Memo`, a
64-bit row hash checked against the whole row) and prices only the rows it has not seen, each
distinct row of a batch once (descents and the front search revisit 15 % of their candidates on
the default search). The count of evaluations, the budget and the archive are per row asked
for, as before. To save predictor calls,
candidates that agree on every coordinate the accuracy model's features depend on share one
prediction (crossbar-size variants, typically); the coordinates come from the model
(``AccuracyModel.feature_mask``: which features it reads) and the space
(``SearchSpace.feature_coordinates``: which coordinates each feature depends on, checked by
``check_search_space``), so a model that reads the bit widths gets a prediction per bit width.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from fastnax.search.accuracy import AccuracyModel
from fastnax.search.rows import _row_hash_weights, find_rows, first_occurrences, row_hashes, unique_rows  # noqa: F401
from fastnax.search.spec import COST_COLUMNS, NOISE_SIGMA_REF, ObjectiveSpec

#: Archive columns: the accuracy the objective uses (the scored quantile of the reported quantity),
#: the model's own mean prediction (never penalised), the reported quantity's mean and 80 %
#: interval, the support and record flags (0/1), the costs and the noise sigma.
COLUMNS = ("accuracy", "accuracy_predicted", "accuracy_mean", "accuracy_lower", "accuracy_upper",
           "in_support", "measured", *COST_COLUMNS, "noise_sigma")


@dataclass
class Archive:
    """Everything evaluated: canonical integer vectors and their objective columns."""

    index: list = field(default_factory=list)
    columns: dict = field(default_factory=lambda: {k: [] for k in COLUMNS})

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


class Memo:
    """Columns of the canonical rows priced so far, looked up by a 64-bit row hash and checked
    against the whole row (a hash collision is a miss: that row is priced again, never mixed up).
    Rows and columns are kept in insertion order (a growing buffer); the sorted hashes and their
    row positions are looked up with one ``searchsorted`` per batch."""

    def __init__(self, d: int):
        self.d = d
        self.size = 0
        self.keys = np.zeros(0, dtype=np.int64)  # sorted hashes
        self.where = np.zeros(0, dtype=np.int64)  # row of each sorted hash
        self.rows = np.zeros((0, d), dtype=np.int64)
        self.cols: dict = {}

    def lookup(self, index: np.ndarray) -> np.ndarray:
        """Row (n,) of each of ``index`` in the memo, -1 where it is not there."""
        return find_rows(self.keys, self.rows, index, self.where)

    def add(self, index: np.ndarray, cols: dict) -> None:
        """Append rows (distinct, not yet in the memo) and their columns."""
        m = len(index)
        if not m:
            return
        need = self.size + m
        if need > len(self.rows):  # grow the buffers (doubling)
            capacity = max(need, 2 * len(self.rows), 1024)
            rows = np.empty((capacity, self.d), dtype=np.int64)
            rows[:self.size] = self.rows[:self.size]
            self.rows = rows
            for k, v in cols.items():
                grown = np.empty(capacity, dtype=np.asarray(v).dtype)
                if k in self.cols:
                    grown[:self.size] = self.cols[k][:self.size]
                self.cols[k] = grown
        self.rows[self.size:need] = index
        for k, v in cols.items():
            self.cols[k][self.size:need] = v
        keys = np.concatenate([self.keys, row_hashes(index)])
        where = np.concatenate([self.where, np.arange(self.size, need)])
        order = np.argsort(keys, kind="stable")
        self.keys, self.where = keys[order], where[order]
        self.size = need


@lru_cache(maxsize=1)
def _blas_controller_for(n_modules: int):
    """threadpoolctl's controller of the libraries loaded now (None without threadpoolctl, which
    comes with scikit-learn: BLAS then runs as it is)."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _blas_controller():
    """The controller, made again whenever modules were imported since (a module can load another
    BLAS, as SciPy's linear algebra loads its own OpenBLAS beside NumPy's)."""
    return _blas_controller_for(len(sys.modules))


def one_blas_thread():
    """A context in which BLAS runs on one thread (threadpoolctl, ~10 us to enter).

    A batch's matrix products (the nearest-record search: a few hundred candidates against a few
    hundred records) are too small for a second thread to pay: measured side by side on the default
    search, the same wall time (0.147 against 0.144 s) and 14 % less CPU time for the process
    (0.278 against 0.325 s) on one thread."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


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
        Passed to the hardware model (noise sigma).
    budget : int or None
        Maximum number of candidates to evaluate (``None``: unlimited). Set by the caller of
        ``search.run``; optimizers read it and never change it.
    memo : bool
        Keep the columns of every row priced and never price a row twice (default True; False:
        price every row of every batch, for tests of the pricing itself).

    Attributes
    ----------
    quantity : str
        What the ``accuracy`` column is (a key of ``fastnax.search.accuracy.QUANTITIES``).
    prediction_coordinates : int array
        Coordinates that identify a prediction (see the module docstring).
    """

    def __init__(self, space, hardware, accuracy_model: AccuracyModel, spec: ObjectiveSpec,
                 nonideality=None, budget: int | None = None, memo: bool = True):
        self.space = space
        self.hardware = hardware
        self.accuracy_model = accuracy_model
        self.spec = spec
        self.nonideality = nonideality
        self.budget = budget
        self.n_evaluations = 0
        self.n_calls = 0
        self.archive = Archive()
        #: Called as ``on_batch(index, columns)`` after every archived batch (benchmarks time-stamp
        #: the archive with it); None: nothing.
        self.on_batch = None
        self.use_memo = bool(memo)
        self.memo = None  # Memo of the rows priced (made on the first call; see columns)
        self._memo_of = None
        self.quantity, self.penalize = accuracy_model.quantity(spec.accuracy)
        depends = np.asarray(space.feature_coordinates(), dtype=bool)[accuracy_model.feature_mask()]
        self.prediction_coordinates = np.flatnonzero(depends.any(axis=0))
        if getattr(accuracy_model, "reads_hardware", False):  # noise figures: every coordinate counts
            self.prediction_coordinates = np.arange(space.dim)

    @property
    def remaining(self) -> float:
        return float("inf") if self.budget is None else self.budget - self.n_evaluations

    def columns(self, X) -> tuple[np.ndarray, dict]:
        """Canonical index (n, d) and objective columns of a batch, without archiving.

        Rows priced before (by this evaluator, with the same space, models and objective) come
        from the memo; the others are priced together, each distinct one once."""
        index = self.space.to_index(X)
        n = index.shape[0]
        if n == 0:
            return index, {k: np.zeros(0) for k in COLUMNS}
        if not self.use_memo:
            with one_blas_thread():
                return index, self._price(index)
        of = (self.space, self.hardware, self.accuracy_model, self.spec, self.nonideality)
        if self.memo is None or self.memo.d != index.shape[1] or any(a is not b for a, b in zip(of, self._memo_of)):
            self.memo, self._memo_of = Memo(index.shape[1]), of
        where = self.memo.lookup(index)
        missing = np.flatnonzero(where < 0)
        hit = np.flatnonzero(where >= 0)
        if len(missing):
            first, inverse = unique_rows(index[missing])
            new_index = index[missing][first]
            with one_blas_thread():
                new_cols = self._price(new_index)
        cols = {}
        for k in COLUMNS:
            v = np.empty(n)
            if len(hit):
                v[hit] = self.memo.cols[k][where[hit]]
            if len(missing):
                v[missing] = new_cols[k][inverse]
            cols[k] = v
        if len(missing):
            self.memo.add(new_index, new_cols)
        return index, cols

    def _price(self, index: np.ndarray) -> dict:
        """Objective columns of canonical rows (n, d), priced."""
        n = index.shape[0]
        table = self.space.layer_table_from_index(index)
        cost = self.hardware.evaluate(table, self.nonideality)
        first, inverse = unique_rows(index[:, self.prediction_coordinates])
        # a predictor of the hardware features predicts every row: the priced table serves it too
        share_table = len(first) == n and getattr(self.accuracy_model, "reads_hardware", False)
        detail = self.accuracy_model.predict_detail(self.space, index[first], self.spec.risk, measured=False,
                                                    table=table if share_table else None)
        detail = {k: v[inverse] for k, v in detail.items()}
        # records match whole rows: a record's hardware variants share its prediction, not its measurement
        self.accuracy_model.apply_measured(index, detail)
        sigma = np.asarray(getattr(cost, "mean_noise_sigma", np.zeros(n)), dtype=float).reshape(-1)
        if sigma.shape != (n,):
            sigma = np.zeros(n)
        cols = {"accuracy": detail["accuracy_scored"], "accuracy_predicted": detail["accuracy_mean"],
                "accuracy_mean": detail["accuracy_mean"], "accuracy_lower": detail["accuracy_lower"],
                "accuracy_upper": detail["accuracy_upper"],
                "in_support": detail["in_support"].astype(float), "measured": detail["measured"].astype(float),
                "noise_sigma": sigma}
        if self.penalize:  # only ever a clean prediction (or the score): see AccuracyModel.quantity
            drop = self.space.noise_drop(index, sigma, self.spec.noise_penalty, NOISE_SIGMA_REF)
            chance = self.accuracy_model.chance
            for key in ("accuracy", "accuracy_mean", "accuracy_lower", "accuracy_upper"):
                value = cols[key]
                cols[key] = np.maximum(value - drop, np.minimum(value, chance))
        for key in COST_COLUMNS:
            cols[key] = np.asarray(getattr(cost, key), dtype=float).reshape(-1)
        return cols

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
        if self.on_batch is not None:
            self.on_batch(index, cols)
        return index, cols

    def scalar(self, X, beta=None) -> np.ndarray:
        """Scalar cost J (n,) of a batch (archived)."""
        _, cols = self(X)
        return self.spec.scalar(cols, beta)
