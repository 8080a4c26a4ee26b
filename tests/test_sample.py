"""The sample-training runner: records, determinism, resume after SIGKILL, joblib and dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")

from fastnax import spaces  # noqa: E402
from fastnax.datasets import load  # noqa: E402
from fastnax.datasets.records import read_records  # noqa: E402
from fastnax.errors import BoundsError  # noqa: E402
from fastnax.train.sample import candidate_seed, run_sampling  # noqa: E402

# tiny budget: 160 digits images, 1 epoch, a space whose members stay small enough to train fast
TINY = dict(dataset_options={"max_train": 160, "max_test": 80}, noise_trials=1, batch_size=32)


def _nax_digits():
    return spaces.get("nax", input_size=8, in_channels=1, num_classes=10)


def test_records_fields_and_determinism(tmp_path):
    space = _nax_digits()
    a = run_sampling(space, "digits", 3, 1, tmp_path / "a.jsonl", seed=4, **TINY)
    b = run_sampling(space, "digits", 3, 1, tmp_path / "b.csv", seed=4, **TINY)
    assert [r.arch for r in a] == [str(x) for x in space.sample(3, seed=4)]
    strip = lambda rs: [(r.arch, r.accuracy_clean, r.accuracy_noisy, r.epochs, r.seed) for r in rs]  # noqa: E731
    assert strip(a) == strip(b)  # same command, same records (train_seconds aside)
    back = read_records(tmp_path / "a.jsonl")
    assert strip(back) == strip(a)
    for r in back:
        assert r.space == "nax" and r.dataset == "digits" and r.epochs == 1 and r.seed == 4
        assert 0 <= r.accuracy_clean <= 100 and r.train_seconds > 0
    # a rerun with the same arguments trains nothing and appends nothing
    before = (tmp_path / "a.jsonl").read_bytes()
    again = run_sampling(space, "digits", 3, 1, tmp_path / "a.jsonl", seed=4, **TINY)
    assert strip(again) == strip(a) and (tmp_path / "a.jsonl").read_bytes() == before
    # more candidates: only the new ones train (sample(n) extends sample(n-1)? not assumed:
    # whatever is already recorded is skipped, the rest is appended)
    more = run_sampling(space, "digits", 4, 1, tmp_path / "a.jsonl", seed=4, **TINY)
    assert len(more) == 4 and len(read_records(tmp_path / "a.jsonl")) == len({r.arch for r in more} |
                                                                              {r.arch for r in a})


def test_records_name_their_chips_and_resume_only_on_the_same_ones(tmp_path, caplog):
    """Each record names the hardware model of its accuracy_noisy; a run on other chips retrains
    the same candidates (a record on other chips is another measurement) and the file warns when
    read; a CSV file written before the field existed takes default-chip records without it."""
    import logging

    space = _nax_digits()
    path = tmp_path / "r.jsonl"
    pcm = run_sampling(space, "digits", 2, 1, path, seed=3, nonideality="pcm-aihwkit", **TINY)
    assert [r.hardware for r in pcm] == ["puma-32nm+pcm-aihwkit"] * 2
    again = run_sampling(space, "digits", 2, 1, path, seed=3, nonideality="pcm-aihwkit", **TINY)
    assert [r.accuracy_noisy for r in again] == [r.accuracy_noisy for r in pcm]
    assert len(read_records(path)) == 2  # resumed: nothing trained, nothing appended
    default = run_sampling(space, "digits", 2, 1, path, seed=3, **TINY)
    # the preset's own chips, their non-ideality spelled out (a bare name meant rram-fastnax-default)
    assert [r.hardware for r in default] == ["puma-32nm+rram-wan2022-1d"] * 2
    with caplog.at_level(logging.WARNING):
        back = read_records(path)
    assert len(back) == 4 and "2 hardware models" in caplog.text
    assert sorted(r.chips for r in back) == ["puma-32nm+pcm-aihwkit"] * 2 + ["puma-32nm+rram-wan2022-1d"] * 2
    # a CSV of the old format (no hardware column) holds records of puma-32nm's chips of the time
    # (rram-fastnax-default): a run on those chips resumes from it and appends in its columns, a
    # run on today's default chips is another measurement and cannot be written there
    old = tmp_path / "old.csv"
    fields = ("arch,space,dataset,epochs,seed,accuracy_clean,accuracy_noisy,train_seconds,"
              "fastnax_version")
    r0 = default[0]
    old.write_text(fields + "\n" + f'"{r0.arch}",nax,digits,1,3,{r0.accuracy_clean},{r0.accuracy_noisy},1.0,0.1\n')
    out = run_sampling(space, "digits", 2, 1, old, seed=3, nonideality="rram-fastnax-default", **TINY)
    lines = old.read_text().splitlines()
    assert lines[0] == fields and len(lines) == 3  # one new record, in the old columns
    assert [r.chips for r in read_records(old)] == ["puma-32nm+rram-fastnax-default"] * 2 and len(out) == 2
    assert out[0].accuracy_noisy == r0.accuracy_noisy  # resumed from the old row, not retrained
    for other in ("pcm-aihwkit", None):
        with pytest.raises(Exception, match="hardware"):
            run_sampling(space, "digits", 2, 1, old, seed=3, nonideality=other, **TINY)


def test_candidate_seeds_differ_and_are_stable():
    seeds = {candidate_seed(0, i) for i in range(100)}
    assert len(seeds) == 100 and candidate_seed(3, 5) == candidate_seed(3, 5)


def test_parallel_loky_matches_sequential(tmp_path):
    space = _nax_digits()
    seq = run_sampling(space, "digits", 2, 1, tmp_path / "s.jsonl", seed=1, **TINY)
    par = run_sampling(space, "digits", 2, 1, tmp_path / "p.jsonl", seed=1, jobs=2, **TINY)
    assert sorted((r.arch, r.accuracy_clean) for r in seq) == sorted((r.arch, r.accuracy_clean) for r in par)


def test_dask_backend_on_a_local_cluster(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    try:
        records = run_sampling(_nax_digits(), "digits", 2, 1, tmp_path / "d.jsonl", seed=2, jobs=2,
                               backend="dask", scheduler=cluster.scheduler_address, **TINY)
    finally:
        cluster.close()
    on_disk = read_records(tmp_path / "d.jsonl")
    assert len(on_disk) == 2 and {r.arch for r in on_disk} == {r.arch for r in records}
    assert {r.arch for r in on_disk} == {str(a) for a in _nax_digits().sample(2, seed=2)}


def test_bad_arguments():
    with pytest.raises(BoundsError, match="scheduler"):
        run_sampling("imc", "digits", 1, 1, "x.jsonl", scheduler="tcp://nowhere:1")
    wrong = spaces.get("imc")  # 32x32x3: not the digits shape
    with pytest.raises(BoundsError, match="input_size"):
        run_sampling(wrong, "digits", 1, 1, "x.jsonl")


def test_sample_command_resumes_after_sigkill(tmp_path):
    out = tmp_path / "records.jsonl"
    cmd = [sys.executable, "-m", "fastnax.cli", "sample", "--space", "nax", "--dataset", "digits",
           "--n", "4", "--epochs", "1", "--max-train", "160", "--noise-trials", "1",
           "--out", str(out), "--seed", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if out.exists() and out.read_bytes().count(b"\n") >= 1:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its joblib workers, at once
    finally:
        proc.wait()
    first = out.read_bytes()
    assert first.count(b"\n") >= 1, proc.stderr.read().decode()
    assert first.count(b"\n") < 4, "the run finished before it could be killed; raise --n"
    # simulate the worst case too: a writer killed in the middle of a line
    with open(out, "ab") as f:
        f.write(b'{"arch": "imc:1x8x8:10:w8a8c2:pres')
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming" in rerun.stderr
    records = read_records(out)
    archs = [r.arch for r in records]
    from fastnax.train.sample import resolve_max_macs

    nax = spaces.get("nax", input_size=8, in_channels=1)
    expected = {str(a) for a in nax.sample(4, seed=3, max_macs=resolve_max_macs(nax, "auto"))}
    assert set(archs) == expected and len(archs) == len(set(archs))  # none lost, none duplicated
    # the records written before the kill are kept byte for byte
    assert out.read_bytes().startswith(first)
    assert json.loads(rerun.stdout)["records"] == len(expected)
