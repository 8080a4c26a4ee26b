"""The HTML explorer: a self-contained page, whole fronts, honest per-layer tables, a real click.

The browser tests render the page in a real headless Chromium (Debian's ``chromium`` package),
click a front point through the page's query-string hook (which dispatches a mouse click at the
point's position on the canvas, so the page's own hit-testing runs) and read the DOM back.
"""

from __future__ import annotations

import base64
import json
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fastnax import explore, search
from fastnax.arch import Architecture
from fastnax.datasets import space_options_for
from fastnax.errors import FastnaxError
from fastnax.search.result import SearchResult

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no headless Chromium on this machine (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def digits_result():
    return search.run(space_options=space_options_for("digits"), dataset="digits", seed=0)


@pytest.fixture(scope="module")
def saved(digits_result, tmp_path_factory):
    path = tmp_path_factory.mktemp("explore") / "result.json"
    digits_result.to_json(path)
    return path


def page_data(text: str) -> dict:
    """The JSON the page embeds, parsed strictly (NaN or Infinity would raise)."""
    m = re.search(r'<script type="application/json" id="fastnax-data">(.*?)</script>', text, re.S)
    assert m, "the page holds no data element"

    def strict(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(m.group(1), parse_constant=strict)


def unpack(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


# --------------------------------------------------------------------------------------------
# the page itself
# --------------------------------------------------------------------------------------------

def test_page_is_self_contained(digits_result, tmp_path):
    path = digits_result.to_html(tmp_path / "front.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # nothing to fetch: no external script, stylesheet, image, font, frame or request API
    for pattern in (r"<script[^>]*\bsrc=", r"<link\b", r"<img\b", r"<iframe\b", r"url\(", r"@import",
                    r"\bfetch\(", r"XMLHttpRequest", r"\bimport\("):
        assert not re.search(pattern, text), pattern
    # the only absolute URLs are the SVG/XHTML namespace names, which are never fetched
    urls = set(re.findall(r"https?://[^\s\"'<>`]+", text))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"}, urls
    data = page_data(text)
    assert len(data["results"]) == 1


def test_front_is_whole_and_candidates_are_subsampled(digits_result):
    n = len(digits_result.evaluated["accuracy"])
    assert n > 500
    d = explore.result_data(digits_result, max_candidates=500)
    assert d["front"] == digits_result.front  # never cut
    assert d["candidates"]["n_total"] == n and d["candidates"]["n_shown"] == 500
    acc = unpack(d["candidates"]["columns"]["accuracy"])
    assert acc.shape == (500,)
    # the subsample is drawn from the candidates (values of the evaluated set) and seeded
    assert np.isin(acc, digits_result.evaluated["accuracy"].astype("<f4")).all()
    again = explore.result_data(digits_result, max_candidates=500)
    assert again["candidates"] == d["candidates"]
    whole = explore.result_data(digits_result)
    assert whole["candidates"]["n_shown"] == n
    np.testing.assert_array_equal(unpack(whole["candidates"]["columns"]["energy_pj"]),
                                  digits_result.evaluated["energy_pj"].astype("<f4"))
    assert "of" in d["candidates_note"] and "of" not in whole["candidates_note"].replace("of this", "")


def test_per_layer_tables_match_the_hardware_model(digits_result):
    from fastnax.cli import main

    d = explore.result_data(digits_result)
    wanted = {p["arch"] for p in digits_result.front + digits_result.baselines + [digits_result.best]}
    assert set(d["designs"]) == wanted
    cols = explore.LAYER_COLUMNS
    resnet = next(b["arch"] for b in digits_result.baselines if b["name"] == "resnet20")
    rows = [dict(zip(cols, r)) for r in d["designs"][resnet]["layers"]]
    arch = Architecture.from_string(resnet)
    assert len(rows) == len(arch.weight_layers)
    # against `fastnax hw --json` of the same architecture (the per-layer table users already see)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["hw", "--arch", resnet, "--preset", digits_result.settings["preset"], "--json"]) == 0
    hw = json.loads(buf.getvalue())
    for mine, theirs in zip(rows, hw["layers"]):
        for key in ("kernel", "c_in", "c_out", "crossbar_size", "crossbars", "adc_bits"):
            assert mine[key] == theirs[key], key
        for key in ("utilization", "energy_pj", "latency_ns", "area_mm2", "noise_sigma"):
            assert math.isclose(mine[key], theirs[key], rel_tol=1e-5, abs_tol=1e-9), key
    # crossbars by hand (DESIGN.md): ceil(k^2 c_in / N) * ceil(c_out * ceil(w_bits / cell_bits) / N)
    first = rows[0]
    w_bits, cell_bits = 8, 2  # resnet20's knobs: w8a8c2
    assert resnet.split(":")[3] == "w8a8c2"
    n = first["crossbar_size"]
    assert first["crossbars"] == math.ceil(first["kernel"] ** 2 * first["c_in"] / n) * math.ceil(
        first["c_out"] * math.ceil(w_bits / cell_bits) / n)
    # projection shortcuts are told apart, and the stages follow the resolution
    # ResNet-20: a stem conv, 18 block convs, 2 projection shortcuts (where the width doubles), 1 fc
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "conv" and kinds.count("shortcut") == 2 and kinds.count("linear") == 1
    assert [(r["c_in"], r["c_out"], r["kernel"]) for r in rows if r["kind"] == "shortcut"] == [(16, 32, 1), (32, 64, 1)]
    assert [r["stage"] for r in rows if r["kind"] == "linear"] == ["classifier"]
    totals = d["designs"][resnet]["totals"]
    assert math.isclose(totals["energy_pj"], hw["energy_pj"], rel_tol=1e-12)
    assert sum(r["energy_pj"] for r in rows) <= totals["energy_pj"] * (1 + 1e-5)


def from_json_rerun(path) -> dict:
    from fastnax.commands.explore import rerun_candidates

    loaded = SearchResult.from_json(path)
    evaluated, note = rerun_candidates(loaded)
    return explore.result_data(loaded, evaluated=evaluated, note=note)


def test_projection_shortcuts_are_told_from_identity_skips():
    from fastnax import spaces

    cols = explore.LAYER_COLUMNS
    nb = spaces.get("nb201")
    # NAS-Bench-201: the stem feeds the first cell over a skip edge (an identity skip, not a
    # projection); each of the two reductions has an avg-pool + 1x1 conv shortcut
    for arch in [str(nb.baseline(name)) for name in nb.baselines()] + [
            "nb201:3x32x32:10:w8a8c2:preset:x64:|skip_connect~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|"]:
        rows = [dict(zip(cols, r)) for r in explore.layer_breakdown([arch], "puma-32nm")[arch]["layers"]]
        assert rows[0]["kind"] == "conv", arch
        assert [(r["c_in"], r["c_out"], r["kernel"]) for r in rows if r["kind"] == "shortcut"] == [(16, 32, 1), (32, 64, 1)]


def test_result_read_from_json_gets_its_candidates_back(digits_result, saved):
    loaded = SearchResult.from_json(saved)
    assert loaded.evaluated is None
    d = from_json_rerun(saved)
    assert d["candidates"] is not None, d["candidates_note"]
    assert "re-running" in d["candidates_note"]
    mem = explore.result_data(digits_result)
    assert d["candidates"] == mem["candidates"]
    alone = explore.result_data(loaded)  # the Python API shows the front and says why
    assert alone["candidates"] is None and "fastnax explore" in alone["candidates_note"]


def test_a_result_whose_search_cannot_be_reproduced_shows_its_front_only(saved, tmp_path):
    data = json.loads(saved.read_text())
    data["front"][0]["accuracy"] += 1.0  # not what this search finds
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(data))
    d = from_json_rerun(bad)
    assert d["candidates"] is None and "another front" in d["candidates_note"]
    data = json.loads(saved.read_text())
    data["accuracy_model"]["file"] = str(tmp_path / "gone.json")
    gone = tmp_path / "gone-predictor.json"
    gone.write_text(json.dumps(data))
    d = from_json_rerun(gone)
    assert d["candidates"] is None and "not here" in d["candidates_note"]
    assert len(d["front"]) == len(data["front"])


def test_a_search_on_modified_chips_at_another_risk_gets_its_candidates_back(tmp_path):
    """A result priced on chips that are no preset (``puma-32nm+pcm-aihwkit``, or the CIFAR-10
    default ``puma-32nm+rram-fastnax-default``) at a non-default risk is re-run from the hardware
    fields and the risk it stored."""
    from fastnax import hwmodel

    result = search.run(space_options=space_options_for("digits"), dataset="digits", seed=0, risk=0.5,
                        nonideality=hwmodel.get_nonideality("pcm-aihwkit"))
    assert result.settings["preset"] == "puma-32nm+pcm-aihwkit"
    path = tmp_path / "pcm.json"
    result.to_json(path)
    d = from_json_rerun(path)
    assert d["candidates"] is not None, d["candidates_note"]
    assert d["candidates"] == explore.result_data(result)["candidates"]


def test_overlay_and_strict_json(digits_result, tmp_path):
    noisy = search.run(space_options=space_options_for("digits"), dataset="digits", seed=0,
                       accuracy="noisy", max_area=5.0)
    text = explore.html([digits_result, noisy], labels=["clean", "noisy <= 5 mm2 </script>"])
    data = page_data(text)  # strict: would raise on NaN / Infinity
    assert [r["label"] for r in data["results"]] == ["clean", "noisy <= 5 mm2 </script>"]
    assert data["results"][1]["settings"]["constraints"]["max_area_mm2"] == 5.0
    assert text.count("</script>") == 2  # the label cannot close the data element
    with pytest.raises(FastnaxError, match="labels for"):
        explore.html([digits_result, noisy], labels=["one"])
    with pytest.raises(FastnaxError, match="SearchResult"):
        explore.html([{"front": []}])
    with pytest.raises(FastnaxError, match="max_candidates"):
        explore.result_data(digits_result, max_candidates=-1)


def test_same_result_same_page(digits_result, saved):
    a = explore.html(digits_result)
    b = explore.html(None, prepared=[from_json_rerun(saved)])
    assert page_data(a)["results"][0]["candidates"] == page_data(b)["results"][0]["candidates"]
    assert explore.html(digits_result) == a


def test_cli_explore(saved, tmp_path, capsys):
    from fastnax.cli import main

    out = tmp_path / "front.html"
    assert main(["explore", str(saved), str(saved), "--label", "a", "--label", "b", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["out"] == str(out) and out.stat().st_size == summary["bytes"]
    assert [r["label"] for r in summary["results"]] == ["a", "b"]
    assert summary["results"][0]["candidates_shown"] > 0
    (tmp_path / "folder.html").mkdir()
    for argv, fragment in ((["--out", str(tmp_path / "x.txt")], ".html"),
                           (["--label", "only-one", "--label", "two"], "--label given 2 times"),
                           (["--max-candidates", "-5"], "--max-candidates"),
                           (["--out", str(tmp_path / "folder.html")], "is a folder")):
        code = main(["explore", str(saved), *argv])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and fragment in err, (argv, err)
    assert main(["explore", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# in a real browser
# --------------------------------------------------------------------------------------------

def chromium(url: str, *extra: str, timeout: int = 90) -> str:
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-extensions", "--window-size=1280,1400", *extra, url],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


class _Table(HTMLParser):
    """Rows of ``#layer-table``'s body and the attributes of ``#details`` in a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.in_table = self.in_body = False
        self.rows, self.details, self.body = [], None, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "details":
            self.details = attrs
        if tag == "body":
            self.body = attrs
        if attrs.get("id") == "layer-table":
            self.in_table = True
        elif self.in_table and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])

    def handle_endtag(self, tag):
        if tag == "table":
            self.in_table = self.in_body = False

    def handle_data(self, data):
        if self.in_body and self.rows:
            self.rows[-1].append(data)


def dom(page: Path, query: str = "") -> _Table:
    parsed = _Table()
    parsed.feed(chromium(page.resolve().as_uri() + query, "--dump-dom"))
    return parsed


@needs_chromium
def test_clicking_a_front_point_opens_its_layer_table(digits_result, tmp_path):
    page = digits_result.to_html(tmp_path / "front.html")
    i = len(digits_result.front) // 2
    arch = digits_result.front[i]["arch"]
    clicked = dom(page, f"?click=0:front:{i}")
    assert clicked.body.get("data-ready") == "1" and "data-click-missing" not in clicked.body
    assert clicked.details is not None and clicked.details.get("data-arch") == arch
    assert len(clicked.rows) == len(Architecture.from_string(arch).weight_layers)
    assert clicked.rows[0][2] in ("conv", "linear")
    # the harness can fail: no click, no table; a point that is not there is reported missing
    idle = dom(page)
    assert idle.body.get("data-ready") == "1" and idle.rows == [] and "data-arch" not in idle.details
    missing = dom(page, "?click=0:front:9999")
    assert missing.body.get("data-click-missing") == "0:front:9999" and missing.rows == []


@needs_chromium
def test_clicking_a_baseline_on_other_axes(digits_result, tmp_path):
    page = digits_result.to_html(tmp_path / "front.html")
    base = next(b for b in digits_result.baselines if b["name"] == "resnet20")
    got = dom(page, "?x=latency_ns&y=area_mm2&click=0:baseline:resnet20")
    assert got.details.get("data-arch") == base["arch"] and got.details.get("data-kind") == "baseline"
    assert len(got.rows) == len(Architecture.from_string(base["arch"]).weight_layers)
    stages = [row[1] for row in got.rows]
    assert stages[0] == "8x8" and stages[-1] == "classifier"


@needs_chromium
def test_twenty_thousand_candidates_render_in_a_browser(tmp_path):
    big = search.run(space_options=space_options_for("digits"), dataset="digits", seed=1, method="random",
                     budget=30_000)
    n = len(big.evaluated["accuracy"])
    assert n > explore.MAX_CANDIDATES  # so the page holds a subsample
    page = big.to_html(tmp_path / "big.html")
    data = page_data(page.read_text(encoding="utf-8"))["results"][0]
    assert data["candidates"]["n_shown"] == explore.MAX_CANDIDATES and data["candidates"]["n_total"] == n
    assert data["front"] == big.front
    text = chromium(page.resolve().as_uri() + "?click=0:front:0", "--dump-dom")
    draw_ms = float(re.search(r'data-draw-ms="([0-9.]+)"', text).group(1))
    assert draw_ms < 2000, draw_ms  # a canvas draws 20,000 points in milliseconds
    assert 'id="layer-table"' in text


@needs_chromium
def test_accuracy_intervals_are_drawn_and_shown(digits_result, tmp_path):
    import dataclasses

    front = [dict(p, accuracy_lower=p["accuracy"] - 3.0, accuracy_upper=min(100.0, p["accuracy"] + 2.0))
             for p in digits_result.front]
    with_intervals = dataclasses.replace(digits_result, front=front, evaluated=digits_result.evaluated)
    page = with_intervals.to_html(tmp_path / "intervals.html")
    text = chromium(page.resolve().as_uri() + "?click=0:front:0", "--dump-dom")
    p = front[0]
    assert f"(interval {p['accuracy_lower']:.2f} – {p['accuracy_upper']:.2f})" in text
    bare = [{k: v for k, v in q.items() if k not in ("accuracy_lower", "accuracy_upper")} for q in front]
    without = dataclasses.replace(digits_result, front=bare, evaluated=digits_result.evaluated)
    plain = chromium(without.to_html(tmp_path / "plain.html").resolve().as_uri() + "?click=0:front:0",
                     "--dump-dom")
    assert not re.search(r"\(interval \d", plain) and 'id="layer-table"' in plain
