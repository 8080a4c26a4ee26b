"""The result of a search: the Pareto front, the best design, baselines, settings; JSON and PNG.

``to_json`` is deterministic: the same search with the same seed writes byte-identical files except
for the ``timings`` object. ``from_json`` reads plain JSON, checks every field and never executes
anything from the file.
"""

from __future__ import annotations

from fastnax.units import quantity

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from fastnax.errors import ArchitectureError, RecordsError

POINT_KEYS = ("arch", "accuracy", "energy_pj", "latency_ns", "area_mm2", "edap")
FORMAT = "fastnax-search-result"
FORMAT_VERSION = 1


def _risk_text(settings: dict, model: dict | None = None) -> str:
    if str((model or {}).get("intervals", "")).startswith("none"):  # a score, or fitted without CV
        return "scored accuracy: the value itself (this accuracy model has no interval: --risk has no effect)"
    risk = float(settings["risk"])
    what = "the mean prediction" if risk == 0.5 else (
        f"its {risk:g} quantile" + (" (the lower end of the 80 % interval)" if abs(risk - 0.1) < 1e-12 else "")
        + ", at most the mean")
    return f"scored accuracy: {what}; --risk 0.5 scores the mean"


def _check_point(point, where: str, extra: tuple[str, ...] = ()) -> dict:
    if not isinstance(point, dict):
        raise RecordsError(f"search result {where} must be an object, got {type(point).__name__}")
    for key in POINT_KEYS + extra:
        if key not in point:
            raise RecordsError(f"search result {where} lacks the field {key!r}")
    if not isinstance(point["arch"], str):
        raise RecordsError(f"search result {where}: arch must be a string")
    for key in POINT_KEYS[1:]:
        value = point[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RecordsError(f"search result {where}: {key} must be a finite number, got {value!r}")
    return dict(point)


@dataclass
class SearchResult:
    """What a search found.

    Attributes
    ----------
    front : list of dict
        The Pareto front (accuracy maximised, the objective's cost minimised) of every feasible
        candidate evaluated, sorted by cost; keys ``arch`` (canonical string), ``accuracy``
        (predicted, percent or the score's accuracy-like scale: see ``accuracy_model``),
        ``energy_pj``, ``latency_ns``, ``area_mm2``, ``edap`` (pJ·ns·mm²), ``noise_sigma``.
    best : dict or None
        The feasible candidate with the lowest scalar objective (same keys, plus ``objective``).
    baselines : list of dict
        The space's named baselines (``resnet20``...) priced the same way, with ``name``.
    n_evaluations : int
        Candidates priced (a candidate priced twice counts twice).
    timings : dict
        ``search_s`` (the optimisation), ``total_s`` (including the accuracy model's setup).
    seed : int
    settings : dict
        Space, options, objective, method, preset, constraints, budget, method details;
        ``accuracy_quantity`` says what every ``accuracy`` is (``accuracy_clean``,
        ``accuracy_noisy``, ``accuracy_noisy_penalized``, ``score``...; see
        ``fastnax.search.accuracy.QUANTITIES``), and each point also carries the accuracy model's
        own prediction under its target's name.
    accuracy_model : dict
        Which accuracy model scored the candidates (predictor file and its records, or
        ``"training-free score"``).
    evaluated : dict or None
        In memory only (not saved): ``index`` (n, d) canonical vectors and their columns.
    """

    front: list
    best: dict | None
    baselines: list
    n_evaluations: int
    timings: dict
    seed: int
    settings: dict
    accuracy_model: dict
    evaluated: dict | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        s, best = self.settings, self.best
        best_text = "None" if best is None else (f"accuracy {best['accuracy']:.2f}, {s.get('cost', 'edap')} "
                                                  f"{best.get(s.get('cost', 'edap'), float('nan')):.4g}")
        return (f"SearchResult(space={s.get('space')!r}, objective={s.get('objective')!r}, "
                f"method={s.get('method')!r}, preset={s.get('preset')!r}, seed={self.seed}, "
                f"front={len(self.front)} designs, best=({best_text}), n_evaluations={self.n_evaluations})")

    # --- arrays and tables -------------------------------------------------------------------
    def arrays(self, which: str = "front") -> dict:
        """The numeric columns of ``which`` (``"front"``, ``"baselines"``) as arrays of shape (n,).

        Keys: every numeric field the points hold (``accuracy`` percent, ``energy_pj``,
        ``latency_ns``, ``area_mm2``, ``edap`` pJ·ns·mm², ``noise_sigma``...), plus ``arch`` (an
        object array of the canonical strings) and, for baselines, ``name``.
        """
        import numpy as np

        points = self._points(which)
        keys = [k for k in (points[0] if points else {}) if all(k in p for p in points)]
        return {k: np.asarray([p[k] for p in points], dtype=object) if isinstance(points[0][k], str) else
                np.asarray([np.nan if p[k] is None else p[k] for p in points], dtype=float) for k in keys}

    @property
    def F(self):
        """pymoo-style objective matrix of the front, shape (n_front, 2): ``-accuracy`` and the
        objective's cost column (both minimised)."""
        import numpy as np

        cost = self.settings.get("cost", "edap")
        return np.asarray([[-p["accuracy"], p[cost]] for p in self.front], dtype=float).reshape(-1, 2)

    def to_dataframe(self, which: str = "front"):
        """The front (or the baselines) as a pandas DataFrame, one row per design (pandas optional)."""
        try:
            import pandas
        except ImportError:
            from fastnax.errors import FastnaxError

            raise FastnaxError("to_dataframe needs pandas, which is not installed (pip install pandas); "
                               "result.arrays() gives the same columns as NumPy arrays") from None
        return pandas.DataFrame(self._points(which))

    def _points(self, which: str) -> list:
        if which not in ("front", "baselines"):
            from fastnax.errors import unknown

            raise unknown("point set", which, ("front", "baselines"))
        return self.front if which == "front" else self.baselines

    # --- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "seed": self.seed,
                "settings": self.settings, "accuracy_model": self.accuracy_model,
                "n_evaluations": self.n_evaluations, "best": self.best, "front": self.front,
                "baselines": self.baselines, "timings": self.timings}

    def to_json_text(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def to_json(self, path) -> Path:
        """Write the result as JSON, atomically; returns the path."""
        from fastnax.io import atomic_write_text

        return atomic_write_text(path, self.to_json_text())

    @classmethod
    def from_dict(cls, data) -> "SearchResult":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RecordsError(f"not a fastnax search result (expected a JSON object with "
                               f"format {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise RecordsError(f"search result format version {data.get('format_version')!r} is not "
                               f"supported; expected {FORMAT_VERSION}")
        for key, kind in (("seed", int), ("settings", dict), ("accuracy_model", dict),
                          ("n_evaluations", int), ("front", list), ("baselines", list),
                          ("timings", dict)):
            if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
                raise RecordsError(f"search result field {key!r} must be a {kind.__name__}")
        front = [_check_point(p, f"front[{i}]") for i, p in enumerate(data["front"])]
        best = None if data.get("best") is None else _check_point(data["best"], "best")
        baselines = [_check_point(p, f"baselines[{i}]", ("name",)) for i, p in enumerate(data["baselines"])]
        from fastnax.arch import Architecture

        for p in front + ([best] if best else []) + baselines:
            try:
                Architecture.from_string(p["arch"])
            except ArchitectureError as exc:
                raise RecordsError(f"search result holds a malformed architecture: {exc}") from None
        return cls(front=front, best=best, baselines=baselines, n_evaluations=data["n_evaluations"],
                   timings=data["timings"], seed=data["seed"], settings=data["settings"],
                   accuracy_model=data["accuracy_model"])

    @classmethod
    def from_json(cls, path) -> "SearchResult":
        """Read a result written by :meth:`to_json` (plain JSON; validated; nothing executed)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RecordsError(f"search result file {str(path)!r} does not exist") from None
        except UnicodeDecodeError:
            raise RecordsError(f"search result file {str(path)!r} is not UTF-8 JSON text (a binary or "
                               f"pickle payload?); fastnax reads results as plain JSON only") from None
        except OSError as exc:
            raise RecordsError(f"search result file {str(path)!r} cannot be read ({exc.strerror})") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordsError(f"search result file {str(path)!r} is not valid JSON ({exc.msg}, line "
                               f"{exc.lineno})") from None
        return cls.from_dict(data)

    # --- presentation ------------------------------------------------------------------------
    def table(self, max_rows: int = 12) -> str:
        """The front, the best design and the baselines as a readable text table."""
        acc_label = "acc%" if self.accuracy_model.get("kind") == "predictor" else "acc~"
        intervals = any(p.get("accuracy_lower") is not None and p.get("accuracy_upper") is not None
                        and p["accuracy_upper"] > p["accuracy_lower"] for p in (*self.front, *self.baselines))
        head = (f"{'':2}{acc_label:>6} {'80% interval':>13} {'energy':>9} {'latency':>9} "
                f"{'area mm2':>9} {'EDAP pJ.ns.mm2':>14}  architecture")

        def row(p, mark=""):
            lo, hi = p.get("accuracy_lower"), p.get("accuracy_upper")
            interval = f"{lo:5.1f}-{hi:5.1f}" if intervals and lo is not None and hi is not None else "-"
            flag = "=" if p.get("measured") else ("?" if p.get("in_support") is False else " ")
            return (f"{mark:2}{p['accuracy']:6.2f} {interval:>12}{flag} {quantity('energy_pj', p['energy_pj']):>9} "
                    f"{quantity('latency_ns', p['latency_ns']):>9} {p['area_mm2']:9.3g} {p['edap']:14.3g}  {p['arch']}")

        s = self.settings
        lines = [f"fastnax search: space {s.get('space')} ({s.get('space_options')}), objective "
                 f"{s.get('objective')}, method {s.get('method')}, preset {s.get('preset')}, seed {self.seed}",
                 f"accuracy model: {_model_text(self.accuracy_model)}",
                 *([f"accuracy column: {s['accuracy_quantity']} ({s.get('accuracy_meaning', '')})"]
                   if s.get("accuracy_quantity") else []),
                 *([f"note: {s['accuracy_chips_note']}"] if s.get("accuracy_chips_note") else []),
                 *([f"chips: {s['preset']}, the predictor's records' non-ideality (--nonideality NAME "
                    f"prices others)"] if s.get("nonideality_from_records") else []),
                 *([_risk_text(s, self.accuracy_model)] if s.get("risk") is not None else []),
                 f"{self.n_evaluations} candidates priced in {self.timings.get('search_s', 0):.3f} s; "
                 f"Pareto front: {len(self.front)} designs (accuracy vs {s.get('cost')})", "", head]
        front = self.front
        if len(front) > max_rows:
            pick = sorted({round(i * (len(front) - 1) / (max_rows - 1)) for i in range(max_rows)})
            front = [front[i] for i in pick]
        best_arch = self.best["arch"] if self.best else None
        lines += [row(p, "*" if p["arch"] == best_arch else "") for p in front]
        if len(front) < len(self.front):
            lines.append(f"  ({len(front)} of the {len(self.front)} front designs, spread along the front; "
                         f"--json or --out DIR lists them all)")
        if self.best:
            lines += ["", "best design (*):", row(self.best, "*")]
        else:
            lines += ["", "no candidate met the constraints: " + self._why_empty()]
        if self.baselines:
            lines += ["", "baselines:"]
            for b in self.baselines:
                lines.append(row(b) + f"   [{b['name']}]")
                if self.best:
                    term = "accuracy" if acc_label == "acc%" else "training-free score (acc~)"
                    caveat = ""
                    if b.get("in_support") is False or self.best.get("in_support") is False:
                        caveat = ("  (a design outside the records' support: its accuracy is capped at "
                                  "the nearest record's, not evidence; train it to compare)")
                    if b.get("accuracy_mean") is not None and self.best.get("accuracy_mean") is not None \
                            and abs(self.best["accuracy"] - self.best["accuracy_mean"]) > 1e-9:
                        term += f" (mean {self.best['accuracy_mean'] - b['accuracy_mean']:+.2f}) scored"
                    lines.append(f"    best vs {b['name']}: {term} {self.best['accuracy'] - b['accuracy']:+.2f}, "
                                 f"EDAP x{self.best['edap'] / b['edap']:.3g}{caveat}")
        if intervals or any(p.get("in_support") is False for p in (*self.front, *self.baselines)):
            lines += ["", "? outside the support of the predictor's records (value capped at the nearest "
                          "record's accuracy); = a record's measured accuracy"]
        return "\n".join(lines)

    def _why_empty(self) -> str:
        """Which constraint removed every candidate, with the best value any candidate reached."""
        c = self.settings.get("constraints") or {}
        ev = self.evaluated or {}
        parts = []
        for key, column, unit, best in (("max_area_mm2", "area_mm2", "mm2", min),
                                        ("max_latency_ns", "latency_ns", "ns", min),
                                        ("min_accuracy", "accuracy", "%", max)):
            limit = c.get(key)
            if limit is None:
                continue
            values = ev.get(column)
            if values is not None and len(values):
                reached = float(best(values))
                shown = (quantity(column, reached) if column in ("latency_ns",) else f"{reached:.3g} {unit}")
                parts.append(f"{key} = {limit:g} {unit} (the best of {len(values)} candidates: {shown})")
            else:
                parts.append(f"{key} = {limit:g} {unit}")
        return "; ".join(parts) if parts else "none was feasible"

    def to_html(self, path, **options) -> Path:
        """Self-contained interactive HTML explorer of this result (see :mod:`fastnax.explore`)."""
        from fastnax.explore import write_html

        return write_html(self, path, **options)

    def plot(self, path) -> Path:
        """PNG of the front (accuracy vs EDAP or the objective's cost), baselines marked."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from fastnax.io import atomic_write_bytes

        cost = self.settings.get("cost", "edap")
        fig, ax = plt.subplots(figsize=(8.0, 4.4), dpi=110)
        pts = sorted(self.front, key=lambda p: p[cost])
        if pts and all(p.get("accuracy_lower") is not None for p in pts):  # the 80 % intervals
            ax.vlines([p[cost] for p in pts], [p["accuracy_lower"] for p in pts],
                      [p["accuracy_upper"] for p in pts], color="C0", alpha=0.25, lw=2,
                      label="80 % interval")
        ax.step([p[cost] for p in pts], [p["accuracy"] for p in pts], where="post", color="C0", lw=1,
                alpha=0.6)
        ax.scatter([p[cost] for p in pts], [p["accuracy"] for p in pts], s=14, color="C0",
                   label=f"Pareto front ({len(pts)})", zorder=3)
        if self.best:
            ax.scatter([self.best[cost]], [self.best["accuracy"]], s=90, marker="*", color="C3",
                       label="best (objective)", zorder=4)
        for i, b in enumerate(self.baselines):
            ax.scatter([b[cost]], [b["accuracy"]], s=50, marker="s", color=f"C{2 + i % 6}", zorder=4,
                       label=b["name"])
        ax.set_xscale("log")
        ax.set_xlabel({"edap": "EDAP (pJ·ns·mm²)", "latency_ns": "latency (ns)",
                       "energy_pj": "energy (pJ)", "area_mm2": "area (mm²)"}.get(cost, cost))
        kind = self.accuracy_model.get("kind")
        risk = self.settings.get("risk")
        scored = f", scored at its {risk:g} quantile" if risk is not None and kind == "predictor" else ""
        ax.set_ylabel(f"predicted accuracy (%){scored}" if kind == "predictor" else
                      "accuracy-like score (training-free)")
        s = self.settings
        ax.set_title(f"{s.get('space')} / {s.get('preset')} / {s.get('objective')} ({s.get('method')})",
                     fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        # outside the axes: inside, the legend hid baseline markers that fell in its corner
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        return atomic_write_bytes(path, buf.getvalue())


def _model_text(model: dict) -> str:
    if model.get("kind") == "predictor":
        parts = []
        records = model.get("records")
        if isinstance(records, dict):  # count, path, sha256 and (packaged ones) the training protocol
            text = f"{records.get('count')} records {records.get('path') or ''}".rstrip()
            if records.get("protocol"):
                text += f", each trained {records['protocol']}"
            parts.append(text)
        elif records is not None:
            parts.append(f"records {records}")
        parts += [f"{k} {model[k]}" for k in ("n_records", "dataset") if k in model]
        if model.get("hardware_features"):
            parts.append(f"features: graph metrics and the hardware model's noise on {model['hardware_features']}")
        extra = ", ".join(parts)
        return f"predictor {model.get('file') or model.get('class')}" + (f" ({extra})" if extra else "")
    return f"training-free score ({model.get('why', '')}; an accuracy-like scale, not a percent)"
