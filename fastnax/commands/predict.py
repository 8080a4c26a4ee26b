"""``fastnax predict``: the accuracy a search gives an architecture, with its interval and support."""

from __future__ import annotations

from fastnax.commands.options import add_common


def register(sub) -> None:
    p = sub.add_parser("predict", help="predicted accuracy of architectures: value, 80%% interval, support",
                       description="Print, for each architecture, the accuracy a search scores it at "
                                   "(the same value, computed the same way), the mean prediction, its "
                                   "80%% interval, the target the predictor predicts and whether the "
                                   "architecture lies inside the support of the predictor's records.")
    p.add_argument("archs", nargs="*", metavar="ARCH", help="canonical architecture strings")
    p.add_argument("--records", metavar="FILE", help="predict the architectures of a records file "
                   "(and print their recorded value of the target beside the prediction)")
    p.add_argument("--space", default=None, help="space of --baseline (imc, nax, nb201); architecture "
                   "strings name their own")
    p.add_argument("--baseline", action="append", default=[], metavar="NAME",
                   help="a named baseline of --space (repeatable), e.g. resnet20")
    p.add_argument("--dataset", default=None, help="dataset the predictor must have been fitted on; "
                   "for --baseline also sizes the space (default: digits for imc, else cifar10)")
    p.add_argument("--predictor", metavar="FILE", help="predictor file (default: the packaged one if "
                   "fitted for the architectures' space, else the training-free score)")
    p.add_argument("--accuracy", default="auto", choices=("auto", "clean", "noisy"),
                   help="as for fastnax search (default auto)")
    p.add_argument("--risk", type=float, default=None, metavar="Q",
                   help="predictive quantile scored, as for fastnax search (default 0.4)")
    p.add_argument("--preset", default="puma-32nm", help="hardware preset for --accuracy noisy penalties")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def _architectures(args) -> tuple[list, list | None]:
    from fastnax.errors import BoundsError

    archs = list(args.archs)
    for arch in archs:
        if ":" not in arch:  # a baseline's name given where an architecture string goes
            raise BoundsError(f"{arch!r} is not an architecture string (SPACE:...); for a named "
                              f"baseline of a space use --baseline {arch} [--space S] [--dataset D]")
    recorded = None
    if args.records:
        from fastnax.datasets.records import read_records

        records = read_records(args.records)
        archs += [r.arch for r in records]
        recorded = [None] * len(args.archs) + records
    if args.baseline:
        from fastnax import spaces
        from fastnax.datasets.images import space_options_for

        name = args.space or "imc"
        dataset = args.dataset or ("digits" if name == "imc" else "cifar10")
        space = spaces.get(name, **space_options_for(dataset))
        archs += [str(space.baseline(b)) for b in args.baseline]
        if recorded is not None:
            recorded += [None] * len(args.baseline)
    if not archs:
        raise BoundsError("fastnax predict needs architecture strings, --records FILE or --baseline NAME")
    return archs, recorded


def run(args) -> int:
    import json

    from fastnax import search
    from fastnax.search.spec import DEFAULT_RISK

    archs, recorded = _architectures(args)
    risk = DEFAULT_RISK if args.risk is None else args.risk
    out = search.predict(archs, args.predictor, dataset=args.dataset, accuracy=args.accuracy, risk=risk,
                         preset=args.preset)
    if recorded is not None:
        target = out["target"]
        for row, record in zip(out["predictions"], recorded):
            value = getattr(record, target, None) if record is not None and target != "score" else None
            if value is None and record is not None:
                value = (getattr(record, "accuracies", None) or {}).get(target)
            row["recorded"] = value
    if args.json:
        print(json.dumps(out, indent=1, allow_nan=False))
        return 0
    model = out["accuracy_model"]
    where = model.get("file") or model.get("kind")
    print(f"target: {out['target']} (accuracy column {out['quantity']}), model {where}")
    print(f"accuracy = the value a search scores: the {out['risk']:g} predictive quantile"
          + (" (the lower end of the 80% interval)" if abs(out["risk"] - 0.1) < 1e-12 else "")
          + (", at most the mean" if out["risk"] < 0.5 else ""))
    rec = recorded is not None
    print(f"{'accuracy':>8} {'mean':>6} {'80% interval':>13} {'support':>8}" + (f" {'recorded':>8}" if rec else "")
          + "  architecture")
    for row in out["predictions"]:
        support = "record" if row["measured"] else ("yes" if row["in_support"] else "NO")
        line = (f"{row['accuracy']:8.2f} {row['mean']:6.2f} {row['lower']:6.1f}-{row['upper']:5.1f} "
                f"{support:>8}")
        if rec:
            line += f" {row['recorded']:8.2f}" if row.get("recorded") is not None else f" {'-':>8}"
        print(line + f"  {row['arch']}")
    return 0
