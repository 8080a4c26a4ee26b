"""``fastnax.search.run``: one call from a space name to a :class:`SearchResult`."""

from __future__ import annotations

import time

import numpy as np

from fastnax.errors import BoundsError
from fastnax.search.accuracy import COVERAGE, quantity_meaning, resolve_accuracy_model
from fastnax.search.evaluator import Evaluator
from fastnax.search.optimizers import get_optimizer, optimizer_name
from fastnax.search.optimizers.hierarchical import FRONT_BETAS  # noqa: F401  (re-exported)
from fastnax.search.pareto import non_dominated_mask
from fastnax.search.result import SearchResult
from fastnax.search.spec import DEFAULT_BETA, DEFAULT_NOISE_PENALTY, DEFAULT_RISK, ObjectiveSpec


def _get_space(space, space_options: dict | None):
    from fastnax import spaces

    if isinstance(space, spaces.SearchSpace):
        if space_options:
            raise BoundsError("space options apply to a space given by name, not to a SearchSpace object")
        return space
    if not isinstance(space, str):
        raise BoundsError(f"space must be a name or a SearchSpace, got {type(space).__name__}")
    return spaces.get(space, **(space_options or {}))


#: Largest budget a search accepts (10^9 candidates: about a day at the random search's rate).
MAX_BUDGET = 10**9


def _get_hardware(preset):
    if hasattr(preset, "evaluate"):
        return preset, getattr(preset, "name", type(preset).__name__)
    from fastnax import hwmodel

    return hwmodel.get_preset(preset), preset


def run(space="imc", objective: str = "acc-edap", optimizer="hierarchical", predictor=None,
        preset="puma-32nm", seed: int = 0, budget: int | None = None, *, max_area: float | None = None,
        max_latency: float | None = None, min_accuracy: float | None = None, accuracy: str = "auto",
        nonideality=None, noise_penalty: float = DEFAULT_NOISE_PENALTY, beta: float = DEFAULT_BETA,
        dataset: str | None = None, space_options: dict | None = None,
        keep_evaluated: bool = True, method: str | None = None, risk: float = DEFAULT_RISK,
        progress=None) -> SearchResult:
    """Search a co-design space; returns the Pareto front and the best design.

    Parameters
    ----------
    space : str or SearchSpace
        ``"imc"`` (default), ``"nax"``, ``"nb201"`` or a space object.
    objective : str
        ``acc-edap`` (default), ``acc-latency``, ``acc-energy``, ``accuracy``, ``energy``,
        ``latency``, ``area``, ``edap`` (see :mod:`fastnax.search.objectives`).
    optimizer : str or Optimizer
        A registered name (``fastnax.search.optimizers.names()``: ``hierarchical`` (default),
        ``de``, ``shgo``, ``random``, ``exhaustive``, ``bo``) or an object with
        ``optimize(evaluator, rng, budget) -> dict`` (see :mod:`fastnax.search.optimizers.base`).
        ``method`` is accepted as an alias.
    predictor : None, path or fitted predictor
        ``None``: the packaged predictor when fitted for this space, else the training-free score.
    preset : str or HardwareModel
        Hardware model (default ``puma-32nm``).
    seed : int
        Seeds every random choice (``np.random.default_rng(seed)``): same seed, same result.
    budget : int, optional
        Maximum number of candidates priced (method defaults when omitted; ``hierarchical`` stops
        at its fixed point).
    max_area, max_latency, min_accuracy : float, optional
        Hard constraints (mm², ns, percent).
    accuracy : str
        ``"auto"`` (default: what the accuracy model predicts: the packaged predictor predicts the
        accuracy under non-idealities), ``"clean"`` or ``"noisy"`` (a noisy model's prediction as it
        is; a clean prediction minus the non-ideality penalty). ``settings["accuracy_quantity"]``
        of the result says which quantity was reported.
    nonideality : fastnax.hwmodel.NonIdeality, optional
        Non-idealities for the noise sigma (default: the preset's own; where a preset is named and
        the accuracy model is a predictor whose records were all measured on that preset under
        another named non-ideality, that one: :func:`records_nonideality`).
    noise_penalty : float
        Percentage points lost at relative weight-noise sigma 0.1 (``accuracy="noisy"``).
    beta : float
        Weight of ln(cost) in the combined objectives (default 0.07).
    dataset : str, optional
        Dataset the default predictor must have been fitted on.
    space_options : dict, optional
        Options of a space given by name (``input_size``, ``num_classes``...).
    risk : float in (0, 0.5]
        Predictive quantile of the accuracy that the objective scores: 0.4 (default, a little
        pessimistic), 0.1 the lower end of the 80 % interval, 0.5 the mean. Every point of the result carries the
        mean (``accuracy_mean``), the interval (``accuracy_lower``, ``accuracy_upper``) and
        ``in_support``; ``accuracy`` is the scored value.
    progress : callable(n_evaluations, budget), optional
        Called after every priced batch (the CLI shows progress on searches over ~2 s with it).

    Returns
    -------
    SearchResult
    """
    t0 = time.perf_counter()
    if method is not None:
        if optimizer not in ("hierarchical", method):
            raise BoundsError("give the optimizer once: optimizer= or its alias method=, not both")
        optimizer = method
    optimizer = get_optimizer(optimizer)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise BoundsError(f"seed must be a non-negative integer, got {seed!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, np.integer))
                               or budget < 1):
        raise BoundsError(f"budget must be a positive integer (candidates priced), got {budget!r}")
    if budget is not None and budget > MAX_BUDGET:
        raise BoundsError(f"budget {budget:.3g} cannot finish: the search prices ~1e4-1e6 candidates a "
                          f"second, so it would run for days; valid: 1 to {MAX_BUDGET:.0e}")
    limit = budget if budget is not None else getattr(optimizer, "default_budget", None)
    evaluator = make_evaluator(space, objective, predictor, preset, max_area=max_area,
                               max_latency=max_latency, min_accuracy=min_accuracy, accuracy=accuracy,
                               nonideality=nonideality, noise_penalty=noise_penalty, beta=beta,
                               dataset=dataset, space_options=space_options, risk=risk, budget=limit)
    space, spec, preset_name = evaluator.space, evaluator.spec, evaluator.preset_name
    if progress is not None:
        evaluator.on_batch = lambda index, cols: progress(evaluator.n_evaluations, limit)
    # the predictor's records of this space are measured designs: candidates of the front too
    measured = evaluator.accuracy_model.measured_index()
    if len(measured):
        evaluator(measured.astype(float), limit=False)
    t1 = time.perf_counter()
    details = optimizer.optimize(evaluator, np.random.default_rng(int(seed)), limit)
    t2 = time.perf_counter()
    result = _assemble(space, evaluator, spec, int(seed), optimizer_name(optimizer), preset_name, budget,
                       details, keep_evaluated)
    result.timings = {"search_s": t2 - t1, "setup_s": t1 - t0, "total_s": time.perf_counter() - t0}
    return result


def make_evaluator(space="imc", objective: str = "acc-edap", predictor=None, preset="puma-32nm", *,
                   max_area: float | None = None, max_latency: float | None = None,
                   min_accuracy: float | None = None, accuracy: str = "auto", nonideality=None,
                   noise_penalty: float = DEFAULT_NOISE_PENALTY, beta: float = DEFAULT_BETA,
                   dataset: str | None = None, space_options: dict | None = None,
                   risk: float = DEFAULT_RISK, budget: int | None = None) -> Evaluator:
    """The :class:`Evaluator` that :func:`run` searches with, for the same arguments.

    Use it to run an optimizer of your own (``optimizer.optimize(evaluator, rng, budget)``) or a
    peer library on exactly the objective fastnax optimises: ``evaluator(X)`` prices a batch
    (n, d) and returns the canonical index and the columns (``accuracy``, costs...);
    ``evaluator.spec.scalar(columns)`` is the scalar objective and ``evaluator.spec.violation``
    the constraint violation.
    """
    spec = ObjectiveSpec(objective, beta, accuracy, noise_penalty, max_area, max_latency, min_accuracy,
                         risk)
    space = _get_space(space, space_options)
    hardware, preset_name = _get_hardware(preset)
    model = resolve_accuracy_model(predictor, space, dataset)
    from fastnax.hwmodel import HardwareModel, with_nonideality

    from_records = None
    if nonideality is not None and isinstance(hardware, HardwareModel):
        # folded into the model: its name says so and the result stores every field it priced with
        hardware, nonideality = with_nonideality(hardware, nonideality), None
    elif nonideality is None and isinstance(preset, str):
        from_records = records_nonideality(model, hardware)
        hardware = with_nonideality(hardware, from_records)
    preset_name = getattr(hardware, "name", preset_name)  # "+overrides" / "+FILE" when modified
    model.calibrate(space)
    evaluator = Evaluator(space, hardware, model, spec, nonideality=nonideality, budget=budget)
    evaluator.preset_name = preset_name
    evaluator.nonideality_from_records = from_records
    return evaluator


def predictor_chips(model) -> list | None:
    """The chips (``PRESET+NONIDEALITY``, :func:`fastnax.datasets.records.chips_name`) an
    ``accuracy_noisy`` predictor's records were measured on (its sidecar's ``records.hardware``;
    a sidecar that names none: :data:`~fastnax.datasets.records.DEFAULT_HARDWARE`); None for any
    other accuracy model."""
    if model.kind != "predictor" or model.target != "accuracy_noisy":
        return None
    from fastnax.datasets.records import chips_name

    records = model.info.get("records") if isinstance(model.info.get("records"), dict) else {}
    return sorted({chips_name(c) for c in (records.get("hardware") or [None])})


def records_nonideality(model, hardware) -> str | None:
    """The named non-ideality a preset's chips take by default for this accuracy model: where an
    ``accuracy_noisy`` predictor's records were all measured on ``hardware`` (a preset) under another
    registered non-ideality (e.g. records of ``puma-32nm+rram-fastnax-default``, measured before 2026-12), that
    one, so that the accuracy column is the accuracy on the chips priced; else None (the preset's own)."""
    from fastnax.hwmodel import HardwareModel, measured_nonideality

    chips = predictor_chips(model)
    if not chips or not isinstance(hardware, HardwareModel):
        return None
    return measured_nonideality(chips, hardware)


def _chips_note(model, hardware_name: str) -> str | None:
    """A warning when an ``accuracy_noisy`` predictor's records were measured on other chips than
    ``hardware_name`` (``PRESET+NONIDEALITY``, :func:`fastnax.hwmodel.chips_name`)."""
    chips = predictor_chips(model)
    if chips is None or hardware_name in chips:
        return None
    return (f"the predictor's accuracy_noisy was measured on {', '.join(chips)} chips, not on "
            f"{hardware_name}'s: the accuracy column is not the accuracy on the chips priced here "
            f"(their costs and noise sigma are); fit a predictor on records sampled with these "
            f"chips (fastnax sample --nonideality ...)")


def _point(space_archs, cols: dict, i: int, J=None, target: str = "accuracy_clean") -> dict:
    """One design of a result: ``accuracy`` (what the objective used), the costs, the noise sigma
    and the accuracy model's own prediction under its target's name (``accuracy_clean``,
    ``accuracy_noisy`` or ``score``): a noisy prediction is never labelled clean."""
    p = {"arch": space_archs[i], "accuracy": float(cols["accuracy"][i])}
    for key in ("energy_pj", "latency_ns", "area_mm2", "edap"):
        p[key] = float(cols[key][i])
    p[target] = float(cols["accuracy_predicted"][i])
    for key in ("accuracy_mean", "accuracy_lower", "accuracy_upper"):
        p[key] = float(cols[key][i])
    p["in_support"] = bool(cols["in_support"][i] > 0)
    p["measured"] = bool(cols["measured"][i] > 0)
    p["noise_sigma"] = float(cols["noise_sigma"][i])
    if J is not None:
        p["objective"] = float(J[i])
    return p


def _assemble(space, evaluator: Evaluator, spec: ObjectiveSpec, seed: int, method: str,
              preset_name: str, budget, details: dict, keep_evaluated: bool) -> SearchResult:
    index, cols = evaluator.archive.arrays()
    J = spec.scalar(cols) if len(index) else np.zeros(0)
    feasible = spec.violation(cols) <= 0 if len(index) else np.zeros(0, bool)
    cost = spec.cost_column
    F = np.stack([-cols["accuracy"], cols[cost]], axis=1) if len(index) else np.zeros((0, 2))
    on_front = np.zeros(len(index), dtype=bool)
    if feasible.any():
        ids = np.flatnonzero(feasible)
        on_front[ids[non_dominated_mask(F[ids])]] = True
    front_ids = np.flatnonzero(on_front)
    front_ids = front_ids[np.lexsort((-cols["accuracy"][front_ids], cols[cost][front_ids]))]
    best_id = None
    if feasible.any():
        Jf = np.where(feasible, J, np.inf)
        best_id = int(np.argmin(Jf))
    wanted = list(front_ids) + ([best_id] if best_id is not None else [])
    target = evaluator.accuracy_model.target
    names = {i: str(a) for i, a in zip(wanted, space.decode(index[wanted].astype(float)))} if wanted else {}
    front = [_point(names, cols, i, target=target) for i in front_ids]
    best = _point(names, cols, best_id, J, target) if best_id is not None else None
    baselines = []
    base_names = space.baselines()
    if base_names:
        X = space.encode([space.baseline(n) for n in base_names])
        b_index, b_cols = evaluator.columns(X)
        b_J = spec.scalar(b_cols)
        b_names = {i: str(a) for i, a in enumerate(space.decode(b_index.astype(float)))}
        for i, name in enumerate(base_names):
            baselines.append({"name": name, **_point(b_names, b_cols, i, b_J, target)})
    from fastnax.hwmodel import HardwareModel, chips_name, with_nonideality

    chips = evaluator.hardware
    if evaluator.nonideality is not None:
        chips = with_nonideality(chips, evaluator.nonideality)
    hardware_name = chips_name(chips) if isinstance(chips, HardwareModel) else getattr(chips, "name", str(preset_name))
    chips_note = _chips_note(evaluator.accuracy_model, hardware_name)
    settings = {"space": space.name, "space_options": dict(getattr(space, "options", {})),
                "objective": spec.objective, "cost": cost, "beta": spec.beta, "accuracy": spec.accuracy,
                "risk": spec.risk, "interval_coverage": COVERAGE,
                "accuracy_quantity": evaluator.quantity, "accuracy_meaning": quantity_meaning(evaluator.quantity),
                **({"accuracy_chips_note": chips_note} if chips_note else {}),
                **({"nonideality_from_records": evaluator.nonideality_from_records}
                   if getattr(evaluator, "nonideality_from_records", None) else {}),
                "noise_penalty": spec.noise_penalty, "constraints": spec.constraints(),
                "method": method, "preset": preset_name,
                "hardware": (evaluator.hardware.to_dict() if hasattr(evaluator.hardware, "to_dict") else None),
                "budget": budget,
                "method_details": details, "n_feasible": int(feasible.sum()),
                "n_unique_evaluated": int(len(index))}
    evaluated = None
    if keep_evaluated:
        evaluated = {"index": index, **cols, target: cols["accuracy_predicted"], "objective": J,
                     "feasible": feasible}
    return SearchResult(front=front, best=best, baselines=baselines,
                        n_evaluations=int(evaluator.n_evaluations), timings={}, seed=seed,
                        settings=_plain(settings), accuracy_model=_plain(evaluator.accuracy_model.describe()),
                        evaluated=evaluated)


def _plain(obj):
    """JSON-safe copy (numpy scalars and arrays to Python values, paths to strings)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def predict(archs, predictor=None, *, dataset: str | None = None, accuracy: str = "auto",
            risk: float = DEFAULT_RISK, preset="puma-32nm", nonideality=None,
            noise_penalty: float = DEFAULT_NOISE_PENALTY) -> dict:
    """Predicted accuracy of architectures, exactly as a search scores and prints them.

    Parameters
    ----------
    archs : sequence of Architecture or canonical strings
        Members of one space (and one set of space options).
    predictor, dataset, accuracy, risk, preset, nonideality, noise_penalty
        As for :func:`run`; the prediction goes through the same :class:`Evaluator`.

    Returns
    -------
    dict
        ``target`` (what the model predicts), ``quantity`` (what ``accuracy`` is), ``risk``,
        ``accuracy_model`` (its description) and ``predictions``: one dict per architecture with
        ``arch``, ``accuracy`` (the scored value a search reports), ``mean``, ``lower``,
        ``upper`` (the 80 % interval), ``in_support`` and ``measured`` (a record's measurement).
    """
    from fastnax import spaces
    from fastnax.arch import Architecture

    items = [archs] if isinstance(archs, (str, Architecture)) else list(archs)
    if not items:
        raise BoundsError("predict needs at least one architecture")
    parsed = [Architecture.from_string(a) if isinstance(a, str) else a for a in items]
    for a in parsed:
        if not isinstance(a, Architecture):
            raise BoundsError(f"expected an architecture or its string, got {type(a).__name__}")
    keys = {(a.space, a.options) for a in parsed}
    if len(keys) > 1:
        raise BoundsError(f"architectures of {len(keys)} spaces/option sets given "
                          f"({', '.join(sorted({k[0] for k in keys}))}); predict one space at a time")
    space = spaces.get(parsed[0].space, **parsed[0].option_dict)
    evaluator = make_evaluator(space, "acc-edap", predictor, preset, accuracy=accuracy,
                               nonideality=nonideality, noise_penalty=noise_penalty, dataset=dataset,
                               risk=risk)
    index, cols = evaluator.columns(space.encode(parsed))
    names = [str(a) for a in space.decode(index.astype(float))]
    rows = [{"arch": names[i], "accuracy": float(cols["accuracy"][i]),
             "mean": float(cols["accuracy_mean"][i]), "lower": float(cols["accuracy_lower"][i]),
             "upper": float(cols["accuracy_upper"][i]), "in_support": bool(cols["in_support"][i] > 0),
             "measured": bool(cols["measured"][i] > 0)} for i in range(len(names))]
    return {"target": evaluator.accuracy_model.target, "quantity": evaluator.quantity,
            "risk": float(evaluator.spec.risk), "interval_coverage": COVERAGE,
            "accuracy_model": _plain(evaluator.accuracy_model.describe()), "predictions": rows}
