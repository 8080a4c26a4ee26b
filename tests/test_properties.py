"""Property-based tests (hypothesis): no input in the domain crashes; every output is finite.

Domains: any in-bounds real vector of every space (rounding is the decoder's job), any hardware
model field value (accepted ones price finitely, others raise HardwareError), any text or bytes
given to the records reader or the architecture parser (records / an Architecture, or a
FastnaxError: never another exception).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fastnax import graph, hwmodel, spaces
from fastnax.arch import Architecture
from fastnax.errors import FastnaxError, HardwareError, RecordsError

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

SPACES = {"imc": spaces.get("imc"), "imc-8": spaces.get("imc", input_size=8),
          "nax": spaces.get("nax"), "nb201": spaces.get("nb201")}
PRESETS = {name: hwmodel.get_preset(name) for name in hwmodel.presets()}


@st.composite
def in_bounds_batch(draw, space, max_rows: int = 6):
    """A batch (n, d) of real vectors inside the space's box (not necessarily integers)."""
    n = draw(st.integers(1, max_rows))
    lo, hi = space.bounds[:, 0].astype(float), space.bounds[:, 1].astype(float)
    rows = []
    for _ in range(n):
        rows.append([draw(st.floats(l, h, allow_nan=False)) for l, h in zip(lo, hi)])
    return np.asarray(rows, dtype=float)


@pytest.mark.parametrize("name", list(SPACES))
def test_any_in_bounds_vector_decodes_prices_and_featurizes(name):
    space = SPACES[name]

    @SETTINGS
    @given(X=in_bounds_batch(space))
    def check(X):
        archs = space.decode(X)
        assert len(archs) == len(X)
        index = space.to_index(X)
        np.testing.assert_array_equal(space.encode(archs), index)  # canonical round trip
        for arch in archs:
            assert Architecture.from_string(str(arch)) == arch
        F = graph.features_from_vectors(space, X)
        assert F.shape == (len(X), len(graph.feature_names()))
        assert np.all(np.isfinite(F)), graph.feature_names()
        np.testing.assert_allclose(F, graph.features(archs), rtol=1e-9, atol=1e-9)  # batch == per-arch path
        table = space.layer_table(X)
        for preset in PRESETS.values():
            cost = preset.evaluate(table)
            for key in ("energy_pj", "latency_ns", "area_mm2", "edap", "tops", "tops_per_w"):
                value = np.asarray(getattr(cost, key))
                assert value.shape == (len(X),)
                assert np.all(np.isfinite(value)) and np.all(value > 0), (preset.name, key, value)
            sigma = np.asarray(cost.mean_noise_sigma)
            assert np.all(np.isfinite(sigma)) and np.all(sigma >= 0)

    check()


@pytest.mark.parametrize("name", ["imc", "nb201"])
def test_out_of_bounds_or_nan_vectors_raise_fastnax_errors(name):
    space = SPACES[name]

    @SETTINGS
    @given(j=st.integers(0, space.dim - 1),
           value=st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf),
                           st.floats(-1e9, -0.6), st.floats(0.6, 1e9)))
    def check(j, value):
        x = space.sample_vectors(1, seed=0)[0]
        x[j] = value if not np.isfinite(value) else (space.bounds[j, 0] + value if value < 0
                                                     else space.bounds[j, 1] + value)
        with pytest.raises(FastnaxError):
            space.decode(x[None])

    check()


# --- hardware model fields ---------------------------------------------------------------------------

# In the domain: finite constants up to 1e6 (pJ, ns, um2...); outside it (must be refused): NaN,
# infinities, negatives, text, None, booleans for numbers.
FIELD_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -1e-9, 0.0]),
    st.floats(0.0, 1e6),
    st.integers(-3, 300),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)
SPEC_FIELDS = {key: [f.name for f in __import__("dataclasses").fields(getattr(PRESETS["puma-32nm"], key))]
               for key in ("crossbar", "adc", "dac", "periphery", "buffer", "schedule", "nonideality")}
TABLE = SPACES["imc"].layer_table(SPACES["imc"].sample_vectors(8, seed=1))


@SETTINGS
@given(preset=st.sampled_from(sorted(PRESETS)),
       changes=st.lists(st.tuples(st.sampled_from(sorted(SPEC_FIELDS)), st.data()), min_size=1, max_size=4),
       )
def test_any_hardware_field_value_is_refused_or_prices_finitely(preset, changes):
    overrides: dict = {}
    for table, data in changes:
        field_name = data.draw(st.sampled_from(SPEC_FIELDS[table]))
        overrides.setdefault(table, {})[field_name] = data.draw(FIELD_VALUES)
    try:
        model = PRESETS[preset].with_overrides(overrides)
    except FastnaxError:
        return  # refused with a one-line reason: fine
    cost = model.evaluate(TABLE)
    for key in ("energy_pj", "latency_ns", "area_mm2", "edap"):
        value = np.asarray(getattr(cost, key))
        assert np.all(np.isfinite(value)) and np.all(value >= 0), (overrides, key, value)
    assert np.all(np.isfinite(cost.mean_noise_sigma))


@pytest.mark.parametrize("table,field_name,value", [
    ("adc", "bits", 0), ("adc", "bits", -3), ("crossbar", "energy_pj_at_128", math.nan),
    ("crossbar", "energy_pj_at_128", -1.0), ("buffer", "bandwidth_bits_per_ns", 0.0),
    ("crossbar", "rows_parallel", -3), ("schedule", "replication", 0.5), ("dac", "bits", 0),
])
def test_out_of_range_hardware_fields_raise_hardware_errors(table, field_name, value):
    with pytest.raises(FastnaxError) as info:
        PRESETS["puma-32nm"].with_overrides({table: {field_name: value}})
    assert field_name in str(info.value) and isinstance(info.value, (HardwareError, FastnaxError))


# --- records reader and architecture parser ---------------------------------------------------------

def _read(tmp_path, name, data: bytes):
    from fastnax.datasets.records import read_records

    path = tmp_path / name
    path.write_bytes(data)
    try:
        records = read_records(path)
    except RecordsError:
        return None
    assert records
    for r in records:  # whatever is accepted is valid and finite
        assert math.isfinite(r.accuracy_clean) and 0 <= r.accuracy_clean <= 100
        assert r.accuracy_noisy is None or (math.isfinite(r.accuracy_noisy) and 0 <= r.accuracy_noisy <= 100)
        assert math.isfinite(r.train_seconds) and r.train_seconds >= 0 and r.epochs >= 0
    return records


GOOD = {"arch": "nb201:3x32x32:10:w8a8c2:preset:x16:|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|"
                "nor_conv_1x1~0|skip_connect~1|none~2|",
        "space": "nb201", "dataset": "cifar10", "epochs": 12, "seed": 0, "accuracy_clean": 80.5,
        "accuracy_noisy": None, "train_seconds": 1.5, "fastnax_version": "0.1.0"}
JSON_VALUES = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=5)


@SETTINGS
@given(lines=st.lists(st.text(max_size=60), max_size=6), ext=st.sampled_from([".jsonl", ".csv"]))
def test_records_reader_on_arbitrary_text(tmp_path, lines, ext):
    _read(tmp_path, "r" + ext, "\n".join(lines).encode("utf-8", "surrogatepass"))


@SETTINGS
@given(data=st.binary(max_size=200), ext=st.sampled_from([".jsonl", ".csv"]))
def test_records_reader_on_arbitrary_bytes(tmp_path, data, ext):
    _read(tmp_path, "r" + ext, data)


@SETTINGS
@given(field_values=st.dictionaries(st.sampled_from(sorted(GOOD)), JSON_VALUES, max_size=3),
       drop=st.sets(st.sampled_from(sorted(GOOD)), max_size=2), torn=st.integers(0, 40))
def test_records_reader_on_mutated_records(tmp_path, field_values, drop, torn):
    row = {k: v for k, v in {**GOOD, **field_values}.items() if k not in drop}
    text = json.dumps(GOOD) + "\n" + json.dumps(row, allow_nan=True) + "\n"
    records = _read(tmp_path, "r.jsonl", text.encode()[:len(text) - torn] if torn else text.encode())
    if not field_values and not drop and not torn:
        assert records is not None and len(records) == 2


@SETTINGS
@given(text=st.text(max_size=80))
def test_architecture_parser_on_arbitrary_text(text):
    try:
        arch = Architecture.from_string(text)
    except FastnaxError:
        return
    assert Architecture.from_string(str(arch)) == arch


@SETTINGS
@given(pos=st.integers(0, 10_000), char=st.characters(codec="ascii"), space=st.sampled_from(["imc", "nb201"]))
def test_architecture_parser_on_mutated_strings(pos, char, space):
    """One character of a valid string replaced: an Architecture (whose costs are finite) or an error."""
    text = str(SPACES[space].sample(1, seed=pos % 7)[0])
    i = pos % len(text)
    mutated = text[:i] + char + text[i + 1:]
    try:
        arch = Architecture.from_string(mutated)
    except FastnaxError:
        return
    cost = PRESETS["puma-32nm"].evaluate_archs([arch])
    assert np.all(np.isfinite(cost.edap)) and np.all(cost.edap > 0)
    assert np.all(np.isfinite(graph.features([arch])))
