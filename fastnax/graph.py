"""Graph metrics of architectures: the networkx reference and the vectorized feature matrix.

An architecture's layers form a DAG (``arch.layers``: node 0 the input, the last node the logits).
:func:`to_networkx` turns it into a :class:`networkx.DiGraph` and :func:`metrics` computes every
metric on that graph; this is the *definition*. :func:`features_from_vectors` computes the same
numbers for a whole batch of a space's vectors with numpy (no Python loop over candidates), and
the tests hold the two equal on every architecture they build.

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

from fastnax.arch import Architecture
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
    from fastnax.arch import hardware_knobs

    values.update(hardware_knobs(arch))
    return {name: float(values[name]) for name in _FEATURES}


# ------------------------------------------------------------------------------------------------
# The fast path
# ------------------------------------------------------------------------------------------------
def features(archs: Sequence[Architecture] | Architecture) -> np.ndarray:
    """Feature matrix (n_archs, n_features) of a list of architectures (columns: feature_names()).

    Architectures are grouped by space and options and each group goes through the vectorized
    path; rows come back in the order given. Strings are parsed as canonical architecture strings.
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
        index = np.asarray([archs[i].genotype for i in rows], dtype=np.int64)
        out[rows] = _features_from_index(space_name, dict(options), index)
    return out


def features_from_vectors(space, X) -> np.ndarray:
    """Feature matrix (n, n_features) of a batch of a space's vectors X (n, d), vectorized.

    Parameters
    ----------
    space : fastnax.spaces.SearchSpace or str
        ``imc``, ``nax`` (decoded to ``imc``) or ``nb201``.
    X : array (n, d)
        In-bounds vectors (rounded and canonicalized as by ``space.decode``).
    """
    from fastnax import spaces

    space = spaces.get(space)
    if hasattr(space, "to_base"):  # a restriction: features of the base space's vectors
        return features_from_index(space.base, space.to_base(X))
    if space.name == "nax":
        index = space.to_imc(X).astype(np.int64)
        return _features_from_index("imc", space.imc.options, index)
    return features_from_index(space, space.to_index(X))


def features_from_index(space, index: np.ndarray) -> np.ndarray:
    """Feature matrix (n, n_features) of canonical integer vectors, as ``space.to_index`` returns.

    The search already holds its candidates in this form; this skips the rounding, bounds check
    and canonicalization of :func:`features_from_vectors` (the rows are trusted, not re-checked).

    Parameters
    ----------
    space : fastnax.spaces.SearchSpace or str
    index : int array (n, d)
        Canonical index matrix of the space.
    """
    from fastnax import spaces

    space = spaces.get(space)
    if isinstance(space, (spaces.ImcSpace, spaces.Nb201Space)):
        return _features_from_index(space.name, space.options, np.asarray(index, dtype=np.int64))
    return features_from_vectors(space, np.asarray(index, dtype=float))


def _features_from_index(space_name: str, options: dict, index: np.ndarray) -> np.ndarray:
    out = np.empty((index.shape[0], len(_FEATURES)))
    graph_cols = len(_GRAPH_FEATURES)
    if space_name == "imc":
        from fastnax.arch import ADC_RULES  # noqa: F401  (the adc_rule column indexes it)
        from fastnax.spaces.imc import CELL_BITS, IN_BITS, W_BITS, _codec

        codec = _codec(**options)
        out[:, :graph_cols] = _imc_features(index, codec)
        k = codec.layout.knobs
        out[:, graph_cols] = np.asarray(W_BITS)[index[:, k]]
        out[:, graph_cols + 1] = np.asarray(IN_BITS)[index[:, k + 1]]
        out[:, graph_cols + 2] = np.asarray(CELL_BITS)[index[:, k + 2]]
        out[:, graph_cols + 3] = index[:, k + 3]
        return out
    if space_name == "nb201":
        from fastnax.arch import ADC_RULES
        from fastnax.spaces.nb201 import cell_id

        table = _nb201_cell_table(int(options.get("input_size", 32)), int(options.get("in_channels", 3)),
                                  int(options.get("num_classes", 10)))
        out[:, :graph_cols] = table[cell_id(index[:, :6])]
        out[:, graph_cols:] = [int(options.get("w_bits", 8)), int(options.get("in_bits", 8)),
                               int(options.get("cell_bits", 2)),
                               ADC_RULES.index(options.get("adc_rule", "preset"))]
        return out
    raise ArchitectureError(f"no graph features for space {space_name!r}; expected imc, nax or nb201")


def _log10_or_zero(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, np.log10(np.maximum(x, 1e-300)), 0.0)


def _resolution_levels(size: int) -> tuple[np.ndarray, int]:
    """Map a spatial side (<= size) to a stage number: the distinct sides of repeated halving."""
    seq = [size]
    while seq[-1] > 1:
        seq.append(-(-seq[-1] // 2))
    level_of = np.zeros(size + 1, dtype=np.int64)
    for i, v in enumerate(seq):
        level_of[v] = i
    return level_of, len(seq)


class _PathStats:
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
def _imc_columns(stages: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in an ``imc`` vector: stage fields (S, 3) and conv kernels (S, MAX_BLOCKS, 2)."""
    from fastnax.spaces.imc import CONVS_PER_BLOCK, MAX_BLOCKS, Layout

    L = Layout(stages)
    stage = np.asarray([[L.stage(s) + i for i in range(3)] for s in range(stages)])
    kernel = np.asarray([[[L.conv(s, CONVS_PER_BLOCK * b + j)[0] for j in range(CONVS_PER_BLOCK)]
                          for b in range(MAX_BLOCKS)] for s in range(stages)])
    return stage, kernel


@lru_cache(maxsize=16)
def _halving_sides(size: int, events: int) -> np.ndarray:
    """Spatial side after m = 0..events ceil-halvings of ``size`` (int64 array (events + 1,))."""
    sides = [size]
    for _ in range(events):
        sides.append(-(-sides[-1] // 2))
    return np.asarray(sides, dtype=np.int64)


def _imc_features(index: np.ndarray, codec) -> np.ndarray:
    """Vectorized metrics of ``imc`` index matrices (n, d), all stages and blocks at once.

    An ``imc`` network is a chain of segments (stem, blocks, a pool closing each ``vgg`` stage,
    head), so its path statistics compose in series: path counts multiply and the max, min and
    mean path weights add up segment by segment. A plain block (conv, conv) is one path; a ``res``
    block is two (the main path, and the identity or 1x1 projection) joined by an add node. Every
    metric is therefore a sum over (stage, block) slots of closed-form per-block values: a few
    numpy calls on (n, stages, blocks) arrays whatever the batch size. Resolutions are tracked as
    the number of halvings (stride-2 first blocks of ``res``/``mvgg`` stages after the first, and
    ``vgg`` max-pools), which also gives the receptive field's jump (2 ** halvings).
    """
    from fastnax.spaces.imc import (BLOCK_TYPES, FC_HIDDEN, HEAD_POOLS, KERNELS, MAX_BLOCKS,
                                    STEM_WIDTHS, WIDTHS)

    L = codec.layout
    S = L.stages
    n = index.shape[0]
    index = np.asarray(index, dtype=np.int64)
    stage_cols, kernel_cols = _imc_columns(S)
    level_of, n_levels = _resolution_levels(codec.input_size)
    sides = _halving_sides(codec.input_size, 2 * S)
    f = {}

    # --- stem ---------------------------------------------------------------------------------
    stem_w = np.asarray(STEM_WIDTHS)[index[:, L.stem]]
    has_stem = stem_w > 0
    stem_k = np.where(has_stem, np.asarray(KERNELS)[index[:, L.stem + 1]], 0)
    stem_large = (stem_k >= 3).astype(float)

    # --- stages (n, S) and blocks (n, S, B) --------------------------------------------------
    fields = index[:, stage_cols]  # (n, S, 3): block type, blocks, width
    btype, blocks = fields[..., 0], fields[..., 1]
    width = np.asarray(WIDTHS)[fields[..., 2]]
    nonempty = blocks > 0
    is_res = (btype == BLOCK_TYPES.index("res")) & nonempty
    pooled = (btype == BLOCK_TYPES.index("vgg")) & nonempty
    strided = nonempty & ~pooled & (np.arange(S) > 0)  # first block has stride 2
    active = blocks[:, :, None] > np.arange(MAX_BLOCKS)  # (n, S, B)
    k = np.where(active[..., None], np.asarray(KERNELS)[index[:, kernel_cols]], 0)  # (n, S, B, 2)

    # input channels of each stage: the last non-empty stage's width, else the stem's, else the image's
    c_stage = np.empty((n, S), dtype=np.int64)
    c = np.where(has_stem, stem_w, codec.in_channels)
    for s in range(S):
        c_stage[:, s] = c
        c = np.where(nonempty[:, s], width[:, s], c)
    c_last = c
    proj = is_res & (strided | (c_stage != width))  # (n, S): projection in block 0

    events = strided.astype(np.int64) + pooled
    m_in = np.cumsum(events, axis=1) - events  # halvings before the stage
    m_blk = m_in + strided  # halvings at every block output of the stage
    m_end = m_in[:, -1] + events[:, -1]
    h_blk = sides[m_blk]
    lvl_blk = np.minimum(m_blk, n_levels - 1)
    lvl_pool = np.minimum(m_blk + 1, n_levels - 1)

    # --- weights, MACs, op counts -------------------------------------------------------------
    wf = width.astype(float)
    k2 = (k * k).astype(float)  # kernel areas (0 where inactive)
    c_in_block = np.where(np.arange(MAX_BLOCKS) == 0, c_stage[:, :, None], width[:, :, None]).astype(float)
    block_params = (k2[..., 0] * c_in_block + k2[..., 1] * wf[:, :, None]).sum(axis=2) * wf  # (n, S)
    proj_params = np.where(proj, c_stage * wf, 0.0)
    stage_params = block_params + proj_params
    stem_params = np.where(has_stem, stem_k * stem_k * codec.in_channels * stem_w, 0).astype(float)
    h_in = float(codec.input_size)
    params = stem_params + stage_params.sum(axis=1)
    f["log10_conv_params_effective"] = _log10_or_zero(params)  # every imc conv is on the path
    macs = stem_params * h_in * h_in + (stage_params * (h_blk * h_blk)).sum(axis=1)

    n_blocks = blocks.sum(axis=1)
    n_res = np.where(is_res, blocks, 0).sum(axis=1)
    n_plain = n_blocks - n_res
    n_proj = proj.sum(axis=1)
    n_pool = pooled.sum(axis=1)
    f["n_conv"] = has_stem + 2 * n_blocks + n_proj
    kernel_counts = np.stack([(k == kk).sum(axis=(1, 2, 3)) for kk in KERNELS], axis=1)
    kernel_counts += np.asarray(KERNELS) == stem_k[:, None]
    kernel_counts[:, KERNELS.index(1)] += n_proj
    for j, kk in enumerate(KERNELS):
        f[f"n_conv{kk}"] = kernel_counts[:, j]
    f["n_pool"] = n_pool
    f["n_skip"] = n_res

    # widths of the convolutions: the stem's, and each stage's (2 per block, + its projection)
    per_stage = 2 * blocks + proj
    width_sum = stem_w + (width * per_stage).sum(axis=1)
    big = np.iinfo(np.int64).max
    width_min = np.minimum(np.where(has_stem, stem_w, big), np.where(nonempty, width, big).min(axis=1))
    width_max = np.maximum(stem_w, np.where(nonempty, width, 0).max(axis=1))

    # --- NN-Degree: channel vertices and edges per resolution level -------------------------
    # convs (stem; per block conv1, conv2; projection), add nodes of res blocks, vgg max-pools
    stage_V = wf * (2 * blocks + proj + np.where(is_res, blocks, 0))
    stage_E = (np.where(active, c_in_block, 0.0).sum(axis=2) + wf * blocks) * wf \
        + proj_params + np.where(is_res, blocks, 0) * wf
    rows = np.arange(n)[:, None] * n_levels
    slots = np.concatenate([rows + lvl_blk, rows + lvl_pool, rows], axis=1).ravel()
    V = np.bincount(slots, np.concatenate([stage_V, np.where(pooled, wf, 0.0), stem_w[:, None]], axis=1).ravel(),
                    minlength=n * n_levels).reshape(n, n_levels)
    E = np.bincount(slots, np.concatenate([stage_E, np.zeros((n, S)), (stem_w * codec.in_channels)[:, None]],
                                          axis=1).ravel(), minlength=n * n_levels).reshape(n, n_levels)

    # --- receptive field: rf grows by (kernel - 1) * jump, jump = 2 ** halvings -------------
    jump_blk = np.exp2(m_blk)
    jump_first = np.where(np.arange(MAX_BLOCKS) == 0, np.exp2(m_in)[:, :, None], jump_blk[:, :, None])
    grow = np.maximum(k - 1, 0).astype(float)
    rf = (1.0 + np.maximum(stem_k - 1, 0) + (grow[..., 0] * jump_first).sum(axis=(1, 2))
          + (grow[..., 1].sum(axis=2) * jump_blk).sum(axis=1) + np.where(pooled, jump_blk, 0.0).sum(axis=1))

    # --- path statistics (series composition: max, min and mean path weights add up) --------
    large = (k >= 3).sum(axis=3)  # (n, S, B): large kernels on a block's main path
    large_res = np.where(is_res, large.sum(axis=2), 0).sum(axis=1)
    large_plain = large.sum(axis=(1, 2)) - large_res
    n_res_plain = n_res - n_proj  # res blocks with an identity shortcut
    hidden = np.asarray(FC_HIDDEN)[index[:, L.head + 1]]
    head_nodes = 2.0 + (hidden > 0)  # gap or flatten, optional hidden linear, classifier
    stem = has_stem.astype(float)
    f["depth"] = stem + 2 * n_blocks
    f["min_depth"] = stem + 2 * n_plain + n_proj
    f["mean_path_depth"] = stem + 2 * n_plain + 1.5 * n_proj + n_res_plain
    f["depth_large"] = stem_large + large_plain + large_res
    f["min_depth_large"] = stem_large + large_plain
    f["mean_path_depth_large"] = stem_large + large_plain + 0.5 * large_res
    for name in ("max_path_pools", "min_path_pools", "mean_path_pools"):
        f[name] = n_pool
    base_nodes = stem + 2 * n_plain + n_pool + head_nodes
    f["max_path_nodes"] = base_nodes + 3 * n_res
    f["min_path_nodes"] = base_nodes + 2 * n_proj + n_res_plain
    f["mean_path_nodes"] = base_nodes + 2.5 * n_proj + 2 * n_res_plain
    paths = np.exp2(n_res)  # each res block doubles the paths
    # paths without any convolution: only through identity shortcuts, with no stem and no plain block
    paths_noconv = ((~has_stem) & (n_plain == 0) & (n_proj == 0)).astype(float)

    # --- head -------------------------------------------------------------------------------
    h_end = sides[m_end]
    gap = index[:, L.head] == HEAD_POOLS.index("gap")
    features_in = np.where(gap, c_last, c_last * h_end * h_end)
    head = features_in * hidden + np.where(hidden > 0, hidden, features_in) * codec.num_classes
    params = params + head
    macs = macs + head
    f["n_linear"] = 1.0 + (hidden > 0)
    f["final_resolution"] = h_end

    f["log10_params"] = _log10_or_zero(params)
    f["log10_macs"] = _log10_or_zero(macs)
    # every imc network is a chain of blocks: connected, every layer on an input-output path
    f["dead"] = 0.0
    f["log10_params_effective"] = f["log10_params"]
    f["n_conv_effective"] = f["n_conv"]
    f["n_conv1_effective"] = f["n_conv1"]
    f["n_conv_large_effective"] = f["n_conv"] - f["n_conv1"]
    f["n_pool_effective"] = f["n_pool"]
    f["n_skip_effective"] = f["n_skip"]
    f["n_weight_layers"] = f["n_conv"] + f["n_linear"]
    f["skip_density"] = np.where(f["n_conv"] > 0, f["n_skip"] / np.maximum(f["n_conv"], 1), 0.0)
    f["log10_paths"] = np.log10(1.0 + paths)
    f["log10_conv_paths"] = np.log10(1.0 + paths - paths_noconv)
    f["receptive_field"] = rf
    f["width_mean"] = np.where(f["n_conv"] > 0, width_sum / np.maximum(f["n_conv"], 1), 0.0)
    f["width_min"] = np.where(width_min < big, width_min, 0)
    f["width_max"] = width_max
    f["nn_degree"] = (2.0 * E / np.where(V > 0, V, 1.0)).sum(axis=1)
    out = np.empty((n, len(_GRAPH_FEATURES)))
    for j, name in enumerate(_GRAPH_FEATURES):
        out[:, j] = f[name]
    return out


@lru_cache(maxsize=8)
def _nb201_cell_table(input_size: int, in_channels: int, num_classes: int) -> np.ndarray:
    """Features (15,625, k) of every NAS-Bench-201 cell in its network, in fastnax cell-id order.

    On a cell edge, ``skip_connect`` is a direct edge into the target node, ``nor_conv_1x1`` and
    ``nor_conv_3x3`` a convolution node, ``avg_pool_3x3`` a pooling node, ``none`` no edge; each
    cell node is an ``add``. A cell's path statistics are computed once per cell (numpy over all
    15,625 cells, one step per edge) and composed in series with the fixed skeleton.
    """
    from fastnax.spaces.nb201 import CELLS_PER_STAGE, EDGES, N_CELLS, STAGE_WIDTHS, cell_ops

    ops = cell_ops(np.arange(N_CELLS))  # (N, 6)
    n = N_CELLS
    present = ops != 0
    is_conv = (ops == 2) | (ops == 3)
    is_pool = ops == 4
    conv_k2 = np.where(ops == 3, 9, np.where(ops == 2, 1, 0))  # kernel area of conv edges
    edge_rf = np.where((ops == 3) | (ops == 4), 2, 0)
    # weight of the op node on each edge (skip: none) plus the target add node
    edge_w = {"conv": is_conv * 1.0, "large": (ops == 3) * 1.0, "pool": is_pool * 1.0,
              "node": 1.0 + (is_conv | is_pool)}

    # forward DP inside the cell, from cell node 0
    P = [np.ones(n)] + [np.zeros(n) for _ in range(3)]
    reach = [np.ones(n, bool)] + [np.zeros(n, bool) for _ in range(3)]
    S = {w: [np.zeros(n) for _ in range(4)] for w in _PATH_WEIGHTS}
    hi = {w: [np.zeros(n)] + [np.full(n, -np.inf) for _ in range(3)] for w in _PATH_WEIGHTS}
    lo = {w: [np.zeros(n)] + [np.full(n, np.inf) for _ in range(3)] for w in _PATH_WEIGHTS}
    rfc = [np.zeros(n)] + [np.full(n, -np.inf) for _ in range(3)]
    for e, (to, src) in enumerate(EDGES):
        live = present[:, e] & reach[src]
        for w in _PATH_WEIGHTS:
            S[w][to] = S[w][to] + np.where(present[:, e], S[w][src] + edge_w[w][:, e] * P[src], 0)
            hi[w][to] = np.where(live, np.maximum(hi[w][to], hi[w][src] + edge_w[w][:, e]), hi[w][to])
            lo[w][to] = np.where(live, np.minimum(lo[w][to], lo[w][src] + edge_w[w][:, e]), lo[w][to])
        P[to] = P[to] + np.where(present[:, e], P[src], 0)
        reach[to] = reach[to] | live
        rfc[to] = np.where(live, np.maximum(rfc[to], rfc[src] + edge_rf[:, e]), rfc[to])
    alive = reach[3]
    # backward reachability to cell node 3, for the ops that lie on a path
    back = {3: np.ones(n, bool), 2: present[:, 5]}
    back[1] = present[:, 4] | (present[:, 2] & back[2])
    back[0] = np.ones(n, bool)
    on_path = np.zeros((n, 6), bool)
    for e, (to, src) in enumerate(EDGES):
        on_path[:, e] = present[:, e] & reach[src] & back[to]
    effective = is_conv & on_path

    n_conv_cell = is_conv.sum(axis=1)
    n_c1, n_c3 = (ops == 2).sum(axis=1), (ops == 3).sum(axis=1)
    n_pool_cell, n_skip_cell = is_pool.sum(axis=1), (ops == 1).sum(axis=1)
    k2_sum, k2_eff = conv_k2.sum(axis=1), np.where(effective, conv_k2, 0).sum(axis=1)
    stages = len(STAGE_WIDTHS)
    cells = stages * CELLS_PER_STAGE

    # compose: stem, stages of cells, reductions between stages, classifier
    stats = _PathStats(n)
    ones = np.ones(n, dtype=bool)
    h = input_size
    params = 9 * in_channels * STAGE_WIDTHS[0]
    macs = params * h * h
    stats.node(ones, "conv", 3)
    rf, jump = np.full(n, 3.0), 1.0
    params_eff = np.full(n, float(params))
    vertices, edges = defaultdict(float), defaultdict(float)
    vertices[h] += STAGE_WIDTHS[0]
    edges[h] += in_channels * STAGE_WIDTHS[0]
    c = STAGE_WIDTHS[0]
    widths = [(STAGE_WIDTHS[0], 1.0)]  # (channels, count) of convs other than the cells'
    cell_stats = (P[3], {w: S[w][3] for w in _PATH_WEIGHTS}, {w: hi[w][3] for w in _PATH_WEIGHTS},
                  {w: lo[w][3] for w in _PATH_WEIGHTS})
    for s, width in enumerate(STAGE_WIDTHS):
        if s:
            h1 = -(-h // 2)
            red = 9 * c * width + 9 * width * width + c * width
            params += red
            params_eff += red
            macs += red * h1 * h1
            vertices[h1] += width + width + c + width + width  # conv_a, conv_b, avgpool, proj, add
            edges[h1] += c * width + width * width + c * width + width  # weights + the skip edge
            widths += [(width, 3.0)]
            stats.branches(ones, [("conv", 3), ("conv", 3)], [("avgpool", 2), ("conv", 1)])
            stats.node(ones, "add")
            rf = rf + 6 * jump  # conv_a 3x3 at jump j (+2j), conv_b 3x3 at 2j (+4j)
            jump *= 2
            c, h = width, h1
        cell_params = k2_sum * c * c
        params = params + CELLS_PER_STAGE * cell_params
        params_eff = params_eff + CELLS_PER_STAGE * k2_eff * c * c
        macs = macs + CELLS_PER_STAGE * cell_params * h * h
        vertices[h] = vertices[h] + CELLS_PER_STAGE * c * (3 + n_conv_cell + n_pool_cell)
        edges[h] = edges[h] + CELLS_PER_STAGE * (c * c * n_conv_cell + c * n_skip_cell)
        for _ in range(CELLS_PER_STAGE):
            stats.append(alive, *cell_stats)
        rf = rf + CELLS_PER_STAGE * rfc[3] * jump
    stats.paths = np.where(alive, stats.paths, 0.0)
    conv_params_eff = params_eff.copy()
    stats.node(ones, "gap")
    stats.node(ones, "linear")
    linear = c * num_classes
    params = params + linear
    macs = macs + linear
    params_eff = params_eff + linear

    f = {}
    dead = ~alive
    f["log10_params"] = _log10_or_zero(params)
    f["log10_macs"] = _log10_or_zero(macs)
    f["log10_params_effective"] = np.where(dead, 0.0, _log10_or_zero(params_eff))
    f["log10_conv_params_effective"] = np.where(dead, 0.0, _log10_or_zero(conv_params_eff))
    reduction_convs = 3 * (stages - 1)
    f["n_conv"] = 1 + reduction_convs + cells * n_conv_cell
    f["n_conv_effective"] = np.where(dead, 0, 1 + reduction_convs + cells * effective.sum(axis=1))
    f["n_conv1_effective"] = np.where(dead, 0, (stages - 1) + cells * (effective & (ops == 2)).sum(axis=1))
    f["n_conv_large_effective"] = np.where(dead, 0, 1 + 2 * (stages - 1)
                                           + cells * (effective & (ops == 3)).sum(axis=1))
    f["n_conv1"] = (stages - 1) + cells * n_c1
    f["n_conv3"] = 1 + 2 * (stages - 1) + cells * n_c3
    f["n_conv5"] = np.zeros(n)
    f["n_conv7"] = np.zeros(n)
    f["n_linear"] = np.ones(n)
    f["n_weight_layers"] = f["n_conv"] + 1
    f["n_pool"] = (stages - 1) + cells * n_pool_cell
    f["n_pool_effective"] = np.where(dead, 0, (stages - 1) + cells * (on_path & is_pool).sum(axis=1))
    f["n_skip"] = (stages - 1) + cells * n_skip_cell
    f["n_skip_effective"] = np.where(dead, 0, (stages - 1) + cells * (on_path & (ops == 1)).sum(axis=1))
    f["skip_density"] = f["n_skip"] / f["n_conv"]
    stats.write(f, dead)
    f["log10_paths"] = np.log10(1.0 + stats.paths)
    f["log10_conv_paths"] = f["log10_paths"]  # the stem conv lies on every path
    f["dead"] = dead.astype(float)
    f["receptive_field"] = np.where(dead, 0.0, rf)
    f["final_resolution"] = np.full(n, float(h))
    total_convs = sum(cnt for _, cnt in widths) + cells * n_conv_cell
    width_sum = sum(w * cnt for w, cnt in widths) + CELLS_PER_STAGE * n_conv_cell * sum(STAGE_WIDTHS)
    f["width_mean"] = width_sum / total_convs
    skeleton_min, skeleton_max = min(w for w, _ in widths), max(w for w, _ in widths)
    f["width_min"] = np.where(n_conv_cell > 0, min(skeleton_min, min(STAGE_WIDTHS)), skeleton_min) * 1.0
    f["width_max"] = np.where(n_conv_cell > 0, max(skeleton_max, max(STAGE_WIDTHS)), skeleton_max) * 1.0
    f["nn_degree"] = sum(2.0 * edges[k] / vertices[k] for k in vertices)
    table = np.stack([np.broadcast_to(np.asarray(f[name], dtype=float), (n,)) for name in _GRAPH_FEATURES],
                     axis=1)
    table.setflags(write=False)
    return table
