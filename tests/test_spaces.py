"""Conformance suite run over every search space: the contract of fastnax.spaces.SearchSpace."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnax import Architecture, LayerTable, spaces
from fastnax.errors import ArchitectureError, BoundsError, FastnaxError, UnknownNameError
from fastnax.spaces.nb201 import cell_id, from_nb201_string, to_nb201_string

from conftest import shared_file

SPACES = [
    spaces.get("imc"),
    spaces.get("imc", input_size=64, num_classes=200),
    spaces.get("imc", input_size=8, in_channels=1),
    spaces.get("nax"),
    spaces.get("nb201"),
]
IDS = ["imc32", "imc64", "imc8", "nax", "nb201"]


def vectors(space):
    lo, hi = space.bounds[:, 0], space.bounds[:, 1]
    return st.lists(st.floats(0, 1), min_size=space.dim, max_size=space.dim).map(
        lambda u: lo + np.asarray(u) * (hi - lo))


def packed_rows(table: LayerTable):
    """Per architecture, the list of its weight layers (slot layout removed)."""
    rows = []
    for i in range(table.n_archs):
        m = table.mask[i]
        rows.append([tuple(int(getattr(table, f)[i][m][j]) for f in LayerTable.PER_LAYER)
                     for j in range(int(m.sum()))])
    return rows


@pytest.mark.parametrize("space", SPACES, ids=IDS)
class TestConformance:
    def test_bounds_shape(self, space):
        assert space.bounds.shape == (space.dim, 2)
        assert space.integrality.shape == (space.dim,) and space.integrality.all()
        assert len(space.coordinate_names) == space.dim
        assert isinstance(space.size, int) and space.size > 1

    def test_any_in_bounds_vector_decodes(self, space):
        @settings(max_examples=60, deadline=None)
        @given(vectors(space))
        def check(x):
            arch = space.decode(x)[0]
            assert Architecture.from_string(str(arch)) == arch
            assert arch.layers[-1].op == "linear"
            assert arch.params > 0
            for layer in arch.layers:
                assert all(src < arch.layers.index(layer) or True for src in layer.inputs)
                assert min(layer.out_hw) >= 0
        check()

    def test_encode_decode_identity_on_decoded_points(self, space):
        X = space.sample_vectors(300, seed=3)
        archs = space.decode(X)
        np.testing.assert_array_equal(space.encode(archs), X)
        assert space.decode(space.encode(archs)) == archs
        # a raw (non-canonical) vector decodes to the same architecture as its canonical form
        rng = np.random.default_rng(0)
        raw = rng.uniform(space.bounds[:, 0], space.bounds[:, 1], size=(50, space.dim))
        canon = space.encode(space.decode(raw))
        assert space.decode(canon) == space.decode(raw)

    def test_batch_decode_equals_single(self, space):
        X = space.sample_vectors(40, seed=5)
        assert space.decode(X) == [space.decode(x)[0] for x in X]

    def test_sample_reproducible(self, space):
        np.testing.assert_array_equal(space.sample_vectors(20, seed=11), space.sample_vectors(20, seed=11))
        assert space.sample(5, seed=11) == space.sample(5, seed=11)
        assert space.sample(5, seed=11) != space.sample(5, seed=12)

    def test_baselines_are_members(self, space):
        assert space.baselines(), "every space names at least one baseline"
        for name in space.baselines():
            arch = space.baseline(name)
            assert space.contains(arch)
            assert space.decode(space.encode([arch]))[0] == arch

    def test_vectorized_layer_table_equals_reference(self, space):
        X = space.sample_vectors(120, seed=7)
        archs = space.decode(X)
        fast = space.layer_table(X)
        ref = LayerTable.from_architectures(archs)
        assert packed_rows(fast) == packed_rows(ref)
        for name in LayerTable.PER_ARCH:
            np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name), err_msg=name)
        # from architectures and from vectors agree
        assert packed_rows(space.layer_table(archs)) == packed_rows(fast)

    def test_out_of_bounds_and_nan_rejected(self, space):
        x = space.sample_vectors(1, seed=0)[0]
        bad = x.copy()
        bad[0] = space.bounds[0, 1] + 1
        with pytest.raises(BoundsError, match="out of bounds"):
            space.decode(bad)
        bad[0] = np.nan
        with pytest.raises(BoundsError, match="NaN"):
            space.decode(bad)
        with pytest.raises(BoundsError, match="coordinates"):
            space.decode(np.zeros(space.dim + 1))


def test_unknown_space_lists_valid():
    with pytest.raises(UnknownNameError, match="expected one of: imc, nax, nb201"):
        spaces.get("imc2")
    assert issubclass(UnknownNameError, ValueError)


def test_bad_option_is_a_fastnax_error():
    with pytest.raises(FastnaxError, match="valid options"):
        spaces.get("imc", colour="red")
    with pytest.raises(BoundsError, match="positive integer"):
        spaces.get("imc", input_size=0)


@pytest.mark.parametrize("text", [
    "", "imc", "imc:3x32x32", "foo:bar", "imc:3x32x32:10:w8a8c2:preset/stem16k3x64/res3w16:3x64/gap-x64",
    "imc:3x32x32:10:w8a8c2:preset/stem16k4x64/-/-/-/gap-x64",
    "imc:3x32x32:10:w9a8c2:preset/stem0/-/-/-/gap-x64",
    "nb201:3x32x32:10:w8a8c2:preset:x64:|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "nb201:3x32x32:10:w8a8c2:preset:x63:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
])
def test_malformed_strings(text):
    with pytest.raises(FastnaxError):
        Architecture.from_string(text)


def test_resnet20_is_resnet20():
    arch = spaces.get("imc").baseline("resnet20")
    convs = [layer for layer in arch.layers if layer.op == "conv"]
    # 19 3x3 convs plus two 1x1 projections; 0.27 M weights (He et al. 2016, Table 6)
    assert sum(layer.kernel == 3 for layer in convs) == 19
    assert sum(layer.kernel == 1 for layer in convs) == 2
    assert arch.params == 270_896
    assert arch.layers[-1].c_out == 10


def test_vgg8_is_neurosim_vgg8():
    arch = spaces.get("imc").baseline("vgg8")
    weights = [(l.op, l.c_in, l.c_out, l.out_hw[0]) for l in arch.weight_layers]
    assert weights == [("conv", 3, 128, 32), ("conv", 128, 128, 32), ("conv", 128, 256, 16),
                       ("conv", 256, 256, 16), ("conv", 256, 512, 8), ("conv", 512, 512, 8),
                       ("linear", 8192, 1024, 1), ("linear", 1024, 10, 1)]
    assert abs(2 * arch.macs / 1e9 - 1.23) < 0.01  # NeuroSim: about 1.23 GOP per image


def test_resnet18_for_64px():
    space = spaces.get("imc", input_size=64, num_classes=200)
    arch = space.baseline("resnet18")
    assert sum(layer.op == "conv" and layer.kernel == 3 for layer in arch.layers) == 17
    assert arch.layers[-1].c_out == 200
    with pytest.raises(UnknownNameError, match="resnet18"):
        spaces.get("imc").baseline("resnet18")


def test_imc_size_exact_and_large():
    assert spaces.get("imc").size >= 10**12
    assert spaces.get("nb201").size == 15_625 * 5


def test_nax_is_restriction_of_imc():
    nax, imc = spaces.get("nax"), spaces.get("imc")
    archs = nax.sample(50, seed=1)
    for arch in archs:
        assert imc.contains(arch)
        assert all(l.kernel in (1, 3, 5, 7) for l in arch.weight_layers)
    assert not nax.contains(imc.baseline("vgg8"))
    # dropping a block: blocks 2 and 3 of a stage may vanish, block 1 never
    counts = {len([l for l in a.layers if l.op == "add"]) for a in archs}
    assert len(counts) > 1 and min(counts) >= 3


def test_nb201_strings_round_trip():
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    arch = from_nb201_string(s)
    assert to_nb201_string(arch) == s
    assert Architecture.from_string(str(arch)) == arch


def test_nb201_parser_on_every_benchmark_cell():
    path = shared_file("nb201/nb201_accuracy.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 15_625
    space = spaces.get("nb201")
    ops = []
    for row in rows:
        arch = from_nb201_string(row["arch_str"])
        assert to_nb201_string(arch) == row["arch_str"]
        ops.append(arch.genotype[:6])
    ids = cell_id(np.asarray(ops))
    assert len(set(ids.tolist())) == 15_625  # the benchmark holds every cell once
    np.testing.assert_array_equal(space.all_vectors()[ids, :6], np.asarray(ops))


def test_sample_with_macs_cap():
    space = spaces.get("imc", input_size=8, in_channels=1)
    cap = 2 * space.baseline("resnet20").macs
    X = space.sample_vectors(40, seed=4, max_macs=cap)
    assert X.shape == (40, space.dim)
    macs = space.macs(X)
    np.testing.assert_array_equal(macs, [a.macs for a in space.decode(X)])  # vectorized == reference
    assert macs.max() <= cap
    np.testing.assert_array_equal(X, space.sample_vectors(40, seed=4, max_macs=cap))
    # uncapped draws of this space are mostly far larger: the cap is what makes sampling trainable
    assert np.median(space.macs(space.sample_vectors(200, seed=4))) > cap
    with pytest.raises(BoundsError, match="too few"):
        space.sample_vectors(5, seed=0, max_macs=1)
    with pytest.raises(BoundsError, match="positive"):
        space.sample_vectors(5, seed=0, max_macs=-3)


@pytest.mark.parametrize("space", SPACES + [spaces.Restriction(spaces.get("imc"), spaces.get("imc").baseline("resnet20"),
                                                               ["s0_blocks", "stem_crossbar", "w_bits", "s1_conv2_kernel"])],
                         ids=IDS + ["restriction"])
def test_check_search_space(space):
    """Every built-in space passes the public conformance checks (fast paths = slow defaults)."""
    report = spaces.check_search_space(space, n=16, seed=1)
    assert report["features"] == 16 and report["feature_coordinates"] >= 16


def test_every_registered_space_is_built_by_get_and_parsed_back():
    for name in spaces.names():
        space = spaces.get(name)
        arch = space.decode(space.sample_vectors(1, seed=0))[0]
        assert Architecture.from_string(str(arch)) == arch
