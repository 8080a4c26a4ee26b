"""An interactive, self-contained HTML explorer of one or more search results.

``write_html(results, path)`` writes ONE file that opens offline in any browser: the page, its
script (``fastnax/data/explorer.html``, hand-written canvas and SVG, no library) and the data are
inlined, nothing is fetched. It shows every result's Pareto front and evaluated candidates on
switchable axes (predicted accuracy, energy, latency, area, EDAP, noise sigma; log scales where a
quantity spans decades), the baselines and the search's constraints; clicking a front design or a
baseline opens its per-layer hardware table and a drawing of the network by stage.

Why hand-written canvas (``benchmarks/explore_render.py``: 20,000 candidates in headless
Chromium, median of 5 loads): this page is 0.79 MB and shows its plot 0.31 s after navigation
(the draw itself 0.10 s); Vega-Lite 2.0 MB / 1.1 s, bokeh 1.7 MB / 1.6 s, plotly 5.3 MB /
2.5 s (SVG or WebGL). plotly and bokeh would be new dependencies, and no Python package ships
Vega-Lite's scripts (altair loads them from a CDN). The page's script is ~30 kB; the rest is data.

The per-layer tables are computed here, at export time, with the hardware model's per-layer
breakdown (:meth:`fastnax.hwmodel.HardwareModel.evaluate_archs`), for the front, the best design
and the baselines of each result; other candidates carry their totals only.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from pathlib import Path

import numpy as np

from fastnax.errors import BoundsError, FastnaxError, RecordsError

#: Candidates embedded per result; past this many a seeded uniform subsample is kept (the front,
#: the best design and the baselines are always whole).
MAX_CANDIDATES = 20_000

#: Candidate columns embedded (float32, base64); EDAP is recomputed in the page as the product.
CANDIDATE_COLUMNS = ("accuracy", "energy_pj", "latency_ns", "area_mm2", "noise_sigma")
#: Further accuracy columns embedded when the search kept them (they are switchable axes too).
OPTIONAL_COLUMNS = ("accuracy_clean", "accuracy_noisy", "accuracy_lower", "accuracy_upper")

#: Columns of a per-layer table row (rows are lists in this order, to keep the page small).
LAYER_COLUMNS = ("index", "kind", "kernel", "stride", "c_in", "c_out", "stage", "crossbar_size", "crossbars",
                 "utilization", "adc_bits", "energy_pj", "latency_ns", "area_mm2", "noise_sigma")

_DATA_MARK = "/*FASTNAX_DATA*/null"


def _round(value) -> float:
    """Six significant digits: what a table shows, at a third of the characters of a float."""
    return float(f"{float(value):.6g}")


#: What a result must hold (a :class:`fastnax.search.SearchResult`, or anything shaped like one:
#: this module sits beside the search, not above it, so it does not import it).
RESULT_ATTRIBUTES = ("front", "best", "baselines", "settings", "accuracy_model", "seed", "n_evaluations")


def _check_result(result):
    missing = [a for a in RESULT_ATTRIBUTES if not hasattr(result, a)]
    if missing:
        raise RecordsError(f"the explorer takes SearchResult objects, got {type(result).__name__} "
                           f"(no {missing[0]!r})")
    return result


def layer_breakdown(archs, preset) -> dict:
    """Per-layer hardware table and stage layout of each architecture, as JSON-ready dicts.

    Parameters
    ----------
    archs : sequence of str
        Canonical architecture strings (all of one space).
    preset : str or HardwareModel
        The hardware model the search priced them with.

    Returns
    -------
    dict
        ``{arch: {"layers": [[...], ...], "totals": {...}}}``. Each layer row is a list of the
        :data:`LAYER_COLUMNS`: ``index`` (position in the architecture's DAG), ``kind`` (``conv``,
        ``shortcut`` for a projection on a skip connection, ``linear``), ``kernel``, ``stride``,
        ``c_in``, ``c_out``, ``stage`` (a label: the output resolution of a convolution,
        ``classifier`` for linear layers), ``crossbar_size`` (N of the N×N crossbars),
        ``crossbars``, ``utilization`` (0-1), ``adc_bits``, ``energy_pj``, ``latency_ns``,
        ``area_mm2`` (per inference, this layer) and ``noise_sigma`` (relative weight-noise
        sigma), floats to six significant digits. ``totals`` holds the architecture's
        ``energy_pj``, ``latency_ns``, ``area_mm2``, ``edap``, ``macs``, ``tops``, ``tops_per_w``.
    """
    from fastnax.arch import Architecture
    from fastnax.hwmodel import get_preset

    archs = list(dict.fromkeys(archs))
    if not archs:
        return {}
    model = get_preset(preset)
    parsed = [Architecture.from_string(a) for a in archs]
    cost = model.evaluate_archs(parsed)
    out = {}
    for i, (name, arch) in enumerate(zip(archs, parsed)):
        layers = arch.layers
        # a projection shortcut: a conv on a skip connection, parallel to the block it bypasses (it
        # feeds nothing but that add, and its input also feeds another branch); the source of an
        # identity skip (a stem feeding a block and its add, or a NAS-Bench-201 cell) is not one
        consumers = [0] * len(layers)
        for layer in layers:
            for j in layer.inputs:
                consumers[j] += 1

        def branches_off(j: int) -> bool:  # through a pooling of its own (NAS-Bench-201's reductions)
            i = layers[j].inputs[0] if layers[j].inputs else None
            while i is not None and layers[i].op in ("avgpool", "maxpool") and consumers[i] == 1 and layers[i].inputs:
                i = layers[i].inputs[0]
            return i is not None and consumers[i] > 1

        shortcuts = {j for layer in layers for j in layer.skip_inputs if consumers[j] == 1 and branches_off(j)}
        rows = []
        j = 0
        for index, layer in enumerate(layers):
            if layer.op not in ("conv", "linear"):
                continue
            kind = "shortcut" if (layer.op == "conv" and index in shortcuts) else layer.op
            row = {"index": index, "kind": kind, "kernel": int(layer.kernel), "stride": int(layer.stride),
                   "c_in": int(layer.c_in), "c_out": int(layer.c_out),
                   "stage": "classifier" if layer.op == "linear" else f"{layer.out_hw[0]}x{layer.out_hw[1]}",
                   "crossbar_size": int(layer.crossbar_size), "crossbars": int(cost.crossbars[i, j]),
                   "utilization": _round(cost.utilization[i, j]), "adc_bits": int(cost.adc_bits[i, j]),
                   "energy_pj": _round(cost.layer_energy_pj[i, j]),
                   "latency_ns": _round(cost.layer_latency_ns[i, j]),
                   "area_mm2": _round(cost.layer_area_mm2[i, j]), "noise_sigma": _round(cost.noise_sigma[i, j])}
            rows.append([row[k] for k in LAYER_COLUMNS])
            j += 1
        out[name] = {"layers": rows, "totals": {
            "energy_pj": float(cost.energy_pj[i]), "latency_ns": float(cost.latency_ns[i]),
            "area_mm2": float(cost.area_mm2[i]), "edap": float(cost.edap[i]),
            "macs": int(cost.macs[i]), "tops": float(cost.tops[i]),
            "tops_per_w": float(cost.tops_per_w[i])}}
    return out


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def result_data(result, label: str | None = None, max_candidates: int = MAX_CANDIDATES,
                evaluated: dict | None = None, note: str | None = None) -> dict:
    """The JSON-ready data of one result in the explorer.

    Parameters
    ----------
    result : SearchResult
    label : str, optional
        Legend label (default: objective, method, preset and accuracy setting).
    max_candidates : int
        Candidates embedded at most; past it a uniform subsample seeded by the result's seed.
    evaluated : dict, optional
        The evaluated candidates (what :attr:`SearchResult.evaluated` holds: ``accuracy``,
        ``energy_pj``, ``latency_ns``, ``area_mm2``, ``noise_sigma``, ``feasible``, each (n,)),
        when the result does not carry them: a result read from JSON keeps its front only;
        ``fastnax explore`` re-runs its search to recover them
        (:func:`fastnax.commands.explore.rerun_candidates`).
    note : str, optional
        One line saying where ``evaluated`` comes from.
    """
    result = _check_result(result)
    if isinstance(max_candidates, bool) or not isinstance(max_candidates, (int, np.integer)) or max_candidates < 0:
        raise BoundsError(f"max_candidates must be a non-negative integer, got {max_candidates!r}")
    s = result.settings
    label = label or f"{s.get('space')} {s.get('objective')} {s.get('method')} {s.get('preset')} ({s.get('accuracy', 'clean')})"
    if evaluated is None:
        evaluated = getattr(result, "evaluated", None)
        note = note or ("candidates of this search" if evaluated is not None else
                        "candidates not shown: result.json keeps the front only ('fastnax explore' re-runs "
                        "the search to recover them)")
    note = note or "candidates given"
    candidates = None
    if evaluated is not None and len(evaluated["accuracy"]):
        n = len(evaluated["accuracy"])
        keep = np.arange(n)
        if n > max_candidates:
            rng = np.random.default_rng(result.seed)
            keep = np.sort(rng.choice(n, size=max_candidates, replace=False))
            note += f"; {max_candidates:,} of {n:,} drawn uniformly (seed {result.seed})"
        candidates = {"n_total": int(n), "n_shown": int(len(keep)),
                      "columns": {k: _pack(np.asarray(evaluated[k], dtype=float)[keep])
                                  for k in CANDIDATE_COLUMNS + OPTIONAL_COLUMNS if k in evaluated},
                      "feasible": _pack(np.asarray(evaluated["feasible"], dtype=float)[keep])}
    archs = [p["arch"] for p in result.front] + [p["arch"] for p in result.baselines]
    if result.best:
        archs.append(result.best["arch"])
    try:
        designs, designs_note = layer_breakdown(archs, s.get("preset")), ""
    except FastnaxError as exc:
        designs, designs_note = {}, f"no per-layer tables: {exc}"
    return {"label": label, "settings": s, "accuracy_model": result.accuracy_model, "seed": result.seed,
            "n_evaluations": result.n_evaluations, "front": result.front, "best": result.best,
            "baselines": result.baselines, "candidates": candidates, "candidates_note": note,
            "designs": designs, "designs_note": designs_note}


def html(results, labels=None, max_candidates: int = MAX_CANDIDATES, title: str = "fastnax explorer",
         prepared: list | None = None) -> str:
    """The explorer page of one or more results, as one self-contained HTML string.

    Parameters
    ----------
    results : SearchResult or sequence of SearchResult
        Overlaid in one plot, one colour each.
    labels : sequence of str, optional
        Legend labels, one per result.
    max_candidates : int
        See :func:`result_data`.
    title : str
        The page title.
    prepared : list of dict, optional
        :func:`result_data` of each result, when the caller has it already.
    """
    from fastnax import __version__

    if not isinstance(results, (list, tuple)):
        results = [results]
    if not results:
        raise RecordsError("the explorer needs at least one search result")
    labels = list(labels) if labels is not None else [None] * len(results)
    if len(labels) != len(results):
        raise RecordsError(f"{len(labels)} labels for {len(results)} results")
    data = {"title": title, "fastnax_version": __version__, "layer_columns": list(LAYER_COLUMNS),
            "results": prepared if prepared is not None else
            [result_data(r, lab, max_candidates) for r, lab in zip(results, labels)]}
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    # inside <script>, "</script" or "<!--" would end or change the element: "<" occurs only in
    # JSON strings, where the escape \u003c means the same character
    text = text.replace("<", "\\u003c")
    template = resources.files("fastnax").joinpath("data/explorer.html").read_text(encoding="utf-8")
    if _DATA_MARK not in template:
        raise RuntimeError("explorer template lacks its data mark")
    return template.replace("<title>fastnax explorer</title>", f"<title>{_escape(title)}</title>").replace(
        _DATA_MARK, text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_html(results, path, labels=None, max_candidates: int = MAX_CANDIDATES,
               title: str = "fastnax explorer", prepared: list | None = None) -> Path:
    """Write the explorer (:func:`html`) to ``path``, atomically; returns the path."""
    from fastnax.io import atomic_write_text

    return atomic_write_text(path, html(results, labels, max_candidates, title, prepared))
