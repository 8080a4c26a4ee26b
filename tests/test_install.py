"""The install: xgboost is an extra, the search runs without it, and its absence is one line.

xgboost is needed only to fit (or load through xgboost) a predictor: the search evaluates saved
trees with NumPy. The tests hide xgboost from a real ``fastnax`` process (``sys.modules['xgboost']
= None`` makes ``import xgboost`` fail, as on an install without the ``fit`` extra).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECORDS = REPO / "fastnax" / "data" / "digits_imc_records.jsonl"
PREDICTOR = REPO / "fastnax" / "data" / "predictor.json"

WITHOUT_XGBOOST = ("import sys; sys.modules['xgboost'] = None; from fastnax.cli import main; "
                   "raise SystemExit(main(sys.argv[1:]))")


def fastnax_without_xgboost(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_XGBOOST, *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin",
                                                       "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"})


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_default_install_has_no_xgboost_and_fit_extra_picks_one_build():
    from packaging.requirements import Requirement

    deps = [Requirement(d).name for d in project()["dependencies"]]
    assert "xgboost" not in deps and "xgboost-cpu" not in deps
    extras = project()["optional-dependencies"]
    fit = [Requirement(d) for d in extras["fit"]]
    assert sorted(r.name for r in fit) == ["xgboost", "xgboost-cpu"]
    # exactly one of the two on every platform: never both, never neither
    for system in ("Linux", "Windows", "Darwin", "FreeBSD"):
        for machine in ("x86_64", "aarch64", "AMD64", "arm64", "ARM64", "ppc64le"):
            env = {"platform_system": system, "platform_machine": machine}
            chosen = [r.name for r in fit if r.marker.evaluate(env)]
            assert len(chosen) == 1, (env, chosen)
            # xgboost-cpu wheels exist for these three (pip download --platform, xgboost-cpu 3.2.0)
            cpu = (system, machine) in {("Linux", "x86_64"), ("Linux", "aarch64"), ("Windows", "AMD64")}
            assert chosen == (["xgboost-cpu"] if cpu else ["xgboost"]), env
    assert [Requirement(d).name for d in extras["fit-gpu"]] == ["xgboost"]
    assert any(Requirement(d).name == "fastnax" and "fit" in Requirement(d).extras for d in extras["dev"])


def test_search_runs_without_xgboost(tmp_path):
    proc = fastnax_without_xgboost("search", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["accuracy_model"]["kind"] == "predictor"  # the packaged trees, evaluated by NumPy
    proc = fastnax_without_xgboost("search", "--predictor", PREDICTOR, "--dataset", "digits", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_fit_without_xgboost_says_how_to_install_it(tmp_path):
    proc = fastnax_without_xgboost("fit", RECORDS, "--out", tmp_path / "p.json", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "pip install 'fastnax[fit]'" in lines[0] and "never both" in lines[0]
    assert not (tmp_path / "p.json").exists()


def test_the_helper_imports_xgboost_when_present():
    pytest.importorskip("xgboost")
    from fastnax.predictors.xgb import import_xgboost

    assert hasattr(import_xgboost(), "train")
