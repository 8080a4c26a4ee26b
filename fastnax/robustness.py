"""How much analog weight noise reaches the logits: an analytical, architecture-aware estimate.

Every weight layer ``l`` (convolution or linear) on a crossbar perturbs its output by a relative
weight error of sigma ``sigma_l`` (``fastnax.hwmodel``'s per-layer noise). How much of that reaches
the logits depends on the network around it. The model propagates a signal amplitude ``S`` forward
and a noise gain ``G`` backward through the layer DAG (:func:`fastnax.graph.to_networkx`):

* **weight layers** (conv + BN, linear): the output is normalised (``S = 1``); the layer adds
  noise of power ``sigma_l**2 * K_l**-ALPHA * (1 + BETA / S_in**2)`` relative to its unit output,
  ``K_l = kernel**2 * c_in`` its fan-in. ``ALPHA`` is the fan-in averaging exponent (a coherent
  signal summed over ``K`` inputs grows like ``K``, independent errors like ``sqrt(K)``: ALPHA = 1);
  ``BETA`` is an additive read-out noise (ADC / output noise) that does not scale with the input,
  so a layer fed a weak signal (``S_in`` small) is noisier. Normalisation divides upstream noise by
  the input amplitude: the gain through a weight layer is ``1 / S_in``.
* **additions** (cell nodes, residual joins): amplitudes add (``S = sum S_u``, coherent signal),
  noise of independent sources adds in power; a skip input carries its noise without adding any.
* **pooling**: a digital average; it scales signal and noise alike by ``RHO`` (< 1: an average
  over a 3x3 window attenuates a feature map), which weakens that branch in its addition.
* everything else (global pooling, flatten, ...) passes both through.

The output noise-to-signal ratio is ``NSR = sum_l sigma_l**2 * c_l`` with ``c_l = K_l**-ALPHA
(1 + BETA / S_in(l)**2) G_l**2`` (``G_l``: the gain from layer l's output to the logits). Layers
not reachable from the input carry no signal and add nothing; a network with no input-output path
(dead) has no signal at all: its ``log10_nsr`` is :data:`DEAD_LOG10_NSR`.

:func:`reference_noise_to_signal` computes this on the networkx graph of one architecture (any
space; the definition). :func:`noise_to_signal` computes it for a batch of ``nb201`` vectors with
numpy (a table of every cell's per-layer coefficients, built once) and the tests hold the two equal.

Calibration and what it explains (AnalogNAS-Bench, CIFAR-10, 15,283 live cells, development
columns only). Noise reaching the logits is half the story: a network with little capacity to
spare loses more accuracy to the same noise (the 1-day drop has Kendall tau -0.49 with the clean
accuracy). :func:`robustness_score` therefore divides the noise by the capacity that reaches the
output, in logs: ``log10_nsr - CAPACITY_WEIGHT * training_free_score``, where the training-free
score (:mod:`fastnax.predictors.training_free`) is log10 of the convolution weights on
input-output paths with small depth and pooling terms; higher = a larger expected drop. The
parameters were chosen on a grid for the Kendall tau of that score with the 1-day drop
``baseline_accuracy - analog_drift_86400``: ALPHA in {0.5, 1, 1.5, 2}, RHO in {1, 0.75, 0.5,
0.25}, BETA in {0, 0.3, 1}, CAPACITY_WEIGHT in {0.5, 0.75, 1, 1.5, 2}. ALPHA = 1, RHO = 0.25,
BETA = 0, CAPACITY_WEIGHT = 1 gives 0.516 (ALPHA 1.5: 0.518, within noise; the simpler exponent
is kept); the capacity term alone reaches 0.432 and the noise term alone 0.136, so the two
together explain what neither does. An earlier round with log10 of the convolution weights as the
capacity (no pooling term) reached 0.420 at best (BETA = 1). ``benchmarks/predictor_analog.py``
reports the figures, the held-out drops included.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fastnax.errors import BoundsError

ALPHA = 1.0
RHO = 0.25
BETA = 0.0
CAPACITY_WEIGHT = 1.0
DEAD_LOG10_NSR = 10.0
FEATURE_NAMES = ("log10_nsr", "robustness_score")

_WEIGHT_OPS = ("conv", "linear")
_POOL_OPS = ("avgpool", "maxpool")


# ------------------------------------------------------------------------------------------------
# The reference: networkx
# ------------------------------------------------------------------------------------------------
def reference_coefficients(arch, alpha: float = ALPHA, rho: float = RHO, beta: float = BETA) -> np.ndarray:
    """Per-weight-layer coefficients ``c_l`` (len(arch.weight_layers),) on the networkx graph.

    ``NSR = sum_l sigma_l**2 * c_l``; 0 for a layer without signal. All zero for a dead network.
    """
    import networkx as nx

    from fastnax import graph as fgraph

    g = fgraph.to_networkx(arch)
    src, out = g.graph["input"], g.graph["output"]
    order = list(nx.topological_sort(g))
    node = g.nodes

    def inputs(v):
        return [(u, g.edges[u, v]["multiplicity"]) for u in g.predecessors(v)]

    S, reach = {src: 1.0}, {src: True}
    for v in order:
        if v == src:
            continue
        live = [(u, m) for u, m in inputs(v) if reach[u]]
        reach[v] = bool(live)
        op = node[v]["op"]
        if not live:
            S[v] = 0.0
        elif op in _WEIGHT_OPS:
            S[v] = 1.0
        elif op in _POOL_OPS:
            S[v] = rho * sum(m * S[u] for u, m in live)
        else:
            S[v] = sum(m * S[u] for u, m in live)
    G = {v: 0.0 for v in g}
    G[out] = 1.0 if reach[out] else 0.0
    for v in reversed(order):
        op = node[v]["op"]
        for u, m in inputs(v):
            if not reach[u]:
                continue
            gain = 1.0 / S[u] if op in _WEIGHT_OPS else rho if op in _POOL_OPS else 1.0
            G[u] += m * gain * G[v]
    coef = []
    for v in order:
        if node[v]["op"] not in _WEIGHT_OPS:
            continue
        live = [(u, m) for u, m in inputs(v) if reach[u]]
        if not live or not reach[out]:
            coef.append((v, 0.0))
            continue
        s_in = sum(m * S[u] for u, m in live)
        fan_in = node[v]["kernel"] ** 2 * node[v]["c_in"]
        coef.append((v, fan_in ** -alpha * (1.0 + beta / s_in ** 2) * G[v] ** 2))
    # arch.weight_layers order is the layer order
    coef.sort()
    return np.asarray([c for _, c in coef], dtype=np.float64)


def reference_noise_to_signal(arch, sigma=1.0, alpha: float = ALPHA, rho: float = RHO,
                              beta: float = BETA) -> float:
    """Output noise-to-signal power ratio of one architecture (networkx; the definition).

    Parameters
    ----------
    arch : Architecture
    sigma : float or array_like (len(arch.weight_layers),)
        Relative weight-noise sigma per weight layer (``fastnax.hwmodel.layer_noise_sigma``).

    Returns
    -------
    float
        NSR (dimensionless); ``inf`` for a dead network (no signal reaches the logits).
    """
    coef = reference_coefficients(arch, alpha, rho, beta)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), coef.shape)
    if not np.any(coef > 0):
        return float("inf")
    return float(np.sum(sigma ** 2 * coef))


# ------------------------------------------------------------------------------------------------
# The fast path: nb201, every cell at once
# ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _nb201_table(alpha: float, rho: float, beta: float, in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (15,625, n_slots) of every cell's weight-layer slots, and slot presence.

    Slots follow the layer order of the nb201 network: stem, then per stage (reduction block:
    conv_a, conv_b, shortcut 1x1 after a 2x2 average pool) five cells of six edges in string order,
    then the classifier. Absent slots (an edge that is not a convolution) are 0 and not present.
    """
    from fastnax.spaces.nb201.genotype import CELLS_PER_STAGE, EDGES, N_CELLS, STAGE_WIDTHS, cell_ops

    ops = cell_ops(np.arange(N_CELLS))  # (N, 6): 0 none, 1 skip, 2 conv1x1, 3 conv3x3, 4 avgpool
    n = N_CELLS
    one, zero = np.ones(n), np.zeros(n)
    true = np.ones(n, dtype=bool)
    # template: nodes and edges (src, dst, kind array, kernel array, c_in) in layer order; kinds:
    # 0 none, 1 identity, 2 weight layer, 4 pool
    S, R = [one], [true]  # signal amplitude and reachability of each value node
    edges = []  # (src value, dst value, kind (n,), fan_in (n,))
    slots = []  # index into edges of the weight-layer slots, in layer order

    def new_node():
        S.append(zero.copy())
        R.append(np.zeros(n, dtype=bool))
        return len(S) - 1

    def edge(u, kind, fan_in, v=None):
        v = new_node() if v is None else v
        kind = np.broadcast_to(np.asarray(kind), (n,))
        edges.append((u, v, kind, np.broadcast_to(np.asarray(fan_in, dtype=float), (n,))))
        if np.any(kind == 2):
            slots.append(len(edges) - 1)
        return v

    # one pass builds the graph and runs the forward DP on it
    def forward(u, v, kind):
        live = R[u] & (kind != 0)
        gain = np.select([kind == 1, kind == 2, kind == 4], [S[u], one, rho * S[u]], 0.0)
        S[v] = S[v] + np.where(live, gain, 0.0)
        R[v] = R[v] | live

    def connect(u, kind, fan_in, v=None):
        v = edge(u, kind, fan_in, v)
        forward(u, v, edges[-1][2])
        return v

    cur = connect(0, 2, 9 * in_channels)  # stem conv 3x3
    c = STAGE_WIDTHS[0]
    for s, width in enumerate(STAGE_WIDTHS):
        if s:
            a = connect(cur, 2, 9 * c)
            b = connect(a, 2, 9 * width)
            p = connect(cur, 4, 0)  # 2x2 average pool of the shortcut
            q = connect(p, 2, c)
            join = new_node()
            connect(b, 1, 0, join)
            connect(q, 1, 0, join)
            cur, c = join, width
        for _ in range(CELLS_PER_STAGE):
            node = {0: cur, 1: new_node(), 2: new_node(), 3: new_node()}
            for e, (to, fr) in enumerate(EDGES):
                op = ops[:, e]
                kind = np.select([op == 1, (op == 2) | (op == 3), op == 4], [1, 2, 4], 0)
                fan_in = np.where(op == 3, 9 * c, c)
                if np.any(kind == 2) or np.any(kind == 4):
                    mid = new_node()
                    connect(node[fr], np.where(kind == 1, 0, kind), fan_in, mid)
                    connect(mid, np.where(kind == 1, 0, 1), 0, node[to])
                    connect(node[fr], np.where(kind == 1, 1, 0), 0, node[to])
                else:
                    connect(node[fr], kind, 0, node[to])
            cur = node[3]
    logits = connect(cur, 2, c)  # classifier (global pooling passes through)
    # backward noise gain
    G = [zero.copy() for _ in S]
    G[logits] = R[logits].astype(float)
    for u, v, kind, _ in reversed(edges):
        s_u = np.where(S[u] > 0, S[u], 1.0)
        gain = np.select([kind == 1, kind == 2, kind == 4], [one, 1.0 / s_u, rho * one], 0.0)
        G[u] = G[u] + np.where(R[u] & (kind != 0), gain * G[v], 0.0)
    coef = np.zeros((n, len(slots)))
    present = np.zeros((n, len(slots)), dtype=bool)
    for j, k in enumerate(slots):
        u, v, kind, fan_in = edges[k]
        is_weight = kind == 2
        live = is_weight & R[u] & R[logits]
        s_u = np.where(S[u] > 0, S[u], 1.0)
        coef[:, j] = np.where(live, np.maximum(fan_in, 1.0) ** -alpha * (1.0 + beta / s_u ** 2) * G[v] ** 2, 0.0)
        present[:, j] = is_weight
    coef.setflags(write=False)
    present.setflags(write=False)
    return coef, present


def _nb201_coefficients(space, X, alpha, rho, beta) -> tuple[np.ndarray, np.ndarray]:
    from fastnax.spaces.nb201.genotype import cell_id

    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] < 6:
        raise BoundsError(f"expected nb201 vectors (n, 7), got shape {X.shape}")
    in_channels = int(space.options.get("in_channels", 3)) if hasattr(space, "options") else 3
    coef, present = _nb201_table(float(alpha), float(rho), float(beta), in_channels)
    ids = cell_id(np.rint(X[:, :6]).astype(np.int64))
    return coef[ids], present[ids]


def noise_to_signal(space, X, sigma=1.0, alpha: float = ALPHA, rho: float = RHO, beta: float = BETA) -> np.ndarray:
    """Output noise-to-signal ratio (n,) of a batch of space vectors (vectorized; ``nb201`` only).

    Parameters
    ----------
    space : SearchSpace
        The ``nb201`` space (``fastnax.spaces.get("nb201")``).
    X : ndarray (n, 7)
        Space vectors (six edge ops, crossbar index).
    sigma : float, ndarray (n,) or ndarray (n, L)
        Relative weight-noise sigma: one for every layer, one per candidate, or per weight layer in
        ``arch.weight_layers`` order (``Cost.noise_sigma`` of ``fastnax.hwmodel``; columns beyond a
        candidate's layer count are ignored).

    Returns
    -------
    ndarray (n,)
        NSR, equal to :func:`reference_noise_to_signal` of each architecture; ``inf`` when dead.
    """
    if getattr(space, "name", None) != "nb201":
        raise BoundsError(f"noise_to_signal is vectorized for the nb201 space only, got "
                          f"{getattr(space, 'name', space)!r}; use reference_noise_to_signal(arch) per architecture")
    coef, present = _nb201_coefficients(space, X, alpha, rho, beta)
    sigma = np.asarray(sigma, dtype=np.float64)
    if sigma.ndim <= 1:
        s2 = (sigma ** 2).reshape(-1, 1) if sigma.ndim == 1 else sigma ** 2
        if sigma.ndim == 1 and len(sigma) != len(coef):
            raise BoundsError(f"sigma has {len(sigma)} values for {len(coef)} candidates")
        nsr = (coef * s2).sum(axis=1)
    elif sigma.ndim == 2 and len(sigma) == len(coef):
        # scatter per-weight-layer sigmas onto the slots: the k-th present slot is layer k
        rank = np.cumsum(present, axis=1) - 1
        if sigma.shape[1] < present.sum(axis=1).max():
            raise BoundsError(f"sigma has {sigma.shape[1]} columns; these candidates have up to "
                              f"{int(present.sum(axis=1).max())} weight layers")
        s = np.take_along_axis(sigma, np.clip(rank, 0, sigma.shape[1] - 1), axis=1)
        nsr = np.where(present, coef * s ** 2, 0.0).sum(axis=1)
    else:
        raise BoundsError(f"sigma must be a scalar, (n,) or (n, layers) for n = {len(coef)}, got shape {sigma.shape}")
    return np.where(coef.max(axis=1) > 0, nsr, np.inf)


def robustness_features(space, X, sigma=1.0, F=None) -> np.ndarray:
    """Predictor features (n, 2): ``log10_nsr`` and ``robustness_score`` (:data:`FEATURE_NAMES`).

    ``robustness_score = log10_nsr - CAPACITY_WEIGHT * training_free_score``: higher means a
    larger expected accuracy drop on a noisy chip. Dead networks get ``DEAD_LOG10_NSR`` in both
    columns. ``F`` (the graph feature matrix of ``X``) is computed when not given.
    """
    from fastnax import graph
    from fastnax.predictors.training_free import TrainingFreeScore

    nsr = noise_to_signal(space, X, sigma)
    if F is None:
        F = graph.features_from_vectors(space, X)
    capacity = TrainingFreeScore().predict(np.asarray(F))
    dead = ~np.isfinite(nsr) | (nsr <= 0)
    log_nsr = np.where(dead, DEAD_LOG10_NSR, np.log10(np.where(dead, 1.0, nsr)))
    score = np.where(dead, DEAD_LOG10_NSR, log_nsr - CAPACITY_WEIGHT * capacity)
    return np.stack([log_nsr, score], axis=1)


def robustness_score(space, X, sigma=1.0) -> np.ndarray:
    """Expected-drop score (n,), higher = more accuracy lost on a noisy chip (see the module docstring).

    For a penalty in percentage points (the search's ``noisy`` objective) see :func:`drop_penalty`.
    """
    return robustness_features(space, X, sigma)[:, 1]


_MEDIAN_LIVE: dict = {}


def _median_live_score(space) -> float:
    """Median robustness score (sigma = 1) over every live nb201 cell of ``space``'s skeleton (the
    penalty's reference; cached per input channel count)."""
    key = int(space.options.get("in_channels", 3)) if hasattr(space, "options") else 3
    if key not in _MEDIAN_LIVE:
        _MEDIAN_LIVE[key] = _median_live_score_of(space)
    return _MEDIAN_LIVE[key]


def _median_live_score_of(space) -> float:
    from fastnax.spaces.nb201.genotype import N_CELLS, cell_ops

    X = np.concatenate([cell_ops(np.arange(N_CELLS)), np.zeros((N_CELLS, 1), dtype=np.int64)], axis=1)
    score = robustness_features(space, X.astype(float), 1.0)[:, 1]
    return float(np.median(score[score < DEAD_LOG10_NSR]))


def drop_penalty(space, X, sigma, noise_penalty: float = 3.0, sigma_ref: float = 0.1) -> np.ndarray:
    """Architecture-aware accuracy drop (n,) in percentage points, for a ``noisy`` objective.

    ``noise_penalty * (sigma / sigma_ref)**2 * 10**(robustness_score_1 - median)``: the search's
    uniform penalty ``noise_penalty * (sigma / sigma_ref)**2`` scaled by how much more (or less)
    noise per unit of capacity this network lets through than the median live nb201 cell
    (``robustness_score_1``: the score at sigma = 1; a median cell at ``sigma_ref`` loses exactly
    ``noise_penalty`` points). With one sigma for all layers this is exactly the formula above; with
    per-layer sigmas (``Cost.noise_sigma``, (n, layers) in ``arch.weight_layers`` order) the NSR
    weighs each layer's sigma by how much of its noise reaches the logits. Its ranking is that of
    :func:`robustness_score` at the same sigmas. Dead networks: ``inf`` (they are at chance
    whatever the noise; clip at the chance accuracy).
    """
    score = robustness_features(space, X, sigma)[:, 1]  # log10(NSR at these sigmas) - capacity
    ref = _median_live_score(space) + 2.0 * np.log10(float(sigma_ref))  # median cell at sigma_ref
    dead = score >= DEAD_LOG10_NSR
    return np.where(dead, np.inf, float(noise_penalty) * np.power(10.0, np.where(dead, 0.0, score - ref)))


__all__ = ["ALPHA", "RHO", "BETA", "CAPACITY_WEIGHT", "drop_penalty", "DEAD_LOG10_NSR", "FEATURE_NAMES",
           "reference_coefficients", "reference_noise_to_signal", "noise_to_signal",
           "robustness_features", "robustness_score"]


def analog_score(space, X, sigma=1.0, F=None) -> np.ndarray:
    """Training-free score (n,) of accuracy on a noisy chip, higher = better (vectorized; ``nb201``).

    ``TrainingFreeScore - NOISE_WEIGHT * log10(NSR)``, NSR from :func:`noise_to_signal`
    with the relative weight-noise ``sigma`` (scalar, (n,) or (n, layers)); DEAD_SCORE for a dead
    network. ``F``: the graph features of ``X`` (computed when not given).
    """
    from fastnax import graph
    from fastnax.predictors.training_free import DEAD_SCORE, NOISE_WEIGHT, TrainingFreeScore

    X = np.asarray(X, dtype=float)
    F = graph.features_from_vectors(space, X) if F is None else F
    base = TrainingFreeScore().predict(F)
    nsr = noise_to_signal(space, X, sigma)
    alive = np.isfinite(nsr) & (nsr > 0) & (base > DEAD_SCORE)
    return np.where(alive, base - NOISE_WEIGHT * np.log10(np.where(alive, nsr, 1.0)), DEAD_SCORE)
