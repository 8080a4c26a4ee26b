"""Graph metrics of architectures: the networkx reference and the vectorized feature matrix.

An architecture's layers form a DAG (``arch.layers``: node 0 the input, the last node the logits).
:func:`to_networkx` turns it into a :class:`networkx.DiGraph` and :func:`metrics` computes every
metric on that graph; this is the *definition*. :func:`features_from_vectors` computes the same
numbers for a whole batch of a space's vectors through the space's own ``features_from_index``
(each built-in space has a numpy path in its package, built on the shared helpers here:
:class:`PathStats`, :func:`log10_or_zero`, ...), and the tests hold the two equal on every
architecture they build. This module knows no space.

Metrics (the columns of :func:`feature_names`)
-----------------------------------------------
Paths are the directed paths from the input node to the output node, counted by dynamic
programming over a topological order (never enumerated: a NAS-Bench-201 network has up to
``4**15 * 4`` of them). A network with no input-output path (a NAS-Bench-201 cell whose output
node is cut off from its input: ~341 of the 15,625 cells) is *dead*: its path metrics are 0.

``log10_params``, ``log10_macs``
    log10 of the weight count and of the multiply-accumulates of one inference (conv and linear
    layers; ``Layer.params`` / ``Layer.macs``).
``log10_params_effective``, ``n_conv_effective``
    The same restricted to weight layers that lie on some input-output path (a convolution whose
    output never reaches the logits still costs weights but cannot help accuracy); 0 when dead.
``log10_conv_params_effective``
    log10 of the weights of the convolutions on input-output paths (fully-connected layers left
    out: a wide classifier on a flattened map adds weights but no feature extraction); 0 when
    dead or without convolutions.
``n_weight_layers``, ``n_conv``, ``n_conv{1,3,5,7}``, ``n_linear``, ``n_pool``
    Op counts (``n_pool``: max and average pooling).
``n_skip``, ``skip_density``
    Skip connections (inputs an ``add`` node marks as skip inputs) and skips per convolution.
``depth``, ``min_depth``, ``mean_path_depth``
    Most, fewest and path-averaged number of convolutions along an input-output path.
``log10_paths``, ``log10_conv_paths``
    log10(1 + number of input-output paths) and of those that contain at least one convolution.
``dead``
    1.0 when there is no input-output path.
``receptive_field``
    Largest receptive field (input pixels, one side) of the last spatial node over input-output
    paths: ``rf(v) = max_u rf(u) + (kernel - 1) * jump(u)``, ``jump(v) = jump(u) * stride`` for
    convolutions and pools; additions, global pooling, flatten and linear layers leave it.
``final_resolution``
    Spatial side of the tensor that global pooling (or flatten) reduces.
``width_mean``, ``width_min``, ``width_max``
    Statistics of the convolutions' output channels.
``nn_degree``
    FLASH's topology metric (Li et al., "FLASH: Fast Neural Architecture Search with Hardware
    Optimization", ACM TECS 2021): the average node degree of the channel-level graph, summed over
    the network's stages. Every channel of a convolution, pooling or addition node is a vertex;
    every weight connection (``c_in * c_out`` per convolution: one edge per channel pair) and every
    skip connection (one edge per channel) is an edge; a stage is the set of nodes that share an
    output resolution. ``nn_degree = sum over stages of 2 |E_s| / |V_s|`` (the undirected average
    degree). Wider and more densely skip-connected stages score higher.

Only the architecture enters a feature: no forward pass, no training. The last four columns
(``w_bits``, ``in_bits``, ``cell_bits``, ``adc_rule``) are the architecture's hardware knobs, not
graph metrics: bit widths change what a network computes on a chip (quantization, ADC precision),
so a predictor of the accuracy under non-idealities needs them. Crossbar sizes stay out (they change
cost, and noise only through the hardware model's sigma).
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Sequence

import numpy as np

from fastnax.arch import Architecture, codec_for, hardware_knobs
from fastnax.errors import ArchitectureError

_GRAPH_FEATURES = (
    "log10_params", "log10_macs", "log10_params_effective",
    "n_weight_layers", "n_conv", "n_conv_effective", "n_conv1", "n_conv3", "n_conv5", "n_conv7",
    "n_conv1_effective", "n_conv_large_effective", "n_linear", "n_pool", "n_pool_effective",
    "n_skip", "n_skip_effective", "skip_density",
    "depth", "min_depth", "mean_path_depth",
    "depth_large", "min_depth_large", "mean_path_depth_large",
    "max_path_pools", "min_path_pools", "mean_path_pools",
    "max_path_nodes", "min_path_nodes", "mean_path_nodes",
    "log10_paths", "log10_conv_paths", "dead",
    "receptive_field", "final_resolution", "width_mean", "width_min", "width_max", "nn_degree",
    "log10_conv_params_effective",
)

#: The hardware knobs an architecture carries (weight bits, input bits, bits per cell, ADC rule
#: index). They are not graph metrics, but they change the accuracy a network keeps on crossbars
#: (quantization, ADC precision): a predictor fitted on accuracies measured under the
#: non-idealities (``accuracy_noisy``) needs them to tell a 4-bit design from an 8-bit one.
_KNOB_FEATURES = ("w_bits", "in_bits", "cell_bits", "adc_rule")

_FEATURES = _GRAPH_FEATURES + _KNOB_FEATURES

#: Node weightings whose path statistics (max, min, mean over input-output paths) are features:
#: convolutions (``depth``), convolutions of kernel >= 3 (``*_large``: the ones that grow the
#: receptive field), pooling nodes (``*_pools``) and every node (``*_nodes``: graph depth).
_PATH_WEIGHTS = {
    "conv": ("depth", "min_depth", "mean_path_depth"),
    "large": ("depth_large", "min_depth_large", "mean_path_depth_large"),
    "pool": ("max_path_pools", "min_path_pools", "mean_path_pools"),
    "node": ("max_path_nodes", "min_path_nodes", "mean_path_nodes"),
}


PATH_WEIGHTS = _PATH_WEIGHTS


def _node_weights(op: str, kernel: int) -> dict[str, int]:
    return {"conv": int(op == "conv"), "large": int(op == "conv" and kernel >= 3),
            "pool": int(op in ("maxpool", "avgpool")), "node": 1}
_INDEX = {name: i for i, name in enumerate(_FEATURES)}


def feature_names() -> list[str]:
    """Names of the columns of :func:`features`, in order."""
    return list(_FEATURES)


# ------------------------------------------------------------------------------------------------
# The reference: networkx
# ------------------------------------------------------------------------------------------------
def to_networkx(arch: Architecture):
    """The DAG of an architecture as a :class:`networkx.DiGraph`.

    Nodes are the indices of ``arch.layers`` with the layer's fields as attributes (``op``,
    ``c_in``, ``c_out``, ``kernel``, ``stride``, ``in_hw``, ``out_hw``, ``crossbar_size``,
    ``params``, ``macs``); an edge ``u -> v`` means v reads u, with ``skip=True`` when the input
    arrives over a skip connection and ``multiplicity`` (1 unless a node reads the same input
    twice). The graph attributes ``input`` and ``output`` name the input and logits nodes.
    """
    import networkx as nx

    if not isinstance(arch, Architecture):
        raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
    layers = arch.layers
    graph = nx.DiGraph(input=0, output=len(layers) - 1, space=arch.space)
    for i, layer in enumerate(layers):
        graph.add_node(i, op=layer.op, c_in=layer.c_in, c_out=layer.c_out, kernel=layer.kernel,
                       stride=layer.stride, in_hw=layer.in_hw, out_hw=layer.out_hw,
                       crossbar_size=layer.crossbar_size, params=layer.params, macs=layer.macs)
    for i, layer in enumerate(layers):
        for u in layer.inputs:
            if graph.has_edge(u, i):
                graph.edges[u, i]["multiplicity"] += 1
            else:
                graph.add_edge(u, i, skip=u in layer.skip_inputs, multiplicity=1)
    return graph


def metrics(arch: Architecture) -> dict[str, float]:
    """Every graph metric of one architecture, computed on :func:`to_networkx` (the reference)."""
    import networkx as nx

    g = to_networkx(arch)
    src, out = g.graph["input"], g.graph["output"]
    order = list(nx.topological_sort(g))
    node = g.nodes
    is_conv = {v: node[v]["op"] == "conv" for v in g}

    # dynamic programming over the topological order, from the input node: number of paths,
    # and per node weighting the max, min and sum over input->v paths of the path's weight
    weights = {v: _node_weights(node[v]["op"], node[v]["kernel"]) for v in g}
    paths = defaultdict(float)
    paths_noconv = defaultdict(float)  # input->v paths without any convolution
    wsum = {w: defaultdict(float) for w in _PATH_WEIGHTS}
    wmax = {w: {src: 0} for w in _PATH_WEIGHTS}
    wmin = {w: {src: 0} for w in _PATH_WEIGHTS}
    rf, jump = {src: 1}, {src: 1}
    paths[src], paths_noconv[src] = 1.0, 1.0
    for v in order:
        if v == src:
            continue
        m = {u: g.edges[u, v]["multiplicity"] for u in g.predecessors(v)}
        paths[v] = sum(paths[u] * m[u] for u in m)
        paths_noconv[v] = 0.0 if is_conv[v] else sum(paths_noconv[u] * m[u] for u in m)
        for w in _PATH_WEIGHTS:
            wsum[w][v] = sum(wsum[w][u] * m[u] for u in m) + weights[v][w] * paths[v]
        preds = [u for u in m if u in rf]  # reachable from the input
        if not preds:
            continue
        for w in _PATH_WEIGHTS:
            wmax[w][v] = max(wmax[w][u] for u in preds) + weights[v][w]
            wmin[w][v] = min(wmin[w][u] for u in preds) + weights[v][w]
        j_in = max(jump[u] for u in preds)
        r_in = max(rf[u] for u in preds)
        if node[v]["op"] in ("conv", "maxpool", "avgpool"):
            rf[v] = r_in + (node[v]["kernel"] - 1) * j_in
            jump[v] = j_in * node[v]["stride"]
        else:
            rf[v], jump[v] = r_in, j_in
    alive = out in rf and paths[out] > 0
    on_path = (nx.descendants(g, src) | {src}) & (nx.ancestors(g, out) | {out}) if alive else set()

    convs = [v for v in g if is_conv[v]]
    linears = [v for v in g if node[v]["op"] == "linear"]
    weights = convs + linears
    params = sum(node[v]["params"] for v in weights)
    macs = sum(node[v]["macs"] for v in weights)
    params_eff = sum(node[v]["params"] for v in weights if v in on_path)
    conv_params_eff = sum(node[v]["params"] for v in convs if v in on_path)
    n_skip = sum(g.edges[e]["multiplicity"] for e in g.edges if g.edges[e]["skip"])
    widths = [node[v]["c_out"] for v in convs]
    spatial_end = [v for v in g if node[v]["op"] in ("gap", "flatten")]
    final_resolution = node[spatial_end[-1]]["in_hw"][0] if spatial_end else node[out]["out_hw"][0]

    # NN-Degree: channel-level graph per stage (nodes of one output resolution)
    vertices, edges = defaultdict(float), defaultdict(float)
    for v in g:
        op = node[v]["op"]
        if op not in ("conv", "maxpool", "avgpool", "add"):
            continue
        stage = node[v]["out_hw"]
        vertices[stage] += node[v]["c_out"]
        if op == "conv":
            edges[stage] += node[v]["c_in"] * node[v]["c_out"]
        for u in g.predecessors(v):
            if g.edges[u, v]["skip"]:
                edges[stage] += node[u]["c_out"] * g.edges[u, v]["multiplicity"]
    nn_degree = sum(2.0 * edges[s] / vertices[s] for s in vertices if vertices[s] > 0)

    n_conv = len(convs)
    pools = [v for v in g if node[v]["op"] in ("maxpool", "avgpool")]
    values = {
        "log10_params": np.log10(params) if params > 0 else 0.0,
        "log10_macs": np.log10(macs) if macs > 0 else 0.0,
        "log10_params_effective": np.log10(params_eff) if params_eff > 0 else 0.0,
        "log10_conv_params_effective": np.log10(conv_params_eff) if conv_params_eff > 0 else 0.0,
        "n_weight_layers": len(weights),
        "n_conv": n_conv,
        "n_conv_effective": sum(1 for v in convs if v in on_path),
        "n_conv1": sum(1 for v in convs if node[v]["kernel"] == 1),
        "n_conv3": sum(1 for v in convs if node[v]["kernel"] == 3),
        "n_conv5": sum(1 for v in convs if node[v]["kernel"] == 5),
        "n_conv7": sum(1 for v in convs if node[v]["kernel"] == 7),
        "n_conv1_effective": sum(1 for v in convs if v in on_path and node[v]["kernel"] == 1),
        "n_conv_large_effective": sum(1 for v in convs if v in on_path and node[v]["kernel"] >= 3),
        "n_linear": len(linears),
        "n_pool": sum(1 for v in pools),
        "n_pool_effective": sum(1 for v in pools if v in on_path),
        "n_skip": n_skip,
        "n_skip_effective": sum(g.edges[u, v]["multiplicity"] for u, v in g.edges
                                if g.edges[u, v]["skip"] and u in on_path and v in on_path),
        "skip_density": n_skip / n_conv if n_conv else 0.0,
        "log10_paths": np.log10(1.0 + paths[out]),
        "log10_conv_paths": np.log10(1.0 + paths[out] - paths_noconv[out]),
        "dead": 0.0 if alive else 1.0,
        "receptive_field": rf[out] if alive else 0,
        "final_resolution": final_resolution,
        "width_mean": float(np.mean(widths)) if widths else 0.0,
        "width_min": min(widths) if widths else 0,
        "width_max": max(widths) if widths else 0,
        "nn_degree": nn_degree,
    }
    for w, (max_name, min_name, mean_name) in _PATH_WEIGHTS.items():
        values[max_name] = wmax[w][out] if alive else 0
        values[min_name] = wmin[w][out] if alive else 0
        values[mean_name] = wsum[w][out] / paths[out] if alive else 0.0
    values.update(hardware_knobs(arch))
    return {name: float(values[name]) for name in _FEATURES}


# ------------------------------------------------------------------------------------------------
# The fast path
# ------------------------------------------------------------------------------------------------
def features(archs: Sequence[Architecture] | Architecture) -> np.ndarray:
    """Feature matrix (n_archs, n_features) of a list of architectures (columns: feature_names()).

    Architectures are grouped by space and options and each group goes through its space's
    ``features_from_index`` (vectorized for the built-in spaces); rows come back in the order
    given. Strings are parsed as canonical architecture strings.
    """
    if isinstance(archs, (Architecture, str)):
        archs = [archs]
    archs = [Architecture.from_string(a) if isinstance(a, str) else a for a in archs]
    out = np.zeros((len(archs), len(_FEATURES)))
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, arch in enumerate(archs):
        if not isinstance(arch, Architecture):
            raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
        groups[(arch.space, arch.options)].append(i)
    for (space_name, options), rows in groups.items():
        space = codec_for(space_name, **dict(options))
        if hasattr(space, "features_from_index") and hasattr(space, "encode"):
            out[rows] = space.features_from_index(space.encode([archs[i] for i in rows]).astype(np.int64))
        else:  # a codec that is not a search space: the reference
            out[rows] = [[metrics(archs[i])[k] for k in _FEATURES] for i in rows]
    return out


def features_from_vectors(space, X) -> np.ndarray:
    """Feature matrix (n, n_features) of a batch of a space's vectors X (n, d), vectorized.

    Parameters
    ----------
    space : fastnax.spaces.SearchSpace or str
        A space object, or the name of a registered space (built with its default options).
    X : array (n, d)
        In-bounds vectors (rounded and canonicalized as by ``space.decode``).
    """
    return _space(space).features(np.asarray(X, dtype=float))


def features_from_index(space, index: np.ndarray) -> np.ndarray:
    """Feature matrix (n, n_features) of canonical integer vectors, as ``space.to_index`` returns.

    The search already holds its candidates in this form; this skips the rounding, bounds check
    and canonicalization of :func:`features_from_vectors` (the rows are trusted, not re-checked).
    """
    return _space(space).features_from_index(np.asarray(index, dtype=np.int64))


def _space(space):
    """A space object from a space or the name of a registered one (no import of the spaces:
    the registry in ``fastnax.arch`` holds what they registered)."""
    if isinstance(space, str):
        space = codec_for(space)
    if not hasattr(space, "features_from_index"):
        raise ArchitectureError(f"expected a search space or a space name, got {type(space).__name__}")
    return space


def graph_feature_names() -> list[str]:
    """The graph-metric columns (all but the hardware knobs), in order."""
    return list(_GRAPH_FEATURES)


def knob_feature_names() -> list[str]:
    """The hardware-knob columns (last four), in order."""
    return list(_KNOB_FEATURES)


def stack_features(f: dict, n: int) -> np.ndarray:
    """The graph-metric columns (n, len(graph_feature_names())) of a dict of per-name arrays
    (scalars are broadcast)."""
    out = np.empty((n, len(_GRAPH_FEATURES)))
    for j, name in enumerate(_GRAPH_FEATURES):
        out[:, j] = f[name]
    return out


def log10_or_zero(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, np.log10(np.maximum(x, 1e-300)), 0.0)


def resolution_levels(size: int) -> tuple[np.ndarray, int]:
    """Map a spatial side (<= size) to a stage number: the distinct sides of repeated halving."""
    seq = [size]
    while seq[-1] > 1:
        seq.append(-(-seq[-1] // 2))
    level_of = np.zeros(size + 1, dtype=np.int64)
    for i, v in enumerate(seq):
        level_of[v] = i
    return level_of, len(seq)


class PathStats:
    """Vectorized path statistics of a batch of DAGs built by series composition.

    Holds, per architecture, the number of input-output paths so far and, per node weighting of
    :data:`_PATH_WEIGHTS`, the max, min and sum over those paths of the path weight. Appending a
    sub-DAG with its own statistics (``n_paths``, ``total``, ``high``, ``low``) in series multiplies
    path counts and adds weights: the same recurrences the networkx reference runs node by node.
    """

    def __init__(self, n: int):
        self.paths = np.ones(n)
        self.total = {w: np.zeros(n) for w in _PATH_WEIGHTS}
        self.high = {w: np.zeros(n) for w in _PATH_WEIGHTS}
        self.low = {w: np.zeros(n) for w in _PATH_WEIGHTS}

    def append(self, active, n_paths, total: dict, high: dict, low: dict) -> None:
        active = np.asarray(active, dtype=bool)
        if not active.any():
            return
        if active.all():
            for w in _PATH_WEIGHTS:
                self.total[w] = self.total[w] * n_paths + self.paths * total[w]
                self.high[w] = self.high[w] + high[w]
                self.low[w] = self.low[w] + low[w]
            self.paths = self.paths * n_paths
            return
        for w in _PATH_WEIGHTS:
            self.total[w] = np.where(active, self.total[w] * n_paths + self.paths * total[w], self.total[w])
            self.high[w] = np.where(active, self.high[w] + high[w], self.high[w])
            self.low[w] = np.where(active, self.low[w] + low[w], self.low[w])
        self.paths = np.where(active, self.paths * n_paths, self.paths)

    def node(self, active, op: str, kernel=1) -> None:
        """Append one node (``kernel`` may be an array)."""
        weights = _node_weight_arrays(op, kernel)
        self.append(active, 1.0, weights, weights, weights)

    def branches(self, active, branch_a: list, branch_b: list) -> None:
        """Append two parallel chains of nodes from the current node, ``[(op, kernel), ...]``."""
        wa = _chain_weights(branch_a)
        wb = _chain_weights(branch_b)
        self.append(active, 2.0, {w: wa[w] + wb[w] for w in wa},
                    {w: np.maximum(wa[w], wb[w]) for w in wa}, {w: np.minimum(wa[w], wb[w]) for w in wa})

    def write(self, f: dict, dead) -> None:
        for w, (max_name, min_name, mean_name) in _PATH_WEIGHTS.items():
            f[max_name] = np.where(dead, 0.0, self.high[w])
            f[min_name] = np.where(dead, 0.0, self.low[w])
            f[mean_name] = np.where(dead, 0.0, self.total[w] / np.where(self.paths > 0, self.paths, 1.0))


def _node_weight_arrays(op: str, kernel) -> dict:
    kernel = np.asarray(kernel)
    return {"conv": float(op == "conv"), "large": np.where(kernel >= 3, float(op == "conv"), 0.0),
            "pool": float(op in ("maxpool", "avgpool")), "node": 1.0}


def _chain_weights(chain: list) -> dict:
    out = {w: 0.0 for w in _PATH_WEIGHTS}
    for op, kernel in chain:
        weights = _node_weight_arrays(op, kernel)
        out = {w: out[w] + weights[w] for w in out}
    return out



@lru_cache(maxsize=16)
def halving_sides(size: int, events: int) -> np.ndarray:
    """Spatial side after m = 0..events ceil-halvings of ``size`` (int64 array (events + 1,))."""
    sides = [size]
    for _ in range(events):
        sides.append(-(-sides[-1] // 2))
    return np.asarray(sides, dtype=np.int64)
