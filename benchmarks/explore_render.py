"""Which plotting library for the explorer: page size and time to a drawn plot of 20,000 points.

The same data (a random search on the digits-sized ``imc`` space, 30,000 candidates, 20,000 drawn
uniformly, plus the front and the baselines) is drawn, log x (EDAP) against predicted accuracy, by

- fastnax's own page (``fastnax.explore``: hand-written canvas + SVG, no library);
- plotly (``scatter``, SVG, and ``scattergl``, WebGL), its script inlined (``include_plotlyjs=True``);
- bokeh (canvas), its script inlined (``resources=INLINE``);
- Vega-Lite (canvas renderer) through vega-embed, when ``--vega-dir`` names a folder holding
  ``vega.min.js``, ``vega-lite.min.js`` and ``vega-embed.min.js`` (e.g. from ``npm pack vega
  vega-lite vega-embed``): no Python package ships them (altair loads them from a CDN).

plotly and bokeh are not fastnax dependencies: they are measured when importable (``--site DIR``
appends a site-packages folder that holds them). Each page is opened in headless Chromium through
the DevTools protocol over a pipe (``--remote-debugging-pipe``); the time is ``performance.now()``
(milliseconds since navigation start) when the library reports the plot drawn, median of
``--repeat`` loads, with ``--disable-gpu`` (WebGL falls back to software). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_POINTS = 20_000


class DevTools:
    """A minimal Chrome DevTools protocol client over ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, chromium: str):
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def wire():  # the child reads commands on fd 3 and writes replies on fd 4
            a, b = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-pipe", "--window-size=1280,900", "about:blank"],
            close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf, self._id = b"", 0

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def render_ms(self, url: str, expression: str, timeout: float = 60.0) -> float:
        """Open ``url`` in a new tab; poll ``expression`` until it gives a number (ms)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                value = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                  session=session).get("result", {}).get("value")
                if value is not None and value != "":
                    return float(value)
                time.sleep(0.02)
            raise RuntimeError(f"{url}: not drawn within {timeout} s")
        finally:
            self.send("Target.closeTarget", {"targetId": target})

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _data():
    from fastnax import search
    from fastnax.datasets import space_options_for

    result = search.run(space_options=space_options_for("digits"), dataset="digits", seed=0, method="random",
                        budget=30_000)
    ev = result.evaluated
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(ev["accuracy"]), size=min(N_POINTS, len(ev["accuracy"])), replace=False))
    return result, ev["edap"][keep], ev["accuracy"][keep]


DONE = "document.body.dataset.renderMs = performance.now().toFixed(1);"


def _plotly_page(folder: Path, x, y, result, kind: str) -> Path | None:
    try:
        import plotly
        import plotly.graph_objects as go
    except ImportError:
        return None
    Scatter = go.Scattergl if kind == "scattergl" else go.Scatter
    fig = go.Figure([Scatter(x=x, y=y, mode="markers", marker={"size": 3, "opacity": 0.3}, name="candidates"),
                     Scatter(x=[p["edap"] for p in result.front], y=[p["accuracy"] for p in result.front],
                             mode="markers+lines", name="front"),
                     Scatter(x=[b["edap"] for b in result.baselines], y=[b["accuracy"] for b in result.baselines],
                             mode="markers+text", text=[b["name"] for b in result.baselines], name="baselines")])
    fig.update_xaxes(type="log")
    path = folder / f"plotly-{kind}.html"
    fig.write_html(path, include_plotlyjs=True, full_html=True, post_script=DONE)
    return path, plotly.__version__


def _bokeh_page(folder: Path, x, y, result) -> Path | None:
    try:
        import bokeh
        from bokeh.embed import file_html
        from bokeh.plotting import figure
        from bokeh.resources import INLINE
    except ImportError:
        return None
    p = figure(x_axis_type="log", width=1200, height=500)
    p.scatter(x, y, size=3, alpha=0.3)
    p.line([q["edap"] for q in result.front], [q["accuracy"] for q in result.front])
    p.scatter([b["edap"] for b in result.baselines], [b["accuracy"] for b in result.baselines], marker="square",
              size=9)
    html = file_html(p, INLINE, "bokeh")
    hook = ("<script>(function poll(){const d=window.Bokeh&&Bokeh.documents&&Bokeh.documents[0];"
            "if(d&&d.is_idle){" + DONE + "}else{setTimeout(poll,2);}})();</script>")
    path = folder / "bokeh.html"
    path.write_text(html.replace("</body>", hook + "</body>"), encoding="utf-8")
    return path, bokeh.__version__


def _vega_page(folder: Path, x, y, result, vega_dir: Path | None) -> Path | None:
    if vega_dir is None:
        return None
    scripts = "".join(f"<script>{(vega_dir / name).read_text(encoding='utf-8')}</script>"
                      for name in ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js"))
    values = [{"edap": float(a), "accuracy": float(b)} for a, b in zip(x, y)]
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "width": 1150, "height": 450,
            "data": {"values": values}, "mark": {"type": "point", "size": 6, "opacity": 0.3, "filled": True},
            "encoding": {"x": {"field": "edap", "type": "quantitative", "scale": {"type": "log"}},
                         "y": {"field": "accuracy", "type": "quantitative"}}}
    body = (f"<div id='vis'></div><script>vegaEmbed('#vis', {json.dumps(spec)}, {{renderer: 'canvas', "
            f"actions: false}}).then(() => {{ {DONE} }});</script>")
    path = folder / "vega-lite.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'>{scripts}</head><body>{body}</body></html>",
                    encoding="utf-8")
    return path, "from " + str(vega_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", action="append", default=[], help="extra site-packages (plotly, bokeh)")
    parser.add_argument("--vega-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.extend(args.site)
    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    from fastnax import explore

    result, x, y = _data()
    out = {"points": int(len(x)), "candidates_evaluated": int(len(result.evaluated["accuracy"])),
           "chromium": chromium, "pages": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        mine = result.to_html(folder / "fastnax.html")
        out["fastnax_export_s"] = round(time.perf_counter() - t, 3)
        empty = folder / "empty.html"  # what the browser takes for any page (the floor)
        empty.write_text(f"<!DOCTYPE html><html><body><script>{DONE}</script></body></html>", encoding="utf-8")
        pages = {"empty page (floor)": (empty, "document.body.dataset.renderMs"),
                 "fastnax (canvas, no library)": (mine, "document.body.dataset.readyMs")}
        for name, made in (("plotly scatter (SVG)", _plotly_page(folder, x, y, result, "scatter")),
                           ("plotly scattergl (WebGL)", _plotly_page(folder, x, y, result, "scattergl")),
                           ("bokeh (canvas)", _bokeh_page(folder, x, y, result)),
                           ("vega-lite (canvas)", _vega_page(folder, x, y, result, args.vega_dir))):
            if made is None:
                out["pages"][name] = "not measured (library not importable / --vega-dir not given)"
            else:
                pages[name] = (made[0], "document.body.dataset.renderMs")
                out["pages"][name] = {"version": made[1]}
        out["pages"]["fastnax (canvas, no library)"] = {}
        out["pages"]["empty page (floor)"] = {}
        for name, (path, expr) in pages.items():
            entry = out["pages"][name]
            entry["bytes"] = path.stat().st_size
            if chromium is None:
                entry["render_ms"] = "no chromium"
                continue
            times = []
            for _ in range(args.repeat):  # a fresh browser each time: no cached compilation
                tools = DevTools(chromium)
                try:
                    times.append(tools.render_ms(path.as_uri(), expr))
                finally:
                    tools.close()
            entry["render_ms_median"] = statistics.median(times)
            entry["render_ms_all"] = times
            if name.startswith("fastnax"):  # the plot's own draw (canvas), inside that time
                tools = DevTools(chromium)
                try:
                    entry["draw_ms"] = tools.render_ms(path.as_uri(), "document.getElementById('plot').dataset.drawMs")
                finally:
                    tools.close()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
