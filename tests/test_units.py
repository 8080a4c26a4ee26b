"""One unit per quantity with SI prefixes; the empty front says which constraint emptied it."""

from __future__ import annotations

import pytest

from fastnax import search
from fastnax.units import quantity, si


@pytest.mark.parametrize("value,text", [(3.6e-8, "36.0 nJ"), (1.13e-6, "1.13 µJ"), (590.31e-6, "590 µJ"),
                                        (999.96e-9, "1.00 µJ"), (6.082e-10, "608 pJ"), (12.3, "12.3 J"),
                                        (0.0, "0 J"), (-2.5e-3, "-2.50 mJ")])
def test_si_keeps_three_significant_digits(value, text):
    assert si(value, "J") == text


def test_stored_units_convert():
    assert quantity("energy_pj", 36_000.0) == "36.0 nJ"
    assert quantity("latency_ns", 1130.0) == "1.13 µs"


def test_no_design_prints_as_zero():
    table = search.run("imc", space_options={"input_size": 8, "in_channels": 1}, dataset="digits").table()
    rows = [line for line in table.splitlines() if line.strip().startswith(("9", "1", "2", "3", "4", "5", "6", "7", "8", "*"))]
    assert rows and not any(" 0.000 " in line for line in rows)
    assert "EDAP pJ.ns.mm2" in table


def test_empty_front_names_the_constraint_and_the_best_value_reached():
    result = search.run("nb201", method="random", budget=200, max_latency=1.0)
    text = result.table()
    assert "no candidate met the constraints: max_latency_ns = 1 ns" in text
    assert "the best of" in text and "s)" in text


def test_budgets_that_cannot_finish_are_refused_in_one_line(capsys):
    from fastnax.cli import main

    assert main(["search", "--method", "random", "--budget", str(10**20)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot finish" in err[0] and "valid: 1 to" in err[0]


def test_progress_is_reported_for_every_batch():
    seen = []
    search.run("nb201", method="random", budget=300, progress=lambda done, budget: seen.append((done, budget)))
    assert seen and seen[-1] == (300, 300)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_front_picture_legend_never_covers_the_axes(tmp_path, monkeypatch):
    """The legend sat inside the axes and hid baseline markers (fastnax run's figure): it is drawn
    outside them now, and the intervals and the scored quantile are in the picture."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    seen = {}
    original = Figure.savefig

    def capture(self, *args, **kwargs):
        self.canvas.draw()
        ax = self.axes[0]
        renderer = self.canvas.get_renderer()
        seen["legend"] = ax.get_legend().get_window_extent(renderer)
        seen["axes"] = ax.get_window_extent(renderer)
        seen["labels"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["ylabel"] = ax.get_ylabel()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", capture)
    result = search.run("imc", space_options={"input_size": 8, "in_channels": 1}, dataset="digits")
    result.plot(tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0
    assert seen["legend"].x0 >= seen["axes"].x1 - 1  # entirely to the right of the axes
    assert "resnet20" in seen["labels"] and "80 % interval" in seen["labels"]
    assert "0.4 quantile" in seen["ylabel"]
