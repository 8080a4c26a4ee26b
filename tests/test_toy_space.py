"""A search space written outside the package plugs in with one class: registration, the
conformance checks and every search method, with only the SearchSpace contract's defaults."""

from __future__ import annotations

import numpy as np
import pytest

from fastnax import Architecture, graph, spaces
from fastnax.arch import Layer
from fastnax.search import optimizer_names, run
from fastnax.spaces import SearchSpace, check_search_space, register_space

WIDTHS = (8, 16, 32)
KERNELS = (1, 3, 5)
CROSSBARS = (32, 64, 128)


@register_space("toychain")
class ToyChain(SearchSpace):
    """A chain of 1-3 convolutions (width, kernel each), global pooling, a classifier; one
    crossbar size for every layer. Absent layers' coordinates are reset to 0."""

    def __init__(self, input_size: int = 8, num_classes: int = 4):
        self.options = {"input_size": int(input_size), "num_classes": int(num_classes)}

    @property
    def bounds(self):
        hi = [2] + [len(WIDTHS) - 1, len(KERNELS) - 1] * 3 + [len(CROSSBARS) - 1]
        return np.stack([np.zeros(len(hi)), np.asarray(hi, float)], axis=1)

    @property
    def coordinate_names(self):
        names = ["n_layers"]
        for i in range(3):
            names += [f"l{i}_width", f"l{i}_kernel"]
        return names + ["crossbar"]

    def canonicalize(self, index):
        index = np.array(index, dtype=np.int64, copy=True)
        for i in range(3):
            absent = index[:, 0] < i
            index[absent, 1 + 2 * i] = 0
            index[absent, 2 + 2 * i] = 0
        return index

    @property
    def size(self):
        per_layer = len(WIDTHS) * len(KERNELS)
        return sum(per_layer ** (n + 1) for n in range(3)) * len(CROSSBARS)

    def build_layers(self, arch):
        g = arch.genotype
        h, c = self.options["input_size"], 1
        x = CROSSBARS[g[-1]]
        layers = [Layer("input", c_out=1, in_hw=(h, h), out_hw=(h, h))]
        for i in range(g[0] + 1):
            w, k = WIDTHS[g[1 + 2 * i]], KERNELS[g[2 + 2 * i]]
            layers.append(Layer("conv", (len(layers) - 1,), c, w, k, 1, (h, h), (h, h), x, "post", True))
            c = w
        layers.append(Layer("gap", (len(layers) - 1,), c, c, h, 1, (h, h), (1, 1)))
        layers.append(Layer("linear", (len(layers) - 1,), c, self.options["num_classes"], 1, 1, (1, 1),
                            (1, 1), x))
        return tuple(layers)


class Saturating:
    """A fixed accuracy model (percent) of the graph features: wider and deeper is better."""

    target_ = "accuracy_clean"

    def predict(self, F):
        names = graph.feature_names()
        p = F[:, names.index("log10_params")]
        return 25 + 70 / (1 + np.exp(-(p - 3.0) * 2.0))


def test_registration_fills_get_and_from_string():
    space = spaces.get("toychain", input_size=6)
    assert "toychain" in spaces.names()
    arch = space.decode(space.sample_vectors(1, seed=0))[0]
    assert Architecture.from_string(str(arch)) == arch
    assert str(arch).startswith("toychain:")


def test_toy_space_passes_the_conformance_checks():
    report = check_search_space(ToyChain())
    assert report["size"] == 3 * (3 * 3) ** 3 * 3  # the whole box was enumerated (and size held to it)


def test_check_search_space_catches_a_lying_fast_path():
    class Liar(ToyChain):
        def features_from_index(self, index):  # a "fast path" that is off by one column
            F = super().features_from_index(index)
            F[:, graph.feature_names().index("depth")] += 1
            return F

    with pytest.raises(AssertionError, match="depth"):
        check_search_space(Liar())


def test_check_search_space_catches_undeclared_feature_dependence():
    class Careless(ToyChain):
        def network_coordinates(self):  # claims the widths change nothing
            return np.asarray(["width" not in name for name in self.coordinate_names])

        def knob_coordinates(self):
            return {"w_bits": None, "in_bits": None, "cell_bits": None, "adc_rule": None}

    with pytest.raises(AssertionError, match="feature_coordinates"):
        check_search_space(Careless())


@pytest.mark.parametrize("method", optimizer_names())
def test_every_method_searches_the_toy_space(method):
    space = ToyChain()
    budget = {"bo": 40, "exhaustive": None, "hierarchical": None}.get(method, 200)
    result = run(space, optimizer=method, predictor=Saturating(), seed=1, budget=budget)
    assert result.best is not None and result.front
    for p in result.front:
        assert space.contains(Architecture.from_string(p["arch"]))
    if budget is not None:
        assert result.n_evaluations <= budget
    exact = run(space, optimizer="exhaustive", predictor=Saturating())
    assert result.best["objective"] >= exact.best["objective"] - 1e-12  # nothing beats the optimum


def test_hierarchical_finds_the_toy_optimum():
    space = ToyChain()
    exact = run(space, optimizer="exhaustive", predictor=Saturating())
    found = run(space, optimizer="hierarchical", predictor=Saturating(), seed=0)
    assert found.best["objective"] == pytest.approx(exact.best["objective"], rel=0.01)


def test_an_optimizer_object_plugs_in():
    class FirstHundred:
        name, default_budget = "first-hundred", 100

        def optimize(self, evaluator, rng, budget):
            evaluator(evaluator.space.sample_vectors(budget, seed=rng))
            return {"drawn": budget}

    result = run(ToyChain(), optimizer=FirstHundred(), predictor=Saturating(), seed=0)
    assert result.n_evaluations == 100 and result.settings["method"] == "first-hundred"
    assert result.settings["method_details"] == {"drawn": 100}
