"""The flat optimizers: integral differential evolution, SHGO, random search, exhaustive
enumeration and a Bayesian-optimisation baseline.

Each takes an :class:`~fastnax.search.objectives.Evaluator` (which archives everything it prices,
and enforces the evaluation budget) and prices whole batches: a DE generation, an SHGO sampling
round, a random sample, a chunk of the enumeration, a BO acquisition batch.
"""

from __future__ import annotations

import warnings

import numpy as np

from fastnax.errors import BoundsError
from fastnax.search.objectives import BudgetExhausted, Evaluator

#: Largest space ``exhaustive`` enumerates (canonical configurations).
EXHAUSTIVE_LIMIT = 2_000_000
#: Largest dimension ``shgo`` accepts on a whole space (its triangulation grows as 2^d).
SHGO_MAX_DIM = 8
DEFAULT_BUDGET = {"de": 10_000, "random": 5_000, "bo": 300, "shgo": 5_000}


def differential_evolution(evaluator: Evaluator, seed: int = 0, budget: int | None = None) -> dict:
    """``scipy.optimize.differential_evolution`` with ``integrality`` and ``vectorized=True``.

    The population is about 40-200 candidates (``popsize`` times the dimension, rounded); the
    number of generations follows from the budget.
    """
    from scipy.optimize import differential_evolution as scipy_de

    space = evaluator.space
    d = space.dim
    budget = int(budget or DEFAULT_BUDGET["de"])
    evaluator.budget = budget
    popsize = max(2, int(np.ceil(min(200, max(40, 4 * d)) / d)))
    population = popsize * d
    maxiter = max(1, budget // population - 1)

    def cost(x):
        X = np.asarray(x, dtype=float).T  # scipy passes (d, S) when vectorized
        try:
            return evaluator.scalar(X)
        except BudgetExhausted:
            return np.full(X.shape[0], np.inf)

    scipy_de(cost, space.bounds, integrality=space.integrality, vectorized=True, updating="deferred",
             popsize=popsize, maxiter=maxiter, polish=False, tol=0.0, rng=np.random.default_rng(seed))
    return {"popsize": popsize, "population": population, "maxiter": maxiter}


#: Candidates per batch of ``random`` search: memory stays flat in the budget (~0.5 GB peak on imc).
RANDOM_BATCH = 65_536


def random_search(evaluator: Evaluator, seed: int = 0, budget: int | None = None,
                  batch: int | None = None) -> dict:
    """Uniform random sampling of the space (``space.sample_vectors``) in batches of ``batch``.

    A budget larger than one batch is drawn batch after batch from one generator, and after each
    batch the archive is cut down to what the result can still use (the feasible Pareto front and
    the feasible candidate of lowest scalar cost), so memory stays flat however large the budget
    (10^7 candidates and more); the front and the best are the same as if everything were kept.
    """
    budget = int(budget or DEFAULT_BUDGET["random"])
    batch = int(batch or RANDOM_BATCH)
    evaluator.budget = budget
    rng = np.random.default_rng(seed)
    if budget <= batch:
        evaluator(evaluator.space.sample_vectors(budget, seed=rng))
        return {}
    batches = 0
    while evaluator.remaining > 0:
        evaluator(evaluator.space.sample_vectors(int(min(batch, evaluator.remaining)), seed=rng))
        _prune_archive(evaluator)
        batches += 1
    return {"batches": batches, "batch": int(batch),
            "archive": "pruned after each batch to the feasible Pareto front and the best"}


def _prune_archive(evaluator: Evaluator) -> None:
    """Keep only the archived candidates that can still be on the front or be the best."""
    from fastnax.search.objectives import Archive
    from fastnax.search.pareto import non_dominated_mask

    index, cols = evaluator.archive.arrays()
    spec = evaluator.spec
    feasible = spec.violation(cols) <= 0
    keep = np.zeros(len(index), dtype=bool)
    if feasible.any():
        ids = np.flatnonzero(feasible)
        F = np.stack([-cols["accuracy"][ids], cols[spec.cost_column][ids]], axis=1)
        keep[ids[non_dominated_mask(F)]] = True
        keep[int(np.argmin(np.where(feasible, spec.scalar(cols), np.inf)))] = True
    archive = Archive()
    archive.add(index[keep], {k: v[keep] for k, v in cols.items()})
    evaluator.archive = archive


def enumerate_space(space, limit: int = EXHAUSTIVE_LIMIT) -> np.ndarray:
    """Every canonical configuration of a space small enough to enumerate, (size, d)."""
    size = space.size
    if size > limit:
        raise BoundsError(f"the {space.name} space has {size:.3g} configurations; exhaustive search "
                          f"enumerates at most {limit:,} (use method hierarchical, de or random)")
    if hasattr(space, "all_vectors"):
        return np.asarray(space.all_vectors(), dtype=float)
    bounds = space.bounds.astype(np.int64)
    box = int(np.prod(bounds[:, 1] - bounds[:, 0] + 1, dtype=object))
    if box > 4 * limit:
        raise BoundsError(f"the {space.name} space's coordinate box has {box:.3g} points; exhaustive "
                          f"search enumerates at most {4 * limit:,}")
    grids = np.meshgrid(*[np.arange(lo, hi + 1) for lo, hi in bounds], indexing="ij")
    index = np.stack([g.reshape(-1) for g in grids], axis=1)
    index = np.unique(space.canonicalize(index), axis=0)
    return index.astype(float)


def exhaustive(evaluator: Evaluator, seed: int = 0, budget: int | None = None,
               chunk: int = 100_000) -> dict:
    """Price every configuration (in chunks of ``chunk`` rows, one call each)."""
    X = enumerate_space(evaluator.space)
    evaluator.budget = None
    for start in range(0, len(X), chunk):
        evaluator(X[start:start + chunk])
    return {"enumerated": int(len(X))}


def shgo_search(evaluator: Evaluator, seed: int = 0, budget: int | None = None) -> dict:
    """SHGO (simplicial) directly on a small space (``d <= 8``) on the rounded objective.

    SHGO asks for one point at a time (its own sampling and local searches); points round to
    integer vectors, and each distinct vector is priced once (a cache), so the budget counts
    distinct candidates. This is the small-space baseline; ``hierarchical`` is the fast path.
    """
    from scipy.optimize import shgo

    space = evaluator.space
    if space.dim > SHGO_MAX_DIM:
        raise BoundsError(f"shgo searches spaces of at most {SHGO_MAX_DIM} coordinates; the "
                          f"{space.name} space has {space.dim} (use method hierarchical)")
    evaluator.budget = int(budget or DEFAULT_BUDGET["shgo"])
    cache: dict[bytes, float] = {}

    def one(x):
        row = space.to_index(np.clip(np.asarray(x, float), space.bounds[:, 0], space.bounds[:, 1]))[0]
        key = row.tobytes()
        if key not in cache:
            try:
                cache[key] = float(evaluator.scalar(row[None].astype(float))[0])
            except BudgetExhausted:
                cache[key] = 1e6
        return cache[key]

    n = min(2 ** space.dim + 1, evaluator.budget)
    shgo(one, [tuple(b) for b in space.bounds], n=n, iters=2, sampling_method="simplicial",
         minimizer_kwargs={"method": "COBYLA", "options": {"maxiter": 20}},
         options={"minimize_every_iter": False, "maxfev": evaluator.budget})
    return {"n": n, "distinct_points": len(cache)}


def bayesian_optimisation(evaluator: Evaluator, seed: int = 0, budget: int | None = None,
                          n_initial: int = 20, batch: int | None = None, pool: int = 2_000) -> dict:
    """A small Bayesian-optimisation baseline: a Gaussian-process surrogate (scikit-learn,
    isotropic Matérn 5/2 kernel on coordinates scaled to [0, 1]) and expected improvement,
    maximised over a candidate pool (fresh random vectors plus single-coordinate moves of the
    incumbent); each iteration prices the ``batch`` best candidates in one call (default: a
    twentieth of the budget, at least 10, so a run makes about 20 surrogate fits).

    The kernel is isotropic on purpose: one length scale per coordinate (ARD) over the 68 imc
    coordinates made each fit a 68-dimensional hyper-parameter optimisation (117 s for a budget of
    300 on 2 cores, against a few seconds isotropic).
    """
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    from fastnax.search.hierarchical import family_of, single_moves

    space = evaluator.space
    budget = int(budget or DEFAULT_BUDGET["bo"])
    evaluator.budget = budget
    batch = int(batch) if batch else max(10, budget // 20)
    rng = np.random.default_rng(seed)
    lo, hi = space.bounds[:, 0], space.bounds[:, 1]
    span = np.where(hi > lo, hi - lo, 1.0)
    family = family_of(space)
    X_seen, y_seen = [], []
    try:
        index, cols = evaluator(space.sample_vectors(min(n_initial, budget), seed=rng))
        X_seen.append(index)
        y_seen.append(evaluator.spec.scalar(cols))
        while evaluator.remaining > 0:
            X = np.concatenate(X_seen).astype(float)
            y = np.concatenate(y_seen)
            kernel = ConstantKernel(1.0) * Matern(length_scale=1.0, nu=2.5) + WhiteKernel(1e-3)
            gp = GaussianProcessRegressor(kernel=kernel, normalize_y=True, n_restarts_optimizer=0,
                                          random_state=int(rng.integers(2**31)))
            y_fit = np.minimum(y, np.median(y) + 3 * (np.std(y) + 1e-12))  # clip infeasible penalties
            with warnings.catch_warnings():  # length-scale bounds hit on flat coordinates: expected
                warnings.simplefilter("ignore")
                gp.fit((X - lo) / span, y_fit)
            incumbent = X[int(np.argmin(y))].astype(np.int64)
            moves, _, _ = single_moves(space, family, incumbent[None])
            cand = np.concatenate([space.to_index(space.sample_vectors(pool, seed=rng)), moves])
            cand = np.unique(cand, axis=0)
            cand = cand[~np.isin(_row_keys(cand), _row_keys(X.astype(np.int64)))]
            if not len(cand):
                break
            mu, sd = gp.predict((cand - lo) / span, return_std=True)
            best = y_fit.min()
            from scipy.stats import norm

            z = (best - mu) / np.maximum(sd, 1e-12)
            ei = (best - mu) * norm.cdf(z) + sd * norm.pdf(z)
            take = cand[np.argsort(-ei, kind="stable")[:batch]]
            index, cols = evaluator(take.astype(float))
            X_seen.append(index)
            y_seen.append(evaluator.spec.scalar(cols))
    except BudgetExhausted:
        pass
    return {"n_initial": n_initial, "batch": batch, "pool": pool, "surrogate": "gaussian process (Matern 5/2)",
            "acquisition": "expected improvement"}


def _row_keys(index: np.ndarray) -> np.ndarray:
    """One comparable key per integer row (a void view of the row's bytes)."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    return index.view(np.dtype((np.void, index.dtype.itemsize * index.shape[1]))).reshape(-1)


METHODS = {
    "hierarchical": None,  # fastnax.search.hierarchical.hierarchical
    "de": differential_evolution,
    "shgo": shgo_search,
    "random": random_search,
    "exhaustive": exhaustive,
    "bo": bayesian_optimisation,
}

