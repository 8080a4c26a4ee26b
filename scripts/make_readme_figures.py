"""Regenerate the pictures of the README (docs/front.png, docs/ranking.png).

    python scripts/make_readme_figures.py
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
LATENCY = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_latency.csv"


def main() -> int:
    from fastnax import ranking, search, spaces
    from fastnax.datasets import space_options_for

    DOCS.mkdir(exist_ok=True)
    result = search.run("imc", dataset="digits", space_options=space_options_for("digits"), seed=0)
    result.plot(DOCS / "front.png")
    if LATENCY.exists():
        costs, targets, _ = ranking.read_cost_csv(LATENCY, ["eyeriss", "fpga", "pixel3", "raspi4"])
    else:  # without the reference data: fastnax's own presets
        nb = spaces.get("nb201")
        costs, targets = ranking.preset_costs(nb, nb.sample_vectors(2000, seed=0),
                                              ["puma-32nm", "neurosim-22nm-rram", "neurosim-22nm-sram"])
    ranking.study(costs, targets).plot(DOCS / "ranking.png")
    print(f"wrote {DOCS / 'front.png'} and {DOCS / 'ranking.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
