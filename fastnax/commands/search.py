"""``fastnax search``: the co-design search (seconds, no training, no data needed)."""

from __future__ import annotations

from fastnax.commands.options import add_common, parse_space_options

from fastnax.search.optimizers import names as optimizer_names
from fastnax.search.spec import ACCURACY_MODES, OBJECTIVES


def register(sub) -> None:
    p = sub.add_parser("search", help="co-design search: Pareto front of accuracy vs EDAP in seconds",
                       description="Search a co-design space with the packaged predictor (or the "
                                   "training-free score) and the analytical hardware model. Writes "
                                   "nothing unless --out is given.")
    p.add_argument("--space", default="imc", help="search space: imc (default), nax, nb201")
    p.add_argument("--dataset", default=None,
                   help="size the space for this dataset: digits (default for imc: the packaged predictor's), "
                        "mnist, cifar10 (default for nax and nb201), cifar100, tinyimagenet")
    p.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, e.g. input_size=8 (repeatable)")
    p.add_argument("--objective", default="acc-edap", choices=list(OBJECTIVES), help="default acc-edap")
    p.add_argument("--method", default="hierarchical", choices=optimizer_names(), help="default hierarchical")
    p.add_argument("--preset", default="puma-32nm", help="hardware preset (default puma-32nm)")
    p.add_argument("--config", metavar="FILE", help="hardware model from a TOML/JSON file that overrides "
                   "fields of a base preset (instead of --preset)")
    p.add_argument("--nonideality", metavar="NAME|FILE",
                   help="non-ideality preset (rram-wan2022-1d, pcm-aihwkit, rram-fastnax-default, none, "
                        "...) or a TOML/JSON file over a 'base' one (default: the hardware model's own, "
                        "rram-wan2022-1d for puma-32nm, or the one a noisy predictor's records were all "
                        "measured under on that preset, e.g. the CIFAR-10 predictor's); the "
                        "result's hardware is named MODEL+NONIDEALITY. It sets the noise sigma and the "
                        "sigma penalty of clean predictions; a noisy predictor's accuracies stay those "
                        "of the non-idealities its records were measured under")
    p.add_argument("--predictor", metavar="FILE", help="predictor file (default: the packaged one if "
                   "fitted for this space, else the training-free score)")
    p.add_argument("--accuracy", default="auto", choices=ACCURACY_MODES,
                   help="auto (default): what the predictor predicts (the packaged one: accuracy under "
                        "non-idealities); clean: needs a clean-accuracy predictor; noisy: a noisy "
                        "predictor as it is, a clean one minus the non-ideality penalty")
    p.add_argument("--risk", type=float, default=None, metavar="Q",
                   help="predictive quantile of the accuracy that the search scores: 0.4 (default) is "
                        "a little below the mean (never above it), 0.1 the lower end of the 80%% interval, 0.5 the mean")
    p.add_argument("--max-area", type=float, metavar="MM2", help="chip area budget (mm²)")
    p.add_argument("--max-latency", type=float, metavar="NS", help="latency budget per inference (ns)")
    p.add_argument("--min-accuracy", type=float, metavar="PCT", help="minimum accuracy (percent)")
    p.add_argument("--budget", type=int, help="maximum number of candidates priced")
    p.add_argument("--out", metavar="DIR", help="write result.json and front.png into DIR")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from fastnax import search
    from fastnax.errors import BoundsError
    from fastnax.search.allocator import tune_allocator

    tune_allocator()  # freed batch arrays reused, not faulted in again (fastnax.search.allocator)
    out = None
    if args.out:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise BoundsError(f"--out {args.out!r} exists and is not a folder")
    from fastnax.datasets.images import space_options_for

    dataset = args.dataset or ("digits" if args.space == "imc" else "cifar10")
    options = {**space_options_for(dataset), **parse_space_options(args.space_option)}
    preset = args.preset
    if args.config:
        from fastnax.hwmodel import HardwareModel

        preset = HardwareModel.from_file(args.config)
    if args.nonideality is not None:
        from fastnax.hwmodel import with_nonideality

        preset = with_nonideality(preset, args.nonideality)
    import sys
    import time

    started = time.perf_counter()
    last = [started]

    def progress(done, budget):  # on stderr, only for searches that run past ~2 s
        now = time.perf_counter()
        if now - started > 2.0 and now - last[0] > 2.0:
            last[0] = now
            total = f" of {budget:,}" if budget else ""
            sys.stderr.write(f"[search] {done:,}{total} candidates priced, {now - started:.0f} s\n")
            sys.stderr.flush()

    result = search.run(args.space, objective=args.objective, method=args.method, progress=progress,
                        predictor=args.predictor, preset=preset, seed=args.seed,
                        budget=args.budget, max_area=args.max_area, max_latency=args.max_latency,
                        min_accuracy=args.min_accuracy, accuracy=args.accuracy,
                        **({} if args.risk is None else {"risk": args.risk}),
                        space_options=options, dataset=dataset)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        result.to_json(out / "result.json")
        result.plot(out / "front.png")
    if args.json:
        print(result.to_json_text(), end="")
    else:
        print(result.table())
        if out is not None:
            print(f"\nwrote {out / 'result.json'} and {out / 'front.png'}")
    return 0
