"""``fastnax explore``: one self-contained HTML page to explore one or more search results."""

from __future__ import annotations

from fastnax.commands.options import add_common
from fastnax.io import dumps_json


def register(sub) -> None:
    p = sub.add_parser("explore", help="write an interactive HTML explorer of search results (opens offline)")
    p.add_argument("results", nargs="+", metavar="RESULT.json",
                   help="result.json files written by 'fastnax search --out'; several are overlaid")
    p.add_argument("--out", default="front.html", metavar="FILE.html",
                   help="the page to write (default front.html)")
    p.add_argument("--label", action="append", default=None, metavar="TEXT",
                   help="legend label of each result, in order (repeat once per result)")
    p.add_argument("--max-candidates", type=int, default=None, metavar="N",
                   help="evaluated candidates drawn per result (default 20000; more are subsampled, "
                        "the front never)")
    p.add_argument("--front-only", action="store_true",
                   help="do not re-run the searches to recover their evaluated candidates")
    p.add_argument("--title", default="fastnax explorer", help="page title")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from fastnax import explore
    from fastnax.errors import BoundsError, RecordsError
    from fastnax.search.result import SearchResult

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise BoundsError(f"--out must name an .html file, got {args.out!r}")
    if out.exists() and out.is_dir():
        raise BoundsError(f"--out {args.out!r} is a folder; give the .html file to write")
    if args.label is not None and len(args.label) != len(args.results):
        raise BoundsError(f"--label given {len(args.label)} times for {len(args.results)} results; "
                          f"give one per result or none")
    max_candidates = explore.MAX_CANDIDATES if args.max_candidates is None else args.max_candidates
    if max_candidates < 0:
        raise BoundsError(f"--max-candidates must be >= 0, got {max_candidates}")
    results = [SearchResult.from_json(path) for path in args.results]
    if not results:
        raise RecordsError("no search result given")
    datas = []
    for i, r in enumerate(results):
        evaluated, note = (None, "candidates not shown (--front-only)") if args.front_only else rerun_candidates(r)
        datas.append(explore.result_data(r, None if args.label is None else args.label[i], max_candidates,
                                         evaluated=evaluated, note=note))
    written = explore.write_html(results, out, labels=args.label, max_candidates=max_candidates,
                                 title=args.title, prepared=datas)
    summary = {"out": str(written), "bytes": written.stat().st_size, "results": [
        {"file": str(path), "label": d["label"], "front": len(d["front"]), "baselines": len(d["baselines"]),
         "candidates_shown": d["candidates"]["n_shown"] if d["candidates"] else 0,
         "candidates_total": d["candidates"]["n_total"] if d["candidates"] else 0,
         "candidates_note": d["candidates_note"], "per_layer_tables": len(d["designs"])}
        for path, d in zip(args.results, datas)]}
    if args.json:
        print(dumps_json(summary, indent=2))
        return 0
    for row in summary["results"]:
        print(f"{row['file']}: front {row['front']} designs, {row['baselines']} baselines, "
              f"{row['candidates_shown']} of {row['candidates_total']} candidates ({row['candidates_note']})")
    print(f"wrote {written} ({summary['bytes'] / 1e6:.2f} MB); open it in any browser (works offline)")
    return 0


def _constraint_kwargs(settings: dict) -> dict:
    c = settings.get("constraints") or {}
    return {"max_area": c.get("max_area_mm2"), "max_latency": c.get("max_latency_ns"),
            "min_accuracy": c.get("min_accuracy")}


def rerun_candidates(result) -> tuple[dict | None, str]:
    """Evaluated candidates of a result read from JSON, by running its search again.

    ``result.json`` keeps the front, not the candidates. The search is deterministic (same
    settings and seed, same result), so ``fastnax explore`` runs it again and keeps the candidates only
    when the front it finds is the saved one, design for design and number for number.

    Returns
    -------
    evaluated : dict or None
        What :attr:`SearchResult.evaluated` holds, or ``None`` when the search cannot be re-run.
    note : str
        One line saying what was done, or why no candidates are shown.
    """
    from pathlib import Path

    import numpy as np

    from fastnax import search
    from fastnax.errors import FastnaxError

    s, model = result.settings, result.accuracy_model
    if model.get("kind") == "predictor":
        if not model.get("file") or not Path(model["file"]).exists():
            return None, (f"candidates not shown: the predictor file {model.get('file')!r} of this "
                          f"search is not here to re-run it")
        predictor = model["file"]
    else:
        from fastnax.predictors import TrainingFreeScore

        predictor = TrainingFreeScore()
    from fastnax.hwmodel import HardwareModel, presets
    from fastnax.search.spec import DEFAULT_RISK

    try:
        # a modified model (puma-32nm+rram-fastnax-default, +FILE, +modified) from the fields stored
        hardware = (s.get("preset") if s.get("preset") in presets()
                    else HardwareModel.from_dict(s["hardware"]) if isinstance(s.get("hardware"), dict) else None)
    except (FastnaxError, KeyError, TypeError, ValueError) as exc:
        hardware, why = None, f" ({exc})"
    else:
        why = ""
    if hardware is None:
        return None, (f"candidates not shown: hardware model {s.get('preset')!r} is not a preset and its "
                      f"fields could not be read{why}, so the search cannot be re-run from its result file")
    try:
        again = search.run(s["space"], objective=s["objective"], method=s["method"], predictor=predictor,
                           preset=hardware, seed=result.seed, budget=s.get("budget"),
                           risk=s.get("risk", DEFAULT_RISK),
                           accuracy=s.get("accuracy", "clean"), noise_penalty=s.get("noise_penalty", 3.0),
                           beta=s.get("beta", 0.07), space_options=s.get("space_options") or None,
                           **_constraint_kwargs(s))
    except (FastnaxError, KeyError, TypeError) as exc:
        return None, f"candidates not shown: the search could not be re-run ({exc})"
    same = (len(again.front) == len(result.front) and all(
        a["arch"] == b["arch"] and np.isclose(a["accuracy"], b["accuracy"], rtol=1e-9, atol=1e-9)
        and np.isclose(a[s["cost"]], b[s["cost"]], rtol=1e-9) for a, b in zip(again.front, result.front)))
    if not same or again.evaluated is None:
        return None, ("candidates not shown: re-running the search gave another front (another "
                      "fastnax version, predictor or non-ideality setting?)")
    return again.evaluated, ("candidates recovered by re-running the search (same settings and seed; "
                             "same front, design for design)")
