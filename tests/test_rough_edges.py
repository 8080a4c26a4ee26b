"""The rough edges a new user hits, each refused or warned in one line (issue 17).

Records given as 0-1 fractions, records of several datasets, a UTF-8 byte-order mark before the
header; bad ``train`` / ``fit`` options; ``sample --out`` checked before any training and onto a
file made with other settings; strict JSON from ``fit``; a short ``repr`` of a search result and
its table/array accessors.
"""

from __future__ import annotations

import codecs
import json
import logging
from pathlib import Path

import pytest

from fastnax.datasets.records import FIELDS, read_records
from fastnax.errors import FastnaxError, RecordsError

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "fastnax" / "data" / "digits_imc_records.jsonl"


def packaged_rows(n: int = 30) -> list[dict]:
    return [json.loads(line) for line in PACKAGED.read_text(encoding="utf-8").splitlines()[:n]]


def write_jsonl(path: Path, rows: list[dict], bom: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8"))
    return path


def write_csv(path: Path, rows: list[dict], bom: bool = False) -> Path:
    import csv
    import io

    buf = io.StringIO()
    # the chips column when the rows name their chips (the packaged records do)
    columns = list(FIELDS) + (["hardware"] if any(r.get("hardware") for r in rows) else [])
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------

def test_fractions_instead_of_percent_are_refused(tmp_path):
    rows = packaged_rows()
    for r in rows:
        r["accuracy_clean"] /= 100
        r["accuracy_noisy"] = None if r["accuracy_noisy"] is None else r["accuracy_noisy"] / 100
    with pytest.raises(RecordsError, match=r"between 0 and 1 .*multiply the fractions by 100") as info:
        read_records(write_jsonl(tmp_path / "frac.jsonl", rows))
    assert "\n" not in str(info.value)
    # percent records read as before (the check can pass)
    assert len(read_records(write_jsonl(tmp_path / "pct.jsonl", packaged_rows()))) == 30


def test_mixed_datasets_are_warned_in_one_line(tmp_path, caplog):
    rows = packaged_rows()
    for r in rows[:3]:
        r["dataset"] = "mnist"
    with caplog.at_level(logging.WARNING, logger="fastnax"):
        records = read_records(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert len(records) == 30
    warned = [r.getMessage() for r in caplog.records if "datasets" in r.getMessage()]
    assert len(warned) == 1 and "digits: 27, mnist: 3" in warned[0] and "\n" not in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fastnax"):
        read_records(write_jsonl(tmp_path / "one.jsonl", packaged_rows()))
    assert not [r for r in caplog.records if "datasets" in r.getMessage()]


@pytest.mark.parametrize("writer", [write_csv, write_jsonl], ids=["csv", "jsonl"])
def test_utf8_bom_before_the_header_is_read_with_a_warning(tmp_path, caplog, writer):
    suffix = ".csv" if writer is write_csv else ".jsonl"
    plain = read_records(writer(tmp_path / f"plain{suffix}", packaged_rows()))
    with caplog.at_level(logging.WARNING, logger="fastnax"):
        marked = read_records(writer(tmp_path / f"bom{suffix}", packaged_rows(), bom=True))
    assert marked == plain
    assert len([r for r in caplog.records if "byte-order mark" in r.getMessage()]) == 1


def test_appending_to_a_csv_with_a_bom_keeps_its_columns(tmp_path):
    from fastnax.datasets.records import append_record

    path = write_csv(tmp_path / "bom.csv", packaged_rows(3), bom=True)
    extra = read_records(write_jsonl(tmp_path / "x.jsonl", packaged_rows(4)[3:]))[0]
    append_record(path, extra)
    assert len(read_records(path)) == 4


# --------------------------------------------------------------------------------------------
# SearchResult: a short repr, arrays and a table
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def result():
    from fastnax import search
    from fastnax.datasets import space_options_for

    return search.run(space_options=space_options_for("digits"), dataset="digits", seed=0)


def test_repr_is_one_short_line(result):
    text = repr(result)
    assert "\n" not in text and len(text) < 300, text
    assert f"front={len(result.front)} designs" in text and result.front[-1]["arch"] not in text
    assert f"{result.best['accuracy']:.2f}" in text


def test_arrays_and_F(result):
    import numpy as np

    a = result.arrays()
    n = len(result.front)
    assert a["accuracy"].shape == (n,) and a["accuracy"].dtype == float
    np.testing.assert_array_equal(a["edap"], [p["edap"] for p in result.front])
    assert list(a["arch"]) == [p["arch"] for p in result.front]
    cost = result.settings["cost"]
    np.testing.assert_array_equal(result.F, np.column_stack([-a["accuracy"], a[cost]]))
    assert list(result.arrays("baselines")["name"]) == [b["name"] for b in result.baselines]
    with pytest.raises(FastnaxError, match="unknown point set"):
        result.arrays("candidates")


def test_to_dataframe_without_pandas_is_one_line(result, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(FastnaxError, match=r"needs pandas.*pip install pandas") as info:
        result.to_dataframe()
    assert "\n" not in str(info.value)


def test_to_dataframe(result):
    pandas = pytest.importorskip("pandas", reason="pandas is optional and not installed here")
    df = result.to_dataframe()
    assert isinstance(df, pandas.DataFrame) and len(df) == len(result.front)
    assert list(df["arch"]) == [p["arch"] for p in result.front]
    assert list(result.to_dataframe("baselines")["name"]) == [b["name"] for b in result.baselines]


# --------------------------------------------------------------------------------------------
# option checks (argparse types) and devices
# --------------------------------------------------------------------------------------------

def test_argument_types():
    import argparse

    from fastnax.commands import argtypes

    assert argtypes.positive_float("0.05") == 0.05 and argtypes.non_negative_int("0") == 0
    assert argtypes.positive_int("3") == 3 and argtypes.records_path("r.CSV") == "r.CSV"
    for check, bad in ((argtypes.positive_float, ["-1", "0", "nan", "inf", "abc"]),
                       (argtypes.non_negative_int, ["-3", "1.5", "x"]),
                       (argtypes.positive_int, ["0", "-2", "two"]),
                       (argtypes.device_name, ["gpu0", "cuda0", "cuda:x", ""]),
                       (argtypes.records_path, ["x.txt", "records", "r.jsonl.bak"])):
        for text in bad:
            with pytest.raises(argparse.ArgumentTypeError) as info:
                check(text)
            assert "\n" not in str(info.value)
    assert [argtypes.device_name(d) for d in ("cpu", "cuda", "cuda:1", "mps")] == ["cpu", "cuda", "cuda:1", "mps"]


def test_resolve_device_on_this_torch():
    torch = pytest.importorskip("torch")
    from fastnax.commands.argtypes import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(FastnaxError, match="device 'cuda' is not available.*use --device cpu"):
            resolve_device("cuda")
    else:
        n = torch.cuda.device_count()
        with pytest.raises(FastnaxError, match="does not exist"):
            resolve_device(f"cuda:{n}")
    with pytest.raises(FastnaxError):
        resolve_device("gpu0")  # the same check from Python


def test_negative_seed_is_refused_before_any_fold():
    import numpy as np

    from fastnax.predictors import XGBPredictor

    X, y = np.random.default_rng(0).random((20, 3)), np.linspace(10, 90, 20)
    for call in (lambda p: p.cross_validate(X, y, folds=3), lambda p: p.fit(X, y)):
        with pytest.raises(FastnaxError, match="random_state must be a non-negative integer"):
            call(XGBPredictor(random_state=-3))


# --------------------------------------------------------------------------------------------
# the command line: bad options are one line, before any work
# --------------------------------------------------------------------------------------------

def cli(argv, capsys):
    from fastnax.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv,fragment", [
    (["train", "--baseline", "resnet20", "--lr", "-1"], "--lr"),
    (["train", "--baseline", "resnet20", "--lr", "nan"], "--lr"),
    (["train", "--baseline", "resnet20", "--lr", "inf"], "--lr"),
    (["train", "--baseline", "resnet20", "--batch-size", "0"], "--batch-size"),
    (["train", "--baseline", "resnet20", "--device", "gpu0"], "unknown device 'gpu0'"),
    (["train", "--baseline", "resnet20", "--seed", "-1"], "--seed"),
    (["fit", str(PACKAGED), "--seed", "-3", "--out", "{tmp}/p.json"], "--seed"),
    (["search", "--seed", "-2"], "--seed"),
    (["sample", "--n", "2", "--epochs", "1", "--out", "{tmp}/x.txt"], "extension '.txt'"),
    (["sample", "--n", "2", "--lr", "0", "--out", "{tmp}/r.jsonl"], "--lr"),
    (["sample", "--n", "2", "--batch-size", "-4", "--out", "{tmp}/r.jsonl"], "--batch-size"),
    (["sample", "--n", "-1", "--out", "{tmp}/r.jsonl"], "n=-1"),
], ids=["train-lr-neg", "train-lr-nan", "train-lr-inf", "train-batch-0", "train-device-gpu0", "train-seed-neg",
        "fit-seed-neg", "search-seed-neg", "sample-out-txt", "sample-lr-0", "sample-batch-neg", "sample-n-neg"])
def test_bad_options_are_one_line_before_any_work(argv, fragment, capsys, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = cli(argv + ([] if argv[0] in ("fit", "search", "sample") else ["--out", str(tmp_path / "t")]),
                         capsys)
    assert code == 2 and err.count("\n") == 1 and fragment in err and "Traceback" not in err, (argv, err)
    assert "[sample]" not in err and "[train]" not in out + err  # nothing trained
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # nothing written


def test_cuda_on_a_cpu_torch_is_one_line(capsys, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this torch sees a GPU")
    code, out, err = cli(["train", "--baseline", "resnet20", "--device", "cuda", "--out", tmp_path / "t"], capsys)
    assert code == 2 and err.count("\n") == 1 and "'cuda' is not available" in err and "--device cpu" in err, err
    assert not (tmp_path / "t").exists()


def test_sample_onto_a_file_of_another_dataset_is_refused_before_training(capsys, tmp_path):
    out = write_jsonl(tmp_path / "r.jsonl", packaged_rows(5))  # digits records
    before = out.read_bytes()
    code, _, err = cli(["sample", "--dataset", "synthetic", "--n", "2", "--epochs", "1", "--out", out], capsys)
    assert code == 2 and err.count("\n") == 1 and "already holds 5 records of imc/digits" in err, err
    assert out.read_bytes() == before


def test_sample_reports_the_file_count_and_warns_on_other_epochs(capsys, tmp_path, caplog):
    out = tmp_path / "r.jsonl"

    def argv(epochs):
        return ["sample", "--dataset", "synthetic", "--n", "1", "--epochs", epochs, "--jobs", "1", "--max-train",
                "64", "--max-test", "32", "--noise-trials", "0", "--json", "--out", out]

    code, first, err = cli(argv(1), capsys)
    assert code == 0, err
    with caplog.at_level(logging.WARNING, logger="fastnax"):
        code, second, err = cli(argv(2), capsys)
    assert code == 0, err
    assert len([r for r in caplog.records if "mix budgets" in r.getMessage()]) == 1
    summary = json.loads(second)
    assert summary["records"] == 1 and summary["records_in_file"] == 2, summary


def test_fit_json_is_strict_on_all_equal_records(capsys, tmp_path):
    rows = packaged_rows(20)
    for r in rows:
        r["accuracy_clean"] = r["accuracy_noisy"] = 50.0  # nothing to rank: Kendall tau is undefined
    records = write_jsonl(tmp_path / "equal.jsonl", rows)
    code, out, err = cli(["fit", records, "--out", tmp_path / "p.json", "--json"], capsys)
    assert code == 0, err

    def refuse(name):
        raise ValueError(name)

    report = json.loads(out, parse_constant=refuse)
    sidecar = json.loads((tmp_path / "p.meta.json").read_text(), parse_constant=refuse)
    assert report and sidecar
    assert "NaN" not in out and "Infinity" not in out
