"""Prediction intervals and the support of an accuracy predictor fitted on a few records.

A predictor fitted on 25-200 trained samples is asked about millions of candidates, most of them
unlike any record. Two questions come with every prediction:

* **How far off can it be?** Intervals are split-conformal over the out-of-fold residuals of a
  k-fold cross-validation (CV+, Barber et al. 2021, "Predictive inference with the jackknife+"),
  scaled locally by how far the candidate lies from the records: the residual of record ``i`` is
  divided by its difficulty ``s_i = 1 + d_i / d_ref`` (``d_i`` its distance to the nearest record
  of the other folds, ``d_ref`` the median such distance), and a candidate's interval is
  ``mean + q * s(x)`` with ``q`` the quantiles of the scaled residuals at their expected
  positions ``k / (n + 1)``. Under
  exchangeability (records drawn like the candidates) the coverage is close to nominal; the scale
  widens intervals for candidates far from every record (Papadopoulos et al. 2008, normalised
  nonconformity scores). No extra model is fitted and the search pays one small matrix product.
* **Is it inside what the records show?** A candidate is *in support* when its standardized
  feature vector (over the features the model reads) lies within the records' range in every such
  feature (with a 5 % margin of the range) and its distance to the nearest record is no larger than
  the largest nearest-neighbour distance among the records themselves. Outside the support a tree
  ensemble extrapolates with constant leaves, so its value is not evidence.

Predictions are also held inside the range the records show: a mean above the best record (or below
the worst) is an extrapolation of summed leaf values, not a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fastnax.errors import BoundsError, PredictorFileError

#: Margin (fraction of each feature's record range) tolerated outside the records' box.
RANGE_MARGIN = 0.05


def _nearest_distances(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Distance (len(A),) from each row of A to its nearest row of B (Euclidean)."""
    if len(B) == 0:
        return np.full(len(A), np.inf)
    sq = (A * A).sum(axis=1)[:, None] + (B * B).sum(axis=1)[None, :] - 2.0 * (A @ B.T)
    return np.sqrt(np.maximum(sq.min(axis=1), 0.0))


@dataclass(frozen=True)
class Uncertainty:
    """Conformal intervals and support of one fitted predictor (JSON-serialisable).

    Attributes
    ----------
    columns : tuple of int
        Feature columns the model reads (the others do not change its output).
    center, scale : tuple of float
        Standardisation of those columns (records' mean and standard deviation).
    low, high : tuple of float
        Records' range of those columns.
    records : tuple of tuple of float
        The records' standardized feature rows (for nearest-record distances).
    radius : float
        Largest nearest-neighbour distance among the records (support boundary).
    d_ref : float
        Median nearest-record distance of the records (unit of the difficulty scale).
    scaled_residuals : tuple of float
        Sorted out-of-fold residuals ``(y - oof) / s`` (percentage points per unit difficulty).
    y_min, y_max : float
        Range of the records' accuracies (percent).
    record_y : tuple of float
        The records' accuracies, in record order (the nearest record's value caps an
        out-of-support prediction).
    record_archs : tuple of str
        The records' canonical architecture strings (empty when fitted on a plain matrix): a
        candidate that is a record is scored by its measurement, not by the model.
    record_space, record_genotypes : tuple
        The records' space ``(name, options as sorted (key, value) pairs)`` and their genotypes
        (the space's canonical integer vectors): the same records, ready to match without parsing.
    """

    columns: tuple
    center: tuple
    scale: tuple
    low: tuple
    high: tuple
    records: tuple
    radius: float
    d_ref: float
    scaled_residuals: tuple
    y_min: float
    y_max: float
    record_y: tuple
    record_archs: tuple = ()
    record_space: tuple = ()
    record_genotypes: tuple = ()

    # --- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, F: np.ndarray, y: np.ndarray, oof: np.ndarray, folds: np.ndarray,
            columns) -> "Uncertainty":
        """From the records' features ``F`` (n, k), accuracies ``y`` (n,), out-of-fold predictions
        ``oof`` (n,), fold labels ``folds`` (n,) and the feature columns the model reads."""
        F = np.asarray(F, dtype=float)
        y = np.asarray(y, dtype=float)
        oof = np.asarray(oof, dtype=float)
        folds = np.asarray(folds)
        columns = tuple(int(c) for c in columns)
        if len(y) < 4:
            raise BoundsError(f"intervals need at least 4 records, got {len(y)}")
        G = F[:, list(columns)] if columns else np.zeros((len(y), 0))
        center = G.mean(axis=0)
        scale = G.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        Z = (G - center) / scale
        # nearest-record distance of each record among the records of the other folds (what its
        # out-of-fold prediction was fitted on), and among all the other records (support radius)
        d_cv = np.empty(len(y))
        for f in np.unique(folds):
            inside = folds == f
            d_cv[inside] = _nearest_distances(Z[inside], Z[~inside])
        d_loo = np.empty(len(y))
        for i in range(len(y)):
            others = np.arange(len(y)) != i
            d_loo[i] = _nearest_distances(Z[i:i + 1], Z[others])[0]
        d_ref = float(np.median(d_cv)) if np.median(d_cv) > 0 else 1.0
        s = 1.0 + d_cv / d_ref
        residuals = np.sort((y - oof) / s)
        return cls(columns=columns, center=tuple(center.tolist()), scale=tuple(scale.tolist()),
                   low=tuple(G.min(axis=0).tolist()) if columns else (),
                   high=tuple(G.max(axis=0).tolist()) if columns else (),
                   records=tuple(tuple(r) for r in Z.tolist()), radius=float(d_loo.max()),
                   d_ref=d_ref, scaled_residuals=tuple(residuals.tolist()),
                   y_min=float(y.min()), y_max=float(y.max()), record_y=tuple(y.tolist()))

    # --- use -------------------------------------------------------------------------------
    @cached_property
    def _arrays(self) -> dict:
        """The fields as arrays, built once (a search prices dozens of batches against them)."""
        k = len(self.columns)
        R = np.asarray(self.records, dtype=float).reshape(len(self.record_y), k)
        lo, hi = np.asarray(self.low, dtype=float), np.asarray(self.high, dtype=float)
        margin = RANGE_MARGIN * np.maximum(hi - lo, 1e-12)
        return {"columns": list(self.columns), "center": np.asarray(self.center, dtype=float),
                "scale": np.asarray(self.scale, dtype=float), "records": R,
                "records_sq": (R * R).sum(axis=1)[None, :], "low": lo - margin, "high": hi + margin,
                "record_y": np.asarray(self.record_y, dtype=float),
                "residuals": np.asarray(self.scaled_residuals, dtype=float), "quantiles": {}}

    def _standardized(self, F: np.ndarray) -> np.ndarray:
        F = np.asarray(F, dtype=float)
        if not self.columns:
            return np.zeros((len(F), 0))
        a = self._arrays
        return (F[:, a["columns"]] - a["center"]) / a["scale"]

    def nearest(self, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (n,) to the nearest record and that record's position (n,)."""
        Z = self._standardized(F)
        R = self._arrays["records"]
        if Z.shape[1] == 0:
            return np.zeros(len(Z)), np.zeros(len(Z), dtype=np.int64)
        # One matrix product finds the nearest record; its rounding depends on how BLAS blocks the
        # batch, so the winner is the first record within a relative 1e-9 of the minimum (exact
        # ties: duplicate records) and its distance is recomputed row by row: the same bits for a
        # candidate whatever batch it is priced in.
        # The candidate's own |z|^2 does not change which record is nearest: the squared
        # distance less it, |r|^2 - 2 z.r, built in place (three passes over the n x records
        # matrix instead of five temporaries); the tolerance is relative to the whole distance.
        sq = Z @ R.T
        sq *= -2.0
        sq += self._arrays["records_sq"]
        low = sq.min(axis=1)
        whole = low + np.einsum("ij,ij->i", Z, Z)
        j = (sq <= (low + 1e-9 * np.maximum(np.abs(whole), 1.0))[:, None]).argmax(axis=1)
        diff = Z - R[j]
        return np.sqrt(np.einsum("ij,ij->i", diff, diff)), j

    def in_support(self, F: np.ndarray, distance: np.ndarray | None = None) -> np.ndarray:
        """Boolean (n,): inside the records' range in every read feature and near a record."""
        F = np.asarray(F, dtype=float)
        if distance is None:
            distance, _ = self.nearest(F)
        if not self.columns:
            return np.ones(len(F), dtype=bool)
        a = self._arrays
        G = F[:, a["columns"]]
        inside = ((G >= a["low"]) & (G <= a["high"])).all(axis=1)
        return inside & (distance <= self.radius * (1.0 + 1e-9))

    def quantile(self, q: float) -> float:
        """Quantile ``q`` of the scaled residuals at Weibull plotting positions.

        The ``k``-th smallest of ``n`` exchangeable residuals sits, in expectation, at quantile
        ``k / (n + 1)`` of their distribution, so interpolating at those positions gives intervals
        whose expected coverage is the nominal one (the conservative conformal ranks
        ``ceil((n + 1) q)`` over-cover: 0.86 instead of 0.80 at 25 records on NAS-Bench-201).
        """
        if not 0.0 < q < 1.0:
            raise BoundsError(f"quantile must be strictly between 0 and 1, got {q!r}")
        cache = self._arrays["quantiles"]
        if q not in cache:
            cache[q] = float(np.quantile(self._arrays["residuals"], q, method="weibull"))
        return cache[q]

    def predict(self, F: np.ndarray, raw: np.ndarray, coverage: float = 0.8,
                quantile: float | None = None) -> dict:
        """Mean, interval, scored quantile and support of raw model outputs ``raw`` (n,).

        Parameters
        ----------
        F : ndarray of shape (n, k)
            Feature rows of the candidates.
        raw : ndarray of shape (n,)
            The fitted model's outputs (percent).
        coverage : float
            Nominal coverage of ``[lower, upper]`` (default 0.8: the 10 % and 90 % quantiles).
        quantile : float, optional
            Also return ``score``, the predictive ``quantile`` (0.5: the mean), never above the
            mean (a quantile < 0.5 scores the lower of the two).

        Returns
        -------
        dict of ndarray of shape (n,)
            ``accuracy`` (mean, held inside the records' range and, outside the support, at most
            the nearest record's accuracy), ``lower``, ``upper``, ``in_support`` (bool) and
            ``score`` when ``quantile`` is given.
        """
        if not 0.0 < coverage < 1.0:
            raise BoundsError(f"coverage must be strictly between 0 and 1, got {coverage!r}")
        raw = np.asarray(raw, dtype=float).reshape(-1)
        distance, j = self.nearest(F)
        support = self.in_support(F, distance)
        s = 1.0 + distance / self.d_ref
        mean = np.clip(raw, self.y_min, self.y_max)
        nearest_y = self._arrays["record_y"][j] if len(self.record_y) else mean
        mean = np.where(support, mean, np.minimum(mean, nearest_y))
        tail = (1.0 - coverage) / 2.0
        # the lower bound stops at the worst record: the records show nothing below it
        out = {"accuracy": mean,
               "lower": np.clip(mean + self.quantile(tail) * s, min(self.y_min, 100.0), 100.0),
               "upper": np.clip(mean + self.quantile(1.0 - tail) * s, 0.0, 100.0),
               "in_support": support}
        out["lower"] = np.minimum(out["lower"], mean)
        out["upper"] = np.maximum(out["upper"], mean)
        if quantile is not None:
            if quantile == 0.5:
                out["score"] = mean
            else:
                # pessimistic: never above the mean. Residuals skewed by a few networks that failed
                # to train put their 0.4 quantile above 0 (a refit of ``fastnax run`` on digits:
                # +0.54); ``mean + q * s`` would then score over the mean, more so the farther a
                # candidate lies from the records, and draw the search away from them
                offset = min(self.quantile(quantile), 0.0)
                out["score"] = np.clip(mean + offset * s, self.y_min, 100.0)
        return out

    # --- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"method": "cv+ conformal, nearest-record scaled", "columns": list(self.columns),
                "center": list(self.center), "scale": list(self.scale), "low": list(self.low),
                "high": list(self.high), "records": [list(r) for r in self.records],
                "radius": self.radius, "d_ref": self.d_ref,
                "scaled_residuals": list(self.scaled_residuals), "y_min": self.y_min,
                "y_max": self.y_max, "record_y": list(self.record_y),
                "record_archs": list(self.record_archs),
                "record_space": ([self.record_space[0], dict(self.record_space[1])] if self.record_space
                                 else None),
                "record_genotypes": [list(g) for g in self.record_genotypes]}

    @classmethod
    def from_dict(cls, data, n_features: int | None = None) -> "Uncertainty":
        """Rebuild from :meth:`to_dict` output, checking every field (sidecars are untrusted)."""
        try:
            columns = tuple(int(c) for c in data["columns"])
            k = len(columns)
            vecs = {name: tuple(float(v) for v in data[name]) for name in ("center", "scale", "low", "high")}
            records = tuple(tuple(float(v) for v in row) for row in data["records"])
            record_y = tuple(float(v) for v in data["record_y"])
            residuals = tuple(float(v) for v in data["scaled_residuals"])
            scalars = {name: float(data[name]) for name in ("radius", "d_ref", "y_min", "y_max")}
            record_archs = tuple(data.get("record_archs") or ())
            if not all(isinstance(a, str) for a in record_archs):
                raise TypeError("record_archs must be architecture strings")
            space_field = data.get("record_space")
            record_space = ()
            if space_field is not None:
                name, options = space_field
                if not isinstance(name, str) or not isinstance(options, dict):
                    raise TypeError("record_space must be [name, options]")
                record_space = (name, tuple(sorted(options.items())))
            record_genotypes = tuple(tuple(int(v) for v in g) for g in (data.get("record_genotypes") or ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise PredictorFileError(f"malformed uncertainty block in predictor sidecar ({type(exc).__name__}: {exc})") from None
        bad = (any(len(v) != k for v in vecs.values()) or any(len(r) != k for r in records)
               or len(records) != len(record_y) or len(residuals) < 1
               or (record_archs and len(record_archs) != len(record_y))
               or (record_genotypes and (len(record_genotypes) != len(record_archs) or not record_space))
               or (n_features is not None and any(c < 0 or c >= n_features for c in columns))
               or not all(np.isfinite(v) for v in (*residuals, *record_y, *scalars.values()))
               or scalars["d_ref"] <= 0 or any(v <= 0 for v in vecs["scale"]))
        if bad:
            raise PredictorFileError("inconsistent uncertainty block in predictor sidecar (lengths, "
                                     "column indices or non-finite values)")
        return cls(columns=columns, **vecs, records=records, record_y=record_y,
                   scaled_residuals=residuals, record_archs=record_archs, record_space=record_space,
                   record_genotypes=record_genotypes, **scalars)


def read_columns(model_json: dict) -> list[int]:
    """Feature columns used by any split of a saved XGBoost JSON model (sorted)."""
    try:
        trees = model_json["learner"]["gradient_booster"]["model"]["trees"]
        used = set()
        for tree in trees:
            lefts = tree["left_children"]
            for node, feature in enumerate(tree["split_indices"]):
                if lefts[node] != -1:
                    used.add(int(feature))
    except (KeyError, TypeError, IndexError) as exc:
        raise PredictorFileError(f"malformed XGBoost JSON model ({type(exc).__name__})") from None
    return sorted(used)
