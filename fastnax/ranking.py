"""Hardware-ranking studies: do hardware targets rank architectures alike?

Given a cost of each of n architectures on each of T hardware targets (measured latencies from a
CSV such as HW-NAS-Bench's, or fastnax's own cost model under several presets and crossbar
settings), a study reports

- the T×T matrices of Kendall tau and Spearman rho between the targets' rankings;
- for every target, the proxy target that ranks its architectures best;
- with accuracies, Pareto transfer: the accuracy/cost front found on a proxy target, scored on the
  real target (recall of the real front, and the hypervolume it keeps);
- the latency-monotonicity answer ("can I search once on a proxy device?"): a target is
  well served by a proxy when tau >= ``monotone_tau`` (0.9 by default) and the proxy's front keeps
  >= 0.95 of the target front's hypervolume.

The correlations are scipy's (``kendalltau`` with the tau-b tie correction, ``spearmanr``), so a
study on a file reproduces what one computes from the file directly. Fronts and hypervolumes are
those of the search (:mod:`fastnax.search.pareto`), on the matrix ``(-accuracy, cost)``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, RecordsError, unknown
from fastnax.search.pareto import accuracy_cost_matrix, hypervolume_2d, non_dominated_mask


@dataclass
class RankingStudy:
    """Result of :func:`study`.

    Attributes
    ----------
    targets : list of str
    kendall, spearman : ndarray of shape (T, T)
    best_proxy : dict target -> (proxy name, kendall tau)
    pareto_recall, pareto_hv_ratio : ndarray of shape (T, T) or None
        Row = proxy, column = target. Recall: fraction of the target's accuracy/cost front that the
        proxy's front contains. HV ratio: hypervolume of the proxy's front re-priced on the target,
        over the target front's own hypervolume.
    n_archs : int
    """

    targets: list[str]
    kendall: np.ndarray
    spearman: np.ndarray
    best_proxy: dict[str, tuple[str, float]]
    n_archs: int
    pareto_recall: np.ndarray | None = None
    pareto_hv_ratio: np.ndarray | None = None
    monotone_tau: float = 0.9
    source: dict = field(default_factory=dict)

    def monotonicity(self) -> dict[str, dict]:
        """For each target: its best proxy, the tau, and whether one search on the proxy serves it."""
        out = {}
        for j, target in enumerate(self.targets):
            proxy, tau = self.best_proxy[target]
            i = self.targets.index(proxy)
            hv = None if self.pareto_hv_ratio is None else float(self.pareto_hv_ratio[i, j])
            ok = tau >= self.monotone_tau and (hv is None or hv >= 0.95)
            out[target] = {"proxy": proxy, "kendall": round(float(tau), 6),
                           "pareto_hv_ratio": None if hv is None else round(hv, 6),
                           "search_once_on_proxy": bool(ok)}
        return out

    def to_dict(self) -> dict:
        def mat(a):
            return None if a is None else [[round(float(v), 6) for v in row] for row in a]

        return {"targets": list(self.targets), "n_archs": self.n_archs,
                "kendall": mat(self.kendall), "spearman": mat(self.spearman),
                "best_proxy": {t: {"proxy": p, "kendall": round(float(tau), 6)}
                               for t, (p, tau) in self.best_proxy.items()},
                "pareto_recall": mat(self.pareto_recall), "pareto_hv_ratio": mat(self.pareto_hv_ratio),
                "monotonicity": self.monotonicity(), "source": self.source}

    def plot(self, path: str | Path, metric: str = "kendall") -> Path:
        """Write a heat map PNG of the rank-correlation matrix."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        matrix = self.kendall if metric == "kendall" else self.spearman
        T = len(self.targets)
        fig, ax = plt.subplots(figsize=(max(4.5, 1.6 + 0.55 * T), max(3.8, 1.2 + 0.5 * T)))
        im = ax.imshow(matrix, vmin=min(0.0, float(np.nanmin(matrix))), vmax=1.0, cmap="viridis")
        ax.set_xticks(range(T), self.targets, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(T), self.targets, fontsize=8)
        if T <= 12:
            for i in range(T):
                for j in range(T):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if matrix[i, j] < 0.6 else "black")
        fig.colorbar(im, ax=ax, label=f"{metric} rank correlation")
        ax.set_title(f"Rank agreement, {self.n_archs} architectures", fontsize=9)
        fig.tight_layout()
        from fastnax.io import atomic_write_bytes

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        plt.close(fig)
        return atomic_write_bytes(path, buf.getvalue())


def rank_correlations(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall tau-b and Spearman rho between every pair of columns of ``costs`` (n, T)."""
    from scipy.stats import kendalltau, spearmanr

    costs = _check_costs(costs)
    T = costs.shape[1]
    kendall = np.eye(T)
    spearman = np.eye(T)
    for i in range(T):
        for j in range(i + 1, T):
            kendall[i, j] = kendall[j, i] = kendalltau(costs[:, i], costs[:, j]).statistic
            spearman[i, j] = spearman[j, i] = spearmanr(costs[:, i], costs[:, j]).statistic
    return kendall, spearman


def _front(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of the accuracy/cost front (accuracy maximised, cost minimised; ties kept once)."""
    return non_dominated_mask(accuracy_cost_matrix(accuracy, cost, log_cost=False))


def _hypervolume(accuracy: np.ndarray, cost: np.ndarray, acc_ref: float, cost_ref: float) -> float:
    """Area dominated by the (accuracy, cost) points inside the box from (acc_ref, cost_ref)."""
    return hypervolume_2d(accuracy_cost_matrix(accuracy, cost, log_cost=False), (-acc_ref, cost_ref))


def study(costs: np.ndarray, targets: list[str], accuracy: np.ndarray | None = None,
          monotone_tau: float = 0.9, source: dict | None = None) -> RankingStudy:
    """Rank-correlation study of n architectures priced on T targets.

    Parameters
    ----------
    costs : ndarray of shape (n, T)
        Cost (latency, energy, EDAP, ...) of every architecture on every target; lower is better.
    targets : list of str
        Names of the T targets.
    accuracy : ndarray of shape (n,), optional
        Accuracies of the architectures, for the Pareto-transfer figures.
    """
    costs = _check_costs(costs)
    if len(targets) != costs.shape[1]:
        raise BoundsError(f"{len(targets)} target names for {costs.shape[1]} cost columns")
    if costs.shape[1] < 2:
        raise BoundsError("a ranking study needs at least two targets")
    kendall, spearman = rank_correlations(costs)
    T = len(targets)
    best_proxy = {}
    for j, target in enumerate(targets):
        others = [i for i in range(T) if i != j]
        i = max(others, key=lambda k: (kendall[k, j], -k))
        best_proxy[target] = (targets[i], float(kendall[i, j]))
    recall = hv_ratio = None
    if accuracy is not None:
        accuracy = np.asarray(accuracy, dtype=float)
        if accuracy.shape != (costs.shape[0],) or not np.all(np.isfinite(accuracy)):
            raise BoundsError(f"accuracy must be a finite array of shape ({costs.shape[0]},)")
        fronts = [_front(accuracy, costs[:, t]) for t in range(T)]
        acc_ref = float(accuracy.min())
        recall = np.zeros((T, T))
        hv_ratio = np.zeros((T, T))
        for t in range(T):
            cost_ref = float(costs[:, t].max())
            hv_true = _hypervolume(accuracy, costs[:, t], acc_ref, cost_ref)
            for p in range(T):
                chosen = fronts[p]
                recall[p, t] = np.sum(chosen & fronts[t]) / max(int(fronts[t].sum()), 1)
                hv = _hypervolume(accuracy[chosen], costs[chosen, t], acc_ref, cost_ref)
                hv_ratio[p, t] = hv / hv_true if hv_true > 0 else 1.0
    return RankingStudy(list(targets), kendall, spearman, best_proxy, int(costs.shape[0]), recall,
                        hv_ratio, monotone_tau, dict(source or {}))


def _check_costs(costs) -> np.ndarray:
    costs = np.asarray(costs, dtype=float)
    if costs.ndim != 2 or costs.shape[0] < 3:
        raise BoundsError(f"costs must be a 2-D array with at least 3 architectures, got shape {costs.shape}")
    if not np.all(np.isfinite(costs)):
        raise BoundsError("costs contain NaN or infinite values")
    return costs


def read_cost_csv(path: str | Path, targets: list[str] | None = None, prefix: str = "lat_ms_"
                  ) -> tuple[np.ndarray, list[str], list[str]]:
    """Read a cost table such as ``nb201_latency.csv``.

    Columns named ``{prefix}{target}`` are targets; an ``arch_str`` column, if present, names the
    rows. Returns (costs (n, T), target names, architecture names).
    """
    path = Path(path)
    if not path.is_file():
        raise RecordsError(f"cost file not found: {path}")
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise RecordsError(f"{path}: the file is empty") from None
        available = [h[len(prefix):] for h in header if h.startswith(prefix)]
        if not available:
            raise RecordsError(f"{path}: no column starts with {prefix!r}; columns: {', '.join(header[:8])}")
        chosen = available if not targets else list(targets)
        for t in chosen:
            if t not in available:
                raise unknown(f"target in {path.name}", t, available)
        cols = [header.index(prefix + t) for t in chosen]
        name_col = header.index("arch_str") if "arch_str" in header else None
        rows, names = [], []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                rows.append([float(row[c]) for c in cols])
            except (ValueError, IndexError):
                raise RecordsError(f"{path}, line {line}: a cost is missing or not a number") from None
            if not all(np.isfinite(rows[-1])):
                raise RecordsError(f"{path}, line {line}: a cost is NaN or infinite; costs must be finite numbers")
            names.append(row[name_col] if name_col is not None else str(line - 2))
    costs = np.asarray(rows, dtype=float)
    return costs, chosen, names


def read_accuracy_column(path: str | Path, column: str, names: list[str]) -> np.ndarray:
    """Accuracies of the named rows (``arch_str``) from a CSV such as ``nb201_accuracy.csv``."""
    path = Path(path)
    if not path.is_file():
        raise RecordsError(f"accuracy file not found: {path}")
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if column not in (reader.fieldnames or []):
            raise unknown(f"accuracy column of {path.name}", column,
                          [f for f in reader.fieldnames or [] if f not in ("arch_str", "nb201_index")])
        by_name = {row["arch_str"]: float(row[column]) for row in reader}
    try:
        return np.asarray([by_name[n] for n in names], dtype=float)
    except KeyError as exc:
        raise RecordsError(f"{path}: no accuracy for architecture {exc.args[0]!r}") from None


def preset_costs(space, X, presets: list[str], metric: str = "latency_ns",
                 crossbar_sizes: list[int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Costs of the architectures ``X`` of ``space`` under fastnax presets (× uniform crossbar sizes).

    With ``crossbar_sizes``, every weight layer is mapped to that crossbar size in turn, so a target
    is a (preset, crossbar size) pair such as ``puma-32nm/x128``.
    """
    from fastnax import hwmodel

    valid = ("energy_pj", "latency_ns", "area_mm2", "edap")
    if metric not in valid:
        raise unknown("metric", metric, valid)
    table = space.layer_table(np.asarray(X, dtype=float))
    columns, names = [], []
    for name in presets:
        model = hwmodel.get_preset(name)
        for size in crossbar_sizes or [None]:
            t = table
            label = name
            if size is not None:
                if int(size) <= 0:
                    raise BoundsError(f"crossbar size must be a positive integer, got {size}")
                t = table[np.arange(table.n_archs)]
                t.crossbar_size = np.where(t.mask, int(size), 0)
                label = f"{name}/x{int(size)}"
            columns.append(np.asarray(getattr(model.evaluate(t), metric), dtype=float))
            names.append(label)
    return np.stack(columns, axis=1), names
