"""Graph metrics: the vectorized features equal the networkx reference; hand-checked values."""

from __future__ import annotations

import numpy as np
import pytest

from fastnax import Architecture, graph, spaces
from fastnax.errors import ArchitectureError
from fastnax.spaces.nb201 import EDGES, N_CELLS, cell_ops, from_nb201_string

NAMES = graph.feature_names()

SPACES = [("imc", {}), ("nax", {}), ("nb201", {}), ("imc", {"input_size": 8, "in_channels": 1}),
          ("imc", {"input_size": 64}), ("nb201", {"input_size": 8, "num_classes": 100})]


def reference(archs):
    return np.array([[graph.metrics(a)[k] for k in NAMES] for a in archs])


@pytest.mark.parametrize("name,options", SPACES)
def test_vectorized_equals_networkx(name, options):
    space = spaces.get(name, **options)
    X = space.sample_vectors(40, seed=7)
    archs = space.decode(X)
    fast = graph.features_from_vectors(space, X)
    ref = reference(archs)
    assert fast.shape == (40, len(NAMES))
    bad = [NAMES[j] for j in range(len(NAMES)) if not np.allclose(fast[:, j], ref[:, j])]
    assert not bad, f"columns differ from the networkx reference: {bad}"
    assert np.allclose(graph.features(archs), ref)


@pytest.mark.parametrize("name,options", SPACES)
def test_baselines_equal_networkx(name, options):
    space = spaces.get(name, **options)
    archs = [space.baseline(b) for b in space.baselines()]
    assert np.allclose(graph.features(archs), reference(archs))


def test_nb201_dead_and_special_cells_equal_networkx():
    ops = cell_ops(np.arange(N_CELLS))
    present = ops != 0
    # cells whose output node is cut off from the input (hand rule: every route uses a none edge)
    reach1 = present[:, 0]
    reach2 = present[:, 1] | (present[:, 2] & reach1)
    alive = present[:, 3] | (present[:, 4] & reach1) | (present[:, 5] & reach2)
    space = spaces.get("nb201")
    table = graph.features_from_vectors(space, np.concatenate([ops, np.full((N_CELLS, 1), 2)], axis=1))
    assert np.array_equal(table[:, NAMES.index("dead")] > 0, ~alive)
    assert (~alive).sum() == 341  # the figure the benchmark's README states
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.choice(np.where(~alive)[0], 8, replace=False),
                            rng.choice(np.where(alive & (ops == 4).any(axis=1))[0], 8, replace=False)])
    archs = space.decode(np.concatenate([ops[picks], np.full((len(picks), 1), 2)], axis=1))
    assert np.allclose(table[picks], reference(archs))


def test_nb201_hand_checked_cell():
    # node1 <- conv3x3(0); node2 <- skip(0), conv1x1(1); node3 <- none(0), skip(1), conv3x3(2)
    arch = from_nb201_string("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|skip_connect~1|nor_conv_3x3~2|")
    m = graph.metrics(arch)
    # cell paths 0->3: 0-1-3 (1 conv), 0-2-3 (1 conv), 0-1-2-3 (3 convs): 3 paths, 5 convs in all
    # network: 15 cells, two reductions with 2 routes each -> 3**15 * 4 paths
    assert m["log10_paths"] == pytest.approx(np.log10(1 + 3 ** 15 * 4))
    assert m["dead"] == 0
    # longest conv path: stem 1 + 15 cells * 3 + 2 reductions * 2 = 50; shortest 1 + 15 * 1 + 2 * 1
    assert m["depth"] == 50 and m["min_depth"] == 18
    # mean: per cell 5/3 convs, reductions average (2 + 1) / 2, stem 1
    assert m["mean_path_depth"] == pytest.approx(1 + 15 * 5 / 3 + 2 * 1.5)
    assert m["n_conv"] == 1 + 6 + 15 * 3 and m["n_conv1"] == 2 + 15 and m["n_conv3"] == 5 + 30
    assert m["n_skip"] == 2 + 15 * 2 and m["n_pool"] == 2
    assert m["n_conv_effective"] == m["n_conv"]  # every conv of this cell lies on a path
    params = arch.params
    assert m["log10_params"] == pytest.approx(np.log10(params))
    assert np.allclose(graph.features([arch])[0], [m[k] for k in NAMES])


def test_dangling_conv_is_not_effective():
    # node1 <- conv3x3(0) but node1 feeds nothing: that conv costs weights and is not on a path
    arch = from_nb201_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    m = graph.metrics(arch)
    assert m["n_conv"] - m["n_conv_effective"] == 15
    assert m["log10_params_effective"] < m["log10_params"]


def test_dead_cell_metrics():
    arch = from_nb201_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    m = graph.metrics(arch)
    assert m["dead"] == 1 and m["log10_paths"] == 0 and m["depth"] == 0 and m["receptive_field"] == 0


def test_resnet20_hand_checked():
    arch = spaces.get("imc").baseline("resnet20")
    m = graph.metrics(arch)
    assert m["n_conv"] == 1 + 18 + 2  # stem, 9 blocks x 2, two projections
    assert m["depth"] == 19 and m["min_depth"] == 1 + 2  # identity shortcuts skip all but 2 projections
    assert m["log10_paths"] == pytest.approx(np.log10(1 + 2 ** 9))
    assert m["n_skip"] == 9 and m["final_resolution"] == 8
    assert m["log10_params"] == pytest.approx(np.log10(arch.params))
    # receptive field: stem 3x3 (+2), stage 0: 6 convs 3x3 at jump 1 (+12); stage 1: first conv at
    # jump 1 (+2), then 5 at jump 2 (+20); stage 2: first at 2 (+4), 5 at jump 4 (+40): 1 + 80
    assert m["receptive_field"] == 81


def test_nn_degree_hand_checked():
    # vgg8-like chain has no skips: per stage, 2|E|/|V| with E = sum c_in*c_out, V = sum channels
    space = spaces.get("imc")
    arch = space.baseline("vgg8")
    m = graph.metrics(arch)
    # stage at 32: convs 3->128, 128->128; at 16: pool(128), convs 128->256, 256->256; at 8: pool(256),
    # 256->512, 512->512; at 4: pool(512)
    expected = (2 * (3 * 128 + 128 * 128) / 256 + 2 * (128 * 256 + 256 * 256) / (128 + 512)
                + 2 * (256 * 512 + 512 * 512) / (256 + 1024) + 0.0)
    assert m["nn_degree"] == pytest.approx(expected)


def test_to_networkx_structure():
    arch = spaces.get("imc").baseline("resnet20")
    g = graph.to_networkx(arch)
    assert g.number_of_nodes() == len(arch.layers)
    assert sum(1 for _, _, d in g.edges(data=True) if d["skip"]) == 9
    assert g.graph["output"] == len(arch.layers) - 1
    with pytest.raises(ArchitectureError):
        graph.to_networkx("not an architecture")


def test_features_accepts_strings_and_mixed_spaces():
    a = spaces.get("imc").baseline("resnet20")
    b = spaces.get("nb201").baseline("best-c10")
    F = graph.features([str(b), a, b])
    assert np.allclose(F[0], F[2]) and not np.allclose(F[0], F[1])
    assert np.allclose(F[1], reference([a])[0])


def test_features_ignore_hardware_knobs():
    space = spaces.get("nb201")
    X = space.sample_vectors(5, seed=3)
    Y = X.copy()
    Y[:, 6] = (Y[:, 6] + 1) % 5  # another crossbar size
    assert np.array_equal(graph.features_from_vectors(space, X), graph.features_from_vectors(space, Y))


def test_imc_throughput():
    import time

    space = spaces.get("imc")
    X = space.sample_vectors(100_000, seed=0)
    graph.features_from_vectors(space, X[:100])
    t0 = time.perf_counter()
    F = graph.features_from_vectors(space, X)
    elapsed = time.perf_counter() - t0
    assert F.shape == (100_000, len(NAMES)) and np.all(np.isfinite(F))
    # contract: >= 100,000 architectures per second; allow 2x for a loaded shared CI machine
    assert elapsed < 2.0, f"{elapsed:.2f} s for 100,000 imc architectures"


def test_unknown_space():
    with pytest.raises(Exception):
        graph.features_from_vectors("nope", np.zeros((1, 3)))
    assert len(EDGES) == 6 and isinstance(Architecture, type)
