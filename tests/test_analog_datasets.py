"""AnalogNAS-Bench as records: the CSV, and the package's pickle through the allow-list unpickler."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest

from conftest import shared_file
from fastnax import spaces
from fastnax.datasets import analognasbench as anb
from fastnax.datasets import nb201
from fastnax.datasets.records import read_records, write_records
from fastnax.errors import DatasetError


def test_csv_to_records():
    path = shared_file("analognasbench/analognasbench_c10.csv")
    arch_strings, columns = anb.load(path)
    assert len(arch_strings) == 15625
    assert set(anb.ACCURACY_COLUMNS) <= set(columns)
    assert set(anb.DEVELOPMENT).isdisjoint(anb.HELD_OUT)
    recs = anb.to_records(arch_strings, columns, rows=[1, 7])
    r = recs[0]
    assert r.space == "nb201" and r.epochs == 200 and r.seed == 1
    assert r.accuracy_clean == pytest.approx(columns["baseline_accuracy"][1])
    assert r.accuracy("accuracy_analog_drift_86400") == pytest.approx(columns["analog_drift_86400"][1])
    assert r.accuracy("accuracy_noisy_accuracy") == pytest.approx(columns["noisy_accuracy"][1])
    assert r.accuracy("accuracy_analog_drift_86400_std") is None  # spreads are not accuracies
    assert str(nb201.to_architectures([arch_strings[1]])[0]) == r.arch
    only = anb.to_records(arch_strings, columns, named=["analog_drift_86400"], rows=[3])[0]
    assert [n for n, _ in only.accuracies] == ["accuracy_analog_drift_86400"]


def test_csv_records_file_round_trip(tmp_path):
    path = shared_file("analognasbench/analognasbench_c10.csv")
    arch_strings, columns = anb.load(path)
    recs = anb.to_records(arch_strings, columns, rows=range(20))
    for ext in (".csv", ".jsonl"):
        assert read_records(write_records(tmp_path / f"anb{ext}", recs)) == recs


def test_load_refuses_other_tables(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("nb201_index,arch_str,acc\n0,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n")
    with pytest.raises(DatasetError, match="baseline_accuracy"):
        anb.load(bad)


# --- the package's data file ---------------------------------------------------------------------
def _fake_package_pickle(entries: dict, protocol: int) -> bytes:
    """A pickle shaped like analog-nasbench's data.anb, made with stand-in classes of the same names.

    The stand-ins live in throwaway modules registered only while dumping; the reader never sees them.
    """
    pkg, mod = types.ModuleType("analognasbench"), types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    class DriftMeasurement:
        def __init__(self, value, uncertainty):
            self.value, self.uncertainty = value, uncertainty

    for cls in (Architecture, DriftMeasurement):
        cls.__module__, cls.__qualname__ = "analognasbench.data", cls.__name__
        setattr(mod, cls.__name__, cls)
    pkg.data = mod
    saved = {k: sys.modules.get(k) for k in ("analognasbench", "analognasbench.data")}
    sys.modules.update({"analognasbench": pkg, "analognasbench.data": mod})
    try:
        table = {}
        for key, values in entries.items():
            a = Architecture()
            a.architecture = key
            for name, v in values.items():
                setattr(a, name, DriftMeasurement(*v) if isinstance(v, tuple) else v)
            table[key] = a
        return pickle.dumps(table, protocol=protocol)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


ENTRY = {"baseline_accuracy": np.float64(93.25), "ptq_accuracy": 93.0, "qat_accuracy": 92.5,
         "noisy_accuracy": 85.5, "analog_accuracy": 89.75, "params": 1.2,
         "analog_drift_60": (89.5, 0.25), "analog_drift_3600": "89.25 ± 0.3",
         "analog_drift_86400": (88.75, 0.5), "analog_drift_2592000": (88.5, 0.75),
         "noisy_drift_60": (81.5, 1.0), "noisy_drift_3600": (75.5, 1.25),
         "noisy_drift_86400": (68.0, 2.0), "noisy_drift_2592000": (55.0, 2.5)}


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_package_pickle_is_read_without_the_package(tmp_path, protocol):
    # NASLib op tuples: 0 Identity, 1 Zero, 2 conv3x3, 3 conv1x1, 4 avgpool; edges (1,2) (1,3) (1,4)
    # (2,3) (2,4) (3,4) -> string positions 0 1 3 2 4 5
    entries = {(2, 1, 0, 3, 4, 1): ENTRY, (0, 0, 0, 0, 0, 0): {**ENTRY, "baseline_accuracy": 60.5}}
    path = tmp_path / "data.anb"
    path.write_bytes(_fake_package_pickle(entries, protocol))
    assert "analognasbench" not in sys.modules
    arch_strings, columns = anb.load_package_data(path)
    assert "analognasbench" not in sys.modules  # never imported
    expected = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"
    all_skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    assert sorted(arch_strings) == sorted([expected, all_skip])
    i = arch_strings.index(expected)
    assert columns["baseline_accuracy"][i] == 93.25 and columns["baseline_accuracy"][1 - i] == 60.5
    assert columns["analog_drift_3600"][i] == 89.25 and columns["analog_drift_3600_std"][i] == 0.3
    assert columns["baseline_drift_86400"][i] == 68.0 and columns["baseline_drift_86400_std"][i] == 2.0
    recs = anb.to_records(arch_strings, columns)
    assert recs[i].accuracy("accuracy_analog_drift_86400") == 88.75
    assert recs[i].arch == str(spaces.get("nb201").decode(nb201.to_vectors([expected]))[0])


def test_naslib_mapping():
    assert anb.naslib_to_cell_string((1, 1, 2, 1, 1, 1)) == "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    assert anb.naslib_to_cell_string((1, 1, 1, 3, 1, 1)) == "|none~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|none~2|"
    for bad in [(0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 5), "000000", (0, 0, 0, 0, 0, True)]:
        with pytest.raises(DatasetError, match="NASLib"):
            anb.naslib_to_cell_string(bad)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Evil()),
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"cos\nsystem\n(S'echo x'\ntR.",
    pickle.dumps({(0, 0, 0, 0, 0, 0): np.array([1.0])}),  # arrays are not on the list
    pickle.dumps(np.dtype(object)),
])
def test_refused_payloads(tmp_path, payload):
    path = tmp_path / "evil.anb"
    path.write_bytes(payload)
    with pytest.raises(DatasetError, match="refused|not a readable"):
        anb.load_package_data(path)


def test_malformed_package_files(tmp_path):
    path = tmp_path / "x.anb"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DatasetError, match="expected a non-empty dict"):
        anb.load_package_data(path)
    path.write_bytes(pickle.dumps({(0, 0, 0, 0, 0, 0): 3.0}))
    with pytest.raises(DatasetError, match="not an architecture"):
        anb.load_package_data(path)
    path.write_bytes(b"\x80\x04truncated")
    with pytest.raises(DatasetError, match="not a readable"):
        anb.load_package_data(path)
    with pytest.raises(DatasetError, match="missing"):
        anb.load_package_data(tmp_path / "absent.anb")


def test_package_data_path_without_the_package():
    import importlib.util

    if importlib.util.find_spec("analognasbench") is not None:
        pytest.skip("analog-nasbench is installed here")
    with pytest.raises(DatasetError, match="not installed"):
        anb.package_data_path()
