"""Nothing lost: atomic writes, torn-line recovery, SIGKILL at random moments, flat memory.

* Every file fastnax writes goes through a temporary file + fsync + ``os.replace``: a failure at
  the rename (or in the middle of the write) leaves the old file byte-identical and no temporary
  file behind.
* Records are appended as whole lines with fsync; a torn last line (a killed writer) is skipped
  on read and cut off before the next append, so no finished record is lost or duplicated.
* Processes killed with SIGKILL at seeded random moments (a records appender, ``fastnax sample``,
  ``fastnax train``) and restarted leave no corrupt file and lose no finished record.
* Random search keeps memory flat in its budget (batches, pruned archive).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastnax.errors import PredictorFileError, RecordsError
from test_cli_errors import REPO, kill_group, nb201_records, write_jsonl


class Boom(OSError):
    pass


def _fail_replace(monkeypatch, after: int = 0):
    """Make the (after+1)-th ``os.replace`` raise; returns the list of calls."""
    calls = []
    real = os.replace

    def replace(src, dst, *a, **k):
        calls.append((src, dst))
        if len(calls) > after:
            raise Boom(5, "simulated crash at rename", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    return calls


def _no_temporaries(folder: Path) -> None:
    left = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert not left, f"temporary files left behind: {left}"


def _record(i: int):
    from fastnax.datasets.records import Record

    return Record(**nb201_records(i + 1)[i])


# --- atomic replacement ------------------------------------------------------------------------

WRITERS = ["io.atomic_write_json", "records.write_records", "result.to_json", "export_neurosim",
           "ranking.plot"]


def _write(kind: str, path: Path, version: int):
    if kind == "io.atomic_write_json":
        from fastnax.io import atomic_write_json

        return atomic_write_json(path, {"version": version, "payload": list(range(1000 * version))})
    if kind == "records.write_records":
        from fastnax.datasets.records import write_records

        return write_records(path, [_record(i) for i in range(3 * version)])
    if kind == "result.to_json":
        from fastnax import search

        return search.run("nb201", method="random", budget=20 * version, seed=version).to_json(path)
    if kind == "export_neurosim":
        from fastnax import spaces
        from fastnax.hwmodel import export_neurosim

        return export_neurosim(spaces.get("imc").sample(1, seed=version)[0], path)
    if kind == "ranking.plot":
        from fastnax import ranking

        costs = np.random.default_rng(version).random((10, 3))
        return ranking.study(costs, ["a", "b", "c"]).plot(path)
    raise AssertionError(kind)


SUFFIX = {"io.atomic_write_json": ".json", "records.write_records": ".jsonl", "result.to_json": ".json",
          "export_neurosim": ".csv", "ranking.plot": ".png"}


@pytest.mark.parametrize("kind", WRITERS)
def test_failed_rename_keeps_old_file(tmp_path, monkeypatch, kind):
    path = tmp_path / f"out{SUFFIX[kind]}"
    _write(kind, path, 1)
    old = path.read_bytes()
    calls = _fail_replace(monkeypatch)
    with pytest.raises(Boom):
        _write(kind, path, 2)
    assert calls, f"{kind} did not write through os.replace"
    assert path.read_bytes() == old
    _no_temporaries(tmp_path)
    monkeypatch.undo()
    _write(kind, path, 2)  # and without the fault the new content lands
    assert path.read_bytes() != old


@pytest.mark.parametrize("kind", ["io.atomic_write_json", "records.write_records"])
def test_failed_write_midway_keeps_old_file(tmp_path, monkeypatch, kind):
    """A crash after part of the data reached the disk (at fsync) leaves the old file."""
    path = tmp_path / f"out{SUFFIX[kind]}"
    _write(kind, path, 1)
    old = path.read_bytes()

    def fsync(fd):
        raise Boom(28, "simulated disk full")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(Boom):
        _write(kind, path, 2)
    assert path.read_bytes() == old
    _no_temporaries(tmp_path)


@pytest.fixture(scope="module")
def records_file(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("rec") / "records.jsonl", nb201_records(24))


def _fit_save(records: Path, path: Path, seed: int):
    from fastnax.predictors import XGBPredictor

    return XGBPredictor(n_estimators=10, random_state=seed).fit_records(records, cv=0).save(path)


@pytest.mark.parametrize("fail_at", [0, 1])
def test_predictor_save_crash_never_yields_a_mixed_pair(tmp_path, monkeypatch, records_file, fail_at):
    """A crash at either rename of ``save``: each file is whole (old or new), and a model that no
    longer matches its sidecar is refused (sha256), never used silently."""
    from fastnax.predictors import XGBPredictor

    path = tmp_path / "p.json"
    _fit_save(records_file, path, seed=1)
    old_model, old_meta = path.read_bytes(), (tmp_path / "p.meta.json").read_bytes()
    old_pred = XGBPredictor.load(path).predict_archs([r["arch"] for r in nb201_records(5)])
    _fail_replace(monkeypatch, after=fail_at)
    with pytest.raises(Boom):
        _fit_save(records_file, path, seed=2)
    monkeypatch.undo()
    _no_temporaries(tmp_path)
    json.loads(path.read_bytes())  # whole JSON, old or new
    json.loads((tmp_path / "p.meta.json").read_bytes())
    if fail_at == 0:
        assert path.read_bytes() == old_model and (tmp_path / "p.meta.json").read_bytes() == old_meta
        new_pred = XGBPredictor.load(path).predict_archs([r["arch"] for r in nb201_records(5)])
        np.testing.assert_array_equal(new_pred, old_pred)
    else:
        assert (tmp_path / "p.meta.json").read_bytes() == old_meta
        if path.read_bytes() != old_model:
            with pytest.raises(PredictorFileError, match="sha256"):
                XGBPredictor.load(path)


def test_checkpoint_save_is_atomic(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from fastnax.commands.train import save_atomic

    path = tmp_path / "checkpoint.pt"
    save_atomic({"epoch": 1, "w": torch.ones(3)}, path)
    old = path.read_bytes()
    _fail_replace(monkeypatch)
    with pytest.raises(Boom):
        save_atomic({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert torch.load(path, weights_only=True)["epoch"] == 1


# --- torn last lines ---------------------------------------------------------------------------------

# A JSON line torn anywhere never parses. A CSV line torn inside its last field
# (fastnax_version) can still parse, indistinguishable from a hand-edited file without its final
# newline: that is why the cuts for CSV stay before the last field (see notes/guarantees.md).
@pytest.mark.parametrize("suffix,cut", [(".jsonl", 1), (".jsonl", 17), (".jsonl", -2),
                                        (".csv", 1), (".csv", 17), (".csv", -12)])
def test_torn_last_line_is_recovered_without_loss(tmp_path, suffix, cut):
    from fastnax.datasets.records import _line, append_record, read_records

    path = tmp_path / f"r{suffix}"
    for i in range(5):
        append_record(path, _record(i))
    sixth = _line(_record(5), "csv" if suffix == ".csv" else "jsonl").encode()
    with open(path, "ab") as fh:  # a writer killed in the middle of its line
        fh.write(sixth[:cut])
    got = read_records(path)
    assert [r.seed for r in got] == [0, 1, 2, 3, 4]  # finished records all there, torn one skipped
    append_record(path, _record(5))  # the resumed writer rewrites it
    append_record(path, _record(6))
    got = read_records(path)
    assert [r.seed for r in got] == [0, 1, 2, 3, 4, 5, 6]
    assert got == [_record(i) for i in range(7)]
    assert path.read_bytes().endswith(b"\n")


def test_complete_last_line_without_newline_is_kept(tmp_path):
    from fastnax.datasets.records import append_record, read_records

    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in nb201_records(3)))  # hand-edited: no final newline
    assert len(read_records(path)) == 3
    append_record(path, _record(3))
    assert [r.seed for r in read_records(path)] == [0, 1, 2, 3]


def test_corruption_before_the_last_line_is_an_error(tmp_path):
    """Only a torn *last* line is forgiven; damage elsewhere is reported, not skipped."""
    from fastnax.datasets.records import read_records

    lines = [json.dumps(r) for r in nb201_records(4)]
    lines[1] = lines[1][:30]
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordsError, match=":2:"):
        read_records(path)


# --- SIGKILL at random moments -------------------------------------------------------------------

APPENDER = r"""
import sys, json
from fastnax.datasets.records import Record, append_record, read_records
path, start, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in sys.stdin]
for i in range(start, stop):
    append_record(path, Record(**rows[i]))
    print(i, flush=True)   # acknowledged only after append_record returned (fsynced)
"""


def test_sigkilled_appender_loses_and_duplicates_nothing(tmp_path):
    """A process appending records is SIGKILLed at 6 seeded random moments and resumed each time."""
    from fastnax.datasets.records import read_records

    n = 400
    rows = nb201_records(n)
    feed = "".join(json.dumps(r) + "\n" for r in rows)
    path = tmp_path / "r.jsonl"
    rng = np.random.default_rng(8)
    acknowledged = set()
    for attempt in range(7):
        start = len(read_records(path)) if path.exists() and path.stat().st_size else 0
        proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(start), str(n)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        proc.stdin.write(feed)
        proc.stdin.close()
        if attempt < 6:
            time.sleep(float(rng.uniform(0.15, 0.6)))
            proc.send_signal(signal.SIGKILL)
        out = proc.stdout.read()
        proc.wait(timeout=60)
        acknowledged |= {int(x) for x in out.split()}
        got = read_records(path) if path.stat().st_size else []
        seeds = [r.seed for r in got]
        assert seeds == list(range(len(seeds))), "a record was lost, duplicated or reordered"
        assert acknowledged <= set(seeds), "an acknowledged (fsynced) record was lost"
    assert [r.seed for r in read_records(path)] == list(range(n))


def _kill_after(argv, seconds: float, log: Path) -> tuple[int, str]:
    """Run ``fastnax ARGV``; SIGKILL its whole process group (workers included) after ``seconds``
    unless it finished first. Returns (exit status, stderr). Output goes to a file, not a pipe."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    with open(log, "w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fastnax.cli", *argv], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            code = None
        kill_group(proc)
        err.seek(0)
        return code, err.read()


SAMPLE_ARGS = ["sample", "--space", "nb201", "--dataset", "synthetic", "--n", "4", "--epochs", "1",
               "--noise-trials", "0", "--max-train", "32", "--seed", "3"]


@pytest.mark.slow
def test_sigkilled_sample_resumes_without_loss(tmp_path):
    """``fastnax sample`` killed at 3 seeded random moments and restarted: every finished record
    survives, none is duplicated, and the final file equals an uninterrupted run's records."""
    from fastnax.datasets.records import read_records

    out = tmp_path / "r.jsonl"
    rng = np.random.default_rng(5)
    finished_before = []
    for attempt in range(3):
        _, err = _kill_after([*SAMPLE_ARGS, "--out", str(out)], float(rng.uniform(1.5, 5.0)),
                             tmp_path / f"log{attempt}")
        assert "Traceback" not in err
        if out.exists() and out.stat().st_size:
            got = read_records(out)
            keys = [(r.arch, r.seed) for r in got]
            assert len(keys) == len(set(keys)), "a record was duplicated"
            assert keys[:len(finished_before)] == finished_before, "a finished record was lost"
            finished_before = keys
    code, err = _kill_after([*SAMPLE_ARGS, "--out", str(out)], 300, tmp_path / "log")
    assert code == 0, err
    got = read_records(out)
    keys = [(r.arch, r.seed) for r in got]
    assert len(keys) == len(set(keys)) and keys[:len(finished_before)] == finished_before
    assert out.read_bytes().endswith(b"\n")
    from fastnax import spaces

    expected = {str(a) for a in spaces.get("nb201", input_size=8).sample(4, seed=3)}
    assert {r.arch for r in got} == expected


@pytest.mark.slow
def test_sigkilled_train_resumes_from_a_whole_checkpoint(tmp_path):
    """``fastnax train`` killed at 3 seeded random moments: the checkpoint is always loadable (never
    torn), ``--resume`` continues from it, and the final report is whole JSON for all epochs."""
    torch = pytest.importorskip("torch")
    out = tmp_path / "run"
    args = ["train", "--baseline", "resnet20", "--dataset", "synthetic", "--epochs", "4", "--max-train",
            "64", "--noise-trials", "0", "--seed", "1", "--out", str(out), "--resume"]
    rng = np.random.default_rng(11)
    last_epoch = 0
    for attempt in range(3):
        _, err = _kill_after(args, float(rng.uniform(1.5, 4.0)), tmp_path / f"log{attempt}")
        assert "Traceback" not in err
        ckpt = out / "checkpoint.pt"
        if ckpt.exists():
            state = torch.load(ckpt, map_location="cpu", weights_only=True)  # never torn
            assert state["epoch"] >= last_epoch, "a finished epoch was lost"
            last_epoch = state["epoch"]
    code, err = _kill_after(args, 300, tmp_path / "log")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["epochs"] == 4 and report["resumed_from_epoch"] >= last_epoch
    assert torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["epoch"] == 4


# --- memory flat in the budget ----------------------------------------------------------------------

FLAT = r"""
import resource, sys
from fastnax import search
search.optimizers.random.RANDOM_BATCH = 20000
search.run("nb201", method="random", budget=int(sys.argv[1]), seed=0, keep_evaluated=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_random_search_memory_is_flat_in_the_budget():
    """Peak RSS of random search at 5x the budget grows by < 40 MB (it grew ~linearly before)."""
    def peak(budget):
        proc = subprocess.run([sys.executable, "-c", FLAT, str(budget)], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.split()[-1]) / 1024

    small, large = peak(60_000), peak(300_000)
    assert large - small < 40, f"peak RSS {small:.0f} MB at 6e4 vs {large:.0f} MB at 3e5"


def test_batched_random_search_equals_one_batch(monkeypatch):
    """Pruning the archive between batches changes neither the front nor the best."""
    from fastnax import search
    from fastnax.search.optimizers import random as optimizers

    one = search.run("imc", method="random", budget=3000, seed=4)
    monkeypatch.setattr(optimizers, "RANDOM_BATCH", 700)
    many = search.run("imc", method="random", budget=3000, seed=4)
    # the packaged predictor's measured records are priced first, outside the batches: the rest of
    # the budget goes in batches of 700
    import math

    measured = len(search.make_evaluator("imc").accuracy_model.measured_index())
    assert many.settings["method_details"]["batches"] == math.ceil((3000 - measured) / 700) >= 4
    assert many.n_evaluations == one.n_evaluations == 3000
    assert many.front == one.front and many.best == one.best
