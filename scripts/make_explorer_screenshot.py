"""Redraw docs/explorer.png: the explorer page of two overlaid searches, ResNet-20 clicked.

    python scripts/make_explorer_screenshot.py      # needs headless Chromium (apt-get install chromium)

The default search (digits-sized ``imc``, the packaged predictor, EDAP) is overlaid with the same
search under an area budget of 5 mm²; the page is opened with the ResNet-20 baseline clicked (the
query-string hook clicks it on the canvas) and photographed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> int:
    from fastnax import explore, search
    from fastnax.datasets import space_options_for

    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                    None)
    if chromium is None:
        sys.stderr.write("no headless Chromium: apt-get install -y chromium\n")
        return 1
    options = dict(space_options=space_options_for("digits"), dataset="digits", seed=0)
    default = search.run(**options)
    budget = search.run(**options, max_area=5.0)
    with tempfile.TemporaryDirectory() as tmp:
        page = explore.write_html([default, budget], Path(tmp) / "front.html",
                                  labels=["default search", "area <= 5 mm²"])
        DOCS.mkdir(exist_ok=True)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1280,1330", f"--screenshot={DOCS / 'explorer.png'}",
                        page.resolve().as_uri() + "?click=1:baseline:resnet20"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    print(f"wrote {DOCS / 'explorer.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
