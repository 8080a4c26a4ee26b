"""The glibc settings ``fastnax search`` runs with (fastnax.search.allocator): applied only on glibc,
never over the user's own settings, and without effect on any result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and (getattr(os, "confstr", None) and
                                               (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"))

PROBE = ("import json; from fastnax.search import tune_allocator; "
         "print(json.dumps([tune_allocator(), tune_allocator()]))")


def _probe(**env) -> list:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("FASTNAX_ALLOCATOR", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="the allocator settings apply on glibc (Linux) only")
def test_applied_once_on_glibc():
    assert _probe() == [True, True]


def test_never_over_the_users_settings():
    assert _probe(FASTNAX_ALLOCATOR="default") == [False, False]
    assert _probe(MALLOC_TRIM_THRESHOLD_="131072") == [False, False]
    assert _probe(MALLOC_MMAP_THRESHOLD_="131072") == [False, False]


def test_search_results_do_not_depend_on_it(tmp_path):
    """The same front, point for point, with the settings and without (two fresh processes)."""
    fronts = {}
    for mode in ("tuned", "default"):
        out = tmp_path / mode
        env = {**os.environ, "FASTNAX_ALLOCATOR": mode}
        subprocess.run([sys.executable, "-m", "fastnax.cli", "search", "--out", str(out)], env=env,
                       check=True, capture_output=True, text=True)
        result = json.loads((out / "result.json").read_text())
        fronts[mode] = [(p["arch"], p["edap"], p["accuracy"]) for p in result["front"]]
    assert fronts["tuned"] and fronts["tuned"] == fronts["default"]
