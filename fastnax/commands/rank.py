"""``fastnax rank``: hardware-ranking study (rank correlations between hardware targets)."""

from __future__ import annotations

from fastnax.commands.options import add_common
from fastnax.io import dumps_json  # strict JSON: NaN and infinity as null


def register(sub) -> None:
    p = sub.add_parser("rank", help="hardware-ranking study: do targets rank architectures alike?",
                       description="Rank correlations (Kendall tau, Spearman rho) between hardware targets, "
                                   "the best proxy for each target and Pareto transfer. Targets come from a "
                                   "cost CSV (--csv, e.g. nb201_latency.csv) or from fastnax presets (--presets).")
    p.add_argument("--csv", help="cost table with one column per target (e.g. nb201_latency.csv)")
    p.add_argument("--prefix", default="lat_ms_", help="prefix of the target columns in --csv (default lat_ms_)")
    p.add_argument("--targets", help="comma-separated targets (default: all columns of --csv)")
    p.add_argument("--accuracy-csv", help="CSV with an arch_str column and accuracies, for Pareto transfer")
    p.add_argument("--accuracy-column", default="c10valid_valid_200ep",
                   help="accuracy column of --accuracy-csv (default c10valid_valid_200ep)")
    p.add_argument("--presets", help="comma-separated fastnax presets to compare (instead of --csv)")
    p.add_argument("--crossbar-sizes", help="comma-separated uniform crossbar sizes crossed with --presets")
    p.add_argument("--metric", default="latency_ns", help="cost of fastnax presets: energy_pj, latency_ns, "
                   "area_mm2 or edap (default latency_ns)")
    p.add_argument("--space", default="nb201", help="space of the architectures priced with --presets")
    p.add_argument("--n", type=int, default=2000, help="architectures sampled from --space (default 2000)")
    p.add_argument("--plot", help="write the Kendall heat map to this PNG")
    add_common(p)
    p.set_defaults(run=run)


def _split(text):
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run(args) -> int:

    from fastnax import ranking
    from fastnax.errors import BoundsError

    if bool(args.csv) == bool(args.presets):
        raise BoundsError("give either --csv FILE (measured costs) or --presets NAMES (fastnax cost model)")
    accuracy = None
    if args.csv:
        costs, targets, names = ranking.read_cost_csv(args.csv, _split(args.targets), args.prefix)
        if args.accuracy_csv:
            accuracy = ranking.read_accuracy_column(args.accuracy_csv, args.accuracy_column, names)
        source = {"csv": str(args.csv), "accuracy": args.accuracy_column if accuracy is not None else None}
    else:
        from fastnax import spaces

        if args.n < 3:
            raise BoundsError(f"--n must be at least 3, got {args.n}")
        space = spaces.get(args.space)
        X = space.sample_vectors(args.n, seed=args.seed)
        sizes = None
        if args.crossbar_sizes:
            try:
                sizes = [int(s) for s in _split(args.crossbar_sizes)]
            except ValueError:
                raise BoundsError(f"--crossbar-sizes must be comma-separated positive integers, "
                                  f"got {args.crossbar_sizes!r}") from None
        costs, targets = ranking.preset_costs(space, X, _split(args.presets), args.metric, sizes)
        source = {"space": space.name, "n": args.n, "seed": args.seed, "metric": args.metric}
    result = ranking.study(costs, targets, accuracy, source=source)
    if args.plot:
        result.plot(args.plot)
    if args.json:
        print(dumps_json(result.to_dict(), indent=2))
        return 0
    T = len(targets)
    width = max(len(t) for t in targets) + 2
    print(f"Kendall tau between {T} targets over {result.n_archs} architectures")
    print(" " * width + "".join(f"{t[:9]:>10}" for t in targets))
    for i, t in enumerate(targets):
        print(f"{t:<{width}}" + "".join(f"{result.kendall[i, j]:>10.3f}" for j in range(T)))
    print()
    print(f"{'target':<{width}}{'best proxy':<{width}}{'tau':>7}  search once on proxy?")
    for t, row in result.monotonicity().items():
        hv = ""
        if row["pareto_hv_ratio"] is not None:
            i, j = targets.index(row["proxy"]), targets.index(t)
            hv = (f"  (proxy front: {result.pareto_recall[i, j]:.0%} of the target front, "
                  f"{row['pareto_hv_ratio']:.2%} of its hypervolume)")
        print(f"{t:<{width}}{row['proxy']:<{width}}{row['kendall']:>7.3f}  "
              f"{'yes' if row['search_once_on_proxy'] else 'no'}{hv}")
    if args.plot:
        print(f"heat map: {args.plot}")
    return 0
