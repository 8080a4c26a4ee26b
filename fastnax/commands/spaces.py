"""``fastnax spaces``: list the search spaces, their dimension, exact size and baselines."""

from __future__ import annotations

from fastnax.commands.options import add_common
from fastnax.io import dumps_json  # strict JSON: NaN and infinity as null


def register(sub) -> None:
    p = sub.add_parser("spaces", help="list the search spaces with their size and baselines")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax import spaces

    rows = [spaces.get(name).describe() for name in spaces.names()]
    if args.json:
        print(dumps_json({"spaces": rows}, indent=2))
        return 0
    print(f"{'space':<8} {'dim':>4} {'size':>12}  baselines")
    for row in rows:
        size = row["size"]
        size_text = f"{size:.3e}" if size >= 10**9 else str(size)
        print(f"{row['name']:<8} {row['dimension']:>4} {size_text:>12}  {', '.join(row['baselines'])}")
    return 0
