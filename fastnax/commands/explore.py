"""``fastnax explore``: one self-contained HTML page to explore one or more search results."""

from __future__ import annotations

import json

from fastnax.commands.options import add_common


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
    datas = [explore.result_data(r, None if args.label is None else args.label[i], max_candidates,
                                 rerun=not args.front_only) for i, r in enumerate(results)]
    written = explore.write_html(results, out, labels=args.label, max_candidates=max_candidates,
                                 rerun=not args.front_only, title=args.title, prepared=datas)
    summary = {"out": str(written), "bytes": written.stat().st_size, "results": [
        {"file": str(path), "label": d["label"], "front": len(d["front"]), "baselines": len(d["baselines"]),
         "candidates_shown": d["candidates"]["n_shown"] if d["candidates"] else 0,
         "candidates_total": d["candidates"]["n_total"] if d["candidates"] else 0,
         "candidates_note": d["candidates_note"], "per_layer_tables": len(d["designs"])}
        for path, d in zip(args.results, datas)]}
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
        return 0
    for row in summary["results"]:
        print(f"{row['file']}: front {row['front']} designs, {row['baselines']} baselines, "
              f"{row['candidates_shown']} of {row['candidates_total']} candidates ({row['candidates_note']})")
    print(f"wrote {written} ({summary['bytes'] / 1e6:.2f} MB); open it in any browser (works offline)")
    return 0
