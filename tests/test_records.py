"""Architecture records: round trips, malformed rows, torn last lines; NAS-Bench-201 tables."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from conftest import shared_file
from fastnax import spaces
from fastnax.datasets import nb201
from fastnax.datasets.records import FIELDS, Record, append_record, read_records, write_records
from fastnax.errors import DatasetError, RecordsError


def make_records(n=5):
    archs = spaces.get("nb201").sample(n, seed=1)
    return [Record(str(a), "nb201", "cifar10", 12, i, 50.0 + i, None if i % 2 else 40.0 + i, 3.5 * i,
                   "0.1.0") for i, a in enumerate(archs)]


@pytest.mark.parametrize("ext", [".csv", ".jsonl", ".json"])
def test_round_trip(tmp_path, ext):
    records = make_records()
    path = write_records(tmp_path / f"r{ext}", records)
    assert read_records(path) == records
    extra = make_records(7)[-1]
    append_record(path, extra)
    assert read_records(path) == records + [extra]


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_append_creates_file(tmp_path, ext):
    rec = make_records(1)[0]
    path = tmp_path / "sub" / f"new{ext}"
    append_record(path, rec)
    append_record(path, rec)
    assert read_records(path) == [rec, rec]


def test_record_validation():
    good = make_records(1)[0].to_dict()
    for field, value in [("accuracy_clean", float("nan")), ("accuracy_clean", -1.0),
                         ("accuracy_clean", 100.5), ("accuracy_noisy", 101.0), ("epochs", 1.5),
                         ("arch", ""), ("train_seconds", -2.0)]:
        with pytest.raises(RecordsError, match=field):
            Record(**{**good, field: value})


def test_malformed_csv_names_file_line_field(tmp_path):
    path = write_records(tmp_path / "r.csv", make_records(3))
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",50.0" if ",50.0" in lines[2] else ",51.0", ",abc", 1)
    path.write_text("".join(lines))
    with pytest.raises(RecordsError) as info:
        read_records(path)
    msg = str(info.value)
    assert "r.csv:3" in msg and "accuracy_clean" in msg


def test_malformed_jsonl_nan_accuracy(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [r.to_dict() for r in make_records(3)]
    rows[1]["accuracy_clean"] = float("nan")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RecordsError, match=r"r.jsonl:2.*accuracy_clean"):
        read_records(path)


def test_missing_field_and_header(tmp_path):
    path = tmp_path / "r.jsonl"
    row = make_records(1)[0].to_dict()
    del row["seed"]
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(RecordsError, match="seed"):
        read_records(path)
    csv_path = tmp_path / "r.csv"
    csv_path.write_text("arch,space\nx,y\n")
    with pytest.raises(RecordsError, match="r.csv:1"):
        read_records(csv_path)


@pytest.mark.parametrize("content", ["", "\n", ",".join(FIELDS) + "\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "r.csv"
    path.write_text(content)
    with pytest.raises(RecordsError):
        read_records(path)


def test_missing_file_and_bad_extension(tmp_path):
    with pytest.raises(RecordsError, match="does not exist"):
        read_records(tmp_path / "none.csv")
    with pytest.raises(RecordsError, match="extension"):
        read_records(tmp_path / "r.txt")


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_torn_last_line_is_skipped_and_append_recovers(tmp_path, ext, caplog):
    records = make_records(3)
    path = write_records(tmp_path / f"r{ext}", records)
    full = path.read_bytes()
    extra = make_records(4)[-1]
    append_record(path, extra)
    whole = path.read_bytes()
    torn = whole[: len(full) + (len(whole) - len(full)) // 2]  # killed mid-write
    path.write_bytes(torn)
    with caplog.at_level(logging.WARNING, logger="fastnax.datasets.records"):
        assert read_records(path) == records
    assert "torn" in caplog.text
    append_record(path, extra)  # the resumed writer rewrites the lost record on a line of its own
    with caplog.at_level(logging.WARNING):
        got = read_records(path)
    assert got == records + [extra]


def test_torn_line_in_the_middle_is_an_error(tmp_path):
    path = write_records(tmp_path / "r.jsonl", make_records(3))
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1][:20] + "\n"
    path.write_text("".join(lines))
    with pytest.raises(RecordsError, match="r.jsonl:2"):
        read_records(path)


def test_write_is_atomic_no_temp_left(tmp_path):
    path = write_records(tmp_path / "r.csv", make_records(2))
    write_records(path, make_records(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]
    assert len(read_records(path)) == 3


def test_noisy_none_round_trip(tmp_path):
    recs = make_records(2)
    assert recs[1].accuracy_noisy is None
    for ext in (".csv", ".jsonl"):
        back = read_records(write_records(tmp_path / f"x{ext}", recs))
        assert back[1].accuracy_noisy is None and math.isclose(back[0].accuracy_noisy, 40.0)


# --- NAS-Bench-201 tables -------------------------------------------------------------------------
def test_nb201_load_real_table():
    path = shared_file("nb201/nb201_accuracy.csv")
    arch_strings, columns = nb201.load(path)
    assert len(arch_strings) == 15625
    y = columns["c10valid_valid_200ep"]
    assert y.shape == (15625,) and np.nanmax(columns["c10_test_200ep"]) == pytest.approx(94.37, abs=0.01)
    X = nb201.to_vectors(arch_strings)
    space = spaces.get("nb201")
    archs = space.decode(X[:3])
    assert [nb201.to_architectures(arch_strings[:3])[i] == archs[i] for i in range(3)] == [True] * 3
    ids = nb201.cell_ids(arch_strings)
    assert len(np.unique(ids)) == 15625 and not np.array_equal(ids, np.arange(15625))
    aligned = nb201.align(arch_strings, y)
    assert aligned[ids[5]] == y[5]


def test_nb201_load_latency_table():
    path = shared_file("nb201/nb201_latency.csv")
    arch_strings, columns = nb201.load(path)
    assert len(arch_strings) == 15625 and "lat_ms_eyeriss" in columns


def test_nb201_load_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        nb201.load(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("nb201_index,arch_str,acc\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,x\n")
    with pytest.raises(DatasetError, match="bad.csv:2.*acc"):
        nb201.load(bad)


# --- named accuracies ------------------------------------------------------------------------------
def make_named(n=4):
    archs = spaces.get("nb201").sample(n, seed=2)
    out = []
    for i, a in enumerate(archs):
        named = {"accuracy_analog_drift_86400": 70.0 + i}
        if i % 2 == 0:
            named["accuracy_ptq"] = 80.5 + i
        out.append(Record(str(a), "nb201", "cifar10", 200, i, 85.0 + i, None, 0.0, "0.1.0", accuracies=named))
    return out


@pytest.mark.parametrize("ext", [".csv", ".jsonl"])
def test_named_accuracies_round_trip(tmp_path, ext):
    records = make_named()
    path = write_records(tmp_path / f"named{ext}", records)
    back = read_records(path)
    assert back == records
    assert back[0].accuracy("accuracy_ptq") == 80.5 and back[1].accuracy("accuracy_ptq") is None
    assert back[1].accuracy("accuracy_analog_drift_86400") == 71.0
    assert back[2].accuracy("accuracy_clean") == 87.0 and back[2].accuracy("accuracy_noisy") is None
    assert back[0].accuracy_names == ("accuracy_clean", "accuracy_analog_drift_86400", "accuracy_ptq")
    if ext == ".csv":
        header = path.read_text().splitlines()[0].split(",")
        assert header == list(FIELDS) + ["accuracy_analog_drift_86400", "accuracy_ptq"]
        assert path.read_text().splitlines()[2].endswith(",71.0,")  # not measured: empty cell
    else:
        assert "accuracy_ptq" not in json.loads(path.read_text().splitlines()[1])
    # appending keeps the columns; a record with a column the CSV lacks is refused, file untouched
    append_record(path, records[1])
    assert read_records(path) == records + [records[1]]
    stranger = Record(records[0].arch, "nb201", "cifar10", 200, 9, 85.0, None, 0.0, "0.1.0",
                      accuracies={"accuracy_qat": 84.0})
    if ext == ".csv":
        before = path.read_bytes()
        with pytest.raises(RecordsError, match="accuracy_qat.*not a column"):
            append_record(path, stranger)
        assert path.read_bytes() == before
    else:
        append_record(path, stranger)
        assert read_records(path)[-1].accuracy("accuracy_qat") == 84.0


def test_named_accuracy_validation(tmp_path):
    base = make_records(1)[0].to_dict()
    for named, match in [({"accuracy_x": float("nan")}, "accuracy_x.*finite"),
                         ({"accuracy_x": 100.5}, "accuracy_x.*percentage"),
                         ({"accuracy_x": -0.1}, "accuracy_x.*percentage"),
                         ({"accuracy_x": "high"}, "accuracy_x.*number"),
                         ({"accuracy_X": 50.0}, "name 'accuracy_X' is not valid"),
                         ({"speed": 50.0}, "name 'speed' is not valid"),
                         ({"accuracy_clean": 50.0}, "not valid")]:
        with pytest.raises(RecordsError, match=match):
            Record(**base, accuracies=named)
    # None means "not measured"
    assert Record(**base, accuracies={"accuracy_x": None}).accuracies == ()
    # in files: the message names the file, the line and the column
    path = tmp_path / "bad.csv"
    good = write_records(tmp_path / "good.csv", make_named(2)).read_text().splitlines()
    path.write_text(good[0] + "\n" + good[1].replace("70.0", "170.0") + "\n")
    with pytest.raises(RecordsError, match=r"bad.csv:2.*accuracy_analog_drift_86400.*percentage"):
        read_records(path)
    jl = tmp_path / "bad.jsonl"
    row = {**base, "accuracy_ptq": float("inf")}
    jl.write_text(json.dumps(row) + "\n")
    with pytest.raises(RecordsError, match=r"bad.jsonl:1.*accuracy_ptq"):
        read_records(jl)


def test_named_accuracy_torn_line_recovers(tmp_path):
    records = make_named(3)
    path = write_records(tmp_path / "t.csv", records[:2])
    with open(path, "ab") as fh:
        fh.write(b"nb201:3x32")  # a killed writer
    append_record(path, records[2])
    assert read_records(path) == records


def test_nb201_table_to_records():
    path = shared_file("nb201/nb201_accuracy.csv")
    arch_strings, columns = nb201.load(path)
    recs = nb201.to_records(arch_strings, columns, clean="c10valid_valid_200ep", named=("c10_test_12ep",),
                            rows=[0, 1, 2])
    assert [r.seed for r in recs] == [0, 1, 2]
    assert recs[1].accuracy_clean == pytest.approx(columns["c10valid_valid_200ep"][1])
    assert recs[1].accuracy("accuracy_c10_test_12ep") == pytest.approx(columns["c10_test_12ep"][1])
    assert nb201.to_architectures(arch_strings[1:2])[0] == spaces.get("nb201").decode(
        nb201.to_vectors(arch_strings[1:2]))[0]
    assert str(nb201.to_architectures(arch_strings[1:2])[0]) == recs[1].arch
    with pytest.raises(DatasetError, match="no column 'nope'"):
        nb201.to_records(arch_strings, columns, clean="nope")
