"""Same command, same seed: byte-identical JSON (timing fields aside), in two separate processes.

The two runs of each command are separate interpreters with different ``PYTHONHASHSEED``, so an
output that depends on set/dict iteration order of strings, on object addresses or on a global RNG
shows up as a difference. Timing fields (keys containing ``time`` or ``seconds``, or ending in
``_s``) are removed recursively before comparing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_cli_errors import REPO, nb201_records, run_cli, write_jsonl


def _timing_key(key: str) -> bool:
    return "time" in key or "seconds" in key or key.endswith("_s")


def strip_timings(obj):
    if isinstance(obj, dict):
        return {k: strip_timings(v) for k, v in obj.items() if not _timing_key(k)}
    if isinstance(obj, list):
        return [strip_timings(v) for v in obj]
    return obj


def canonical(text: str) -> str:
    """The JSON text with timing fields removed, re-serialised (key order kept)."""
    return json.dumps(strip_timings(json.loads(text)), indent=1)


def run_twice(argv, cwd=REPO, files=()) -> tuple[list, list]:
    """Run the command twice (hash seeds 1 and 2); returns ([stdout1, files1...], [stdout2, ...])."""
    outs = []
    for hash_seed in ("1", "2"):
        proc = run_cli(*argv, cwd=cwd, timeout=300, env={"PYTHONHASHSEED": hash_seed})
        assert proc.returncode == 0, proc.stderr
        outs.append([proc.stdout] + [Path(f).read_bytes() for f in files])
    return outs[0], outs[1]


def test_strip_timings_is_not_vacuous():
    a = {"seed": 1, "timings": {"search_s": 1.0}, "front": [{"edap": 2.0, "train_seconds": 3}]}
    b = {"seed": 1, "timings": {"search_s": 9.0}, "front": [{"edap": 2.0, "train_seconds": 4}]}
    assert strip_timings(a) == strip_timings(b)
    b["front"][0]["edap"] = 2.0000001
    assert strip_timings(a) != strip_timings(b)


@pytest.mark.parametrize("argv", [
    ["search", "--space", "nb201", "--method", "hierarchical"],
    ["search", "--space", "imc", "--method", "hierarchical", "--budget", "3000"],
    ["search", "--space", "imc", "--method", "de", "--budget", "1500"],
    ["search", "--space", "nax", "--method", "random", "--budget", "2000", "--objective", "acc-latency"],
], ids=["hierarchical-nb201", "hierarchical-imc", "de-imc", "random-nax"])
def test_search_is_deterministic(argv, tmp_path):
    out = tmp_path / "res"
    write = argv[2] == "nb201"  # one case also checks the file --out writes (matplotlib costs ~1 s)
    a, b = run_twice([*argv, "--seed", "7", "--json", *(["--out", out] if write else [])],
                     files=[out / "result.json"] if write else [])
    assert canonical(a[0]) == canonical(b[0])
    if write:
        assert canonical(a[1].decode()) == canonical(b[1].decode())
    assert json.loads(a[0])["front"], "an empty front would make this test vacuous"


def test_search_seed_matters():
    """Different seeds give different searches: the comparison above can fail."""
    a, _ = run_twice(["search", "--space", "imc", "--method", "random", "--budget", "500", "--seed", "1", "--json"])
    c, _ = run_twice(["search", "--space", "imc", "--method", "random", "--budget", "500", "--seed", "2", "--json"])
    assert canonical(a[0]) != canonical(c[0])


def test_fit_is_deterministic(tmp_path):
    records = write_jsonl(tmp_path / "records.jsonl", nb201_records(30, seed=4))
    model = tmp_path / "p.json"
    a, b = run_twice(["fit", records, "--out", model, "--cv", "3", "--seed", "5", "--json"],
                     files=[model, tmp_path / "p.meta.json"])
    assert canonical(a[0]) == canonical(b[0])
    assert a[1] == b[1], "the XGBoost model file differs between two identical fits"
    assert canonical(a[2].decode()) == canonical(b[2].decode())


def test_hw_is_deterministic(tmp_path):
    csv = tmp_path / "net.csv"
    a, b = run_twice(["hw", "--baseline", "resnet20", "--json", "--export-neurosim", csv], files=[csv])
    assert canonical(a[0]) == canonical(b[0]) and a[1] == b[1]


@pytest.mark.parametrize("argv", [
    ["rank", "--presets", "puma-32nm,neurosim-22nm-rram,neurosim-22nm-sram", "--n", "100", "--seed", "3"],
    ["rank", "--presets", "puma-32nm", "--crossbar-sizes", "32,64,128", "--metric", "edap", "--n", "100"],
], ids=["presets", "crossbar-sizes"])
def test_rank_is_deterministic(argv):
    a, b = run_twice([*argv, "--json"])
    assert canonical(a[0]) == canonical(b[0])


@pytest.mark.slow
def test_sample_is_deterministic_on_cpu(tmp_path):
    """Two ``fastnax sample`` runs into two files: the same records, ``train_seconds`` aside."""
    from fastnax.datasets.records import read_records

    files = []
    for name, hash_seed in (("a.jsonl", "1"), ("b.jsonl", "2")):
        proc = run_cli("sample", "--space", "nb201", "--dataset", "synthetic", "--n", "2", "--epochs", "1",
                       "--noise-trials", "1", "--max-train", "32", "--seed", "9", "--out", tmp_path / name,
                       timeout=300, env={"PYTHONHASHSEED": hash_seed, "CUDA_VISIBLE_DEVICES": ""})
        assert proc.returncode == 0, proc.stderr
        # with --jobs 2 each record is appended the moment it finishes, so the line order may differ
        rows = [strip_timings(r.to_dict()) for r in read_records(tmp_path / name)]
        files.append(sorted(rows, key=lambda row: row["arch"]))
    assert len(files[0]) == 2 and files[0] == files[1]
