"""fastnax's search against what a user would run instead, on the same vectorized objective.

Peers: pymoo NSGA-II and GA (a batched ``Problem``: one call per generation, integer operators with
rounding repair), Optuna NSGA-II (ask/tell, a whole generation asked, evaluated in one batch, then
told), SciPy differential evolution (``vectorized=True``, ``integrality``), and fastnax
(``search.run``, default method). Every method evaluates candidates through the same fastnax
``Evaluator`` (same space, accuracy model, hardware model, objective and constraints), which
time-stamps every batch with the process CPU time, so fronts and best objectives can be compared
at equal CPU time and at equal evaluations.

Problems:
  A  the default search: ``imc`` sized for digits, the packaged predictor, ``acc-edap``;
  B  ``nb201`` x crossbar sizes with a predictor fitted on 25 random cells (true
     ``c10valid_valid_200ep`` accuracies); fronts re-scored with the TRUE accuracies;
  C  the CIFAR-sized ``imc`` space with the training-free score.

Figures per problem, over seeds: hypervolume of the front each method reports (feasible and
non-dominated in its objective, predicted accuracy vs EDAP; B: re-scored with the true accuracies)
in (accuracy, log10 EDAP), normalised by fixed bounds per problem (B: the whole space's true
accuracies and EDAPs); the best scalar
objective J (``acc-edap``, beta 0.07; feasible candidates only); CPU seconds and evaluations; the
CPU time each peer needs to reach fastnax's final hypervolume and best objective (from its
time-stamped archive); the fraction of fastnax's front dominated by the union of the peers' fronts
at fastnax's own CPU time (points closer than 1e-9 relative in both objectives count as ties), and
the same fraction in the objective the methods searched (predicted accuracy; on B it separates the
search's shortfall from the predictor's errors, on A and C the two are the same).

On B, designs the predictor cannot tell apart (equal graph features at the same crossbar size:
the same predicted accuracy and EDAP) are distinct cells with different true accuracies, so the
TRUE hypervolume of a front depends on which member of each tied class a method happened to
report. B also reports ``hypervolume_tie_mean`` (each front point scored by the mean true accuracy
of its tied class over the whole space) and the goal counted with it (``goal_with_tie_means``):
what is left is the search (points one method found and another did not) and the predictor's
errors (a front worse in the objective can be better in truth).

Usage: python benchmarks/search_vs_peers.py [--seeds 5] [--problems A,B,C] [--evals 20000]
Needs the ``bench`` extra (pymoo, optuna). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NB201 = ROOT.parent / "shared" / "data" / "nb201" / "nb201_accuracy.csv"
BETA = 0.07
#: Optuna's NSGA-II costs ~2.5-5 ms of sampler time per trial (ask/tell per trial): its budget is
#: capped so that the benchmark stays within minutes (--optuna-evals).
OPTUNA_EVALS = 5000


# ------------------------------------------------------------------------------------------------
# One objective for everyone
# ------------------------------------------------------------------------------------------------
class Tape:
    """Time-stamps every batch an Evaluator prices (process CPU time since the start of the run)."""

    def __init__(self, evaluator, t0: float):
        self.evaluator = evaluator
        self.t0 = t0
        self.batches = []  # (cpu seconds since t0 at the end of the batch, index, columns)
        evaluator.on_batch = self._record

    def _record(self, index, cols):
        self.batches.append((time.process_time() - self.t0, index, cols))

    def __call__(self, X):
        return self.evaluator(np.asarray(X, dtype=float), limit=False)[1]

    def scalar(self, cols) -> np.ndarray:
        return self.evaluator.spec.scalar(cols, BETA)

    def upto(self, cpu: float | None = None, evals: int | None = None):
        """Concatenated (index, accuracy, edap, J, feasible) of the batches done by a CPU time."""
        rows, acc, edap, J, feas = [], [], [], [], []
        n = 0
        for t, index, cols in self.batches:
            if cpu is not None and t > cpu:
                break
            if evals is not None and n >= evals:
                break
            rows.append(index)
            acc.append(cols["accuracy"])
            edap.append(cols["edap"])
            J.append(self.scalar(cols))
            feas.append(self.evaluator.spec.violation(cols) <= 0)
            n += len(index)
        if not rows:
            return (np.zeros((0, 1), dtype=np.int64), np.zeros(0), np.ones(0), np.full(0, np.inf),
                    np.zeros(0, dtype=bool))
        return (np.concatenate(rows), np.concatenate(acc), np.concatenate(edap), np.concatenate(J),
                np.concatenate(feas))

    @property
    def cpu(self) -> float:
        return self.batches[-1][0] if self.batches else 0.0

    @property
    def evaluations(self) -> int:
        return int(sum(len(b[1]) for b in self.batches))


# ------------------------------------------------------------------------------------------------
# The methods
# ------------------------------------------------------------------------------------------------
def run_fastnax(problem, seed, evals):
    from fastnax.search.optimizers import get_optimizer

    tape = problem.tape()
    # as search.run does: the predictor's measured records are priced first (peers may find them
    # too: the evaluator scores a record by its measurement whoever proposes it)
    measured = tape.evaluator.accuracy_model.measured_index()
    if len(measured):
        tape.evaluator(measured.astype(float), limit=False)
    get_optimizer("hierarchical").optimize(tape.evaluator, np.random.default_rng(seed), None)
    return tape


def run_de(problem, seed, evals):
    from scipy.optimize import differential_evolution

    tape = problem.tape()
    space = problem.space
    d = space.dim
    popsize = max(2, int(np.ceil(min(200, max(40, 4 * d)) / d)))
    maxiter = max(1, evals // (popsize * d) - 1)

    def f(Xt):
        return tape.scalar(tape(Xt.T))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        differential_evolution(f, space.bounds, integrality=space.integrality, vectorized=True,
                               updating="deferred", popsize=popsize, maxiter=maxiter, tol=0,
                               polish=False, seed=seed, init="sobol")
    return tape


def _pymoo_problem(problem, tape, multi: bool):
    from pymoo.core.problem import Problem

    space = problem.space
    spec = problem.spec

    class CoDesign(Problem):
        def __init__(self):
            super().__init__(n_var=space.dim, n_obj=2 if multi else 1, n_ieq_constr=1,
                             xl=space.bounds[:, 0], xu=space.bounds[:, 1], vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            cols = tape(X)
            if multi:
                out["F"] = np.stack([-cols["accuracy"], np.log10(np.maximum(cols["edap"], 1e-300))], axis=1)
            else:
                out["F"] = tape.scalar(cols)[:, None] - 0.0
            out["G"] = spec.violation(cols)[:, None] - 1e-12

    return CoDesign()


def _run_pymoo(problem, seed, evals, multi: bool):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.algorithms.soo.nonconvex.ga import GA
    from pymoo.operators.crossover.sbx import SBX
    from pymoo.operators.mutation.pm import PM
    from pymoo.operators.repair.rounding import RoundingRepair
    from pymoo.operators.sampling.rnd import IntegerRandomSampling
    from pymoo.optimize import minimize

    tape = problem.tape()
    ops = dict(pop_size=100, sampling=IntegerRandomSampling(),
               crossover=SBX(prob=1.0, eta=3.0, vtype=float, repair=RoundingRepair()),
               mutation=PM(eta=3.0, vtype=float, repair=RoundingRepair()), eliminate_duplicates=True)
    algorithm = NSGA2(**ops) if multi else GA(**ops)
    minimize(_pymoo_problem(problem, tape, multi), algorithm, ("n_eval", evals), seed=seed, verbose=False)
    return tape


def run_pymoo_nsga2(problem, seed, evals):
    return _run_pymoo(problem, seed, evals, multi=True)


def run_pymoo_ga(problem, seed, evals):
    return _run_pymoo(problem, seed, evals, multi=False)


def run_optuna_nsga2(problem, seed, evals):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tape = problem.tape()
    space = problem.space
    lo, hi = space.bounds[:, 0].astype(int), space.bounds[:, 1].astype(int)
    population = 50
    sampler = optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    done = 0
    while done < evals:
        trials = [study.ask() for _ in range(min(population, evals - done))]
        X = np.asarray([[t.suggest_int(f"x{j}", int(lo[j]), int(hi[j])) for j in range(space.dim)]
                        for t in trials], dtype=float)
        cols = tape(X)
        infeasible = problem.spec.violation(cols) > 0
        for i, t in enumerate(trials):
            if infeasible[i]:
                study.tell(t, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(t, [float(-cols["accuracy"][i]), float(np.log10(cols["edap"][i]))])
        done += len(trials)
    return tape


METHODS = {"fastnax": run_fastnax, "pymoo_nsga2": run_pymoo_nsga2, "pymoo_ga": run_pymoo_ga,
           "optuna_nsga2": run_optuna_nsga2, "scipy_de": run_de}


# ------------------------------------------------------------------------------------------------
# Problems and scoring
# ------------------------------------------------------------------------------------------------
class Problem:
    def __init__(self, name, space, predictor, rescore=None, bounds=None):
        from fastnax import hwmodel
        from fastnax.search import api

        self.name = name
        self.space = space
        self.predictor = predictor
        self.rescore = rescore  # index rows -> true accuracy (problem B)
        self.tie_mean = None  # index rows -> mean true accuracy of the designs tied with each (B)
        self.bounds = bounds  # (acc_lo, acc_hi, log_edap_lo, log_edap_hi) or None: from the runs
        self.hardware = hwmodel.get_preset("puma-32nm")
        self._make = api.make_evaluator

    def tape(self) -> Tape:
        from fastnax.hwmodel.engine import clear_tabulated

        clear_tabulated()  # every method starts as cold as a fresh process
        evaluator = self._make(self.space, objective="acc-edap", predictor=self.predictor, beta=BETA,
                               preset=self.hardware)
        self.spec = evaluator.spec
        return Tape(evaluator, time.process_time())


def _front_matrix(acc, edap):
    return np.stack([-acc, np.log10(np.maximum(edap, 1e-300))], axis=1)


def _hv(acc, edap, bounds):
    from fastnax.search.pareto import hypervolume_2d

    a_lo, a_hi, e_lo, e_hi = bounds
    if not len(acc):
        return 0.0
    F = np.stack([1 - (acc - a_lo) / (a_hi - a_lo), (np.log10(edap) - e_lo) / (e_hi - e_lo)], axis=1)
    return hypervolume_2d(np.clip(F, -1, 1), (1.0, 1.0))


def _accuracies(problem, index, acc):
    return problem.rescore(index) if problem.rescore is not None else acc


def _reported(problem, index, acc, edap, feas, rescore: bool = True):
    """The front a method reports (feasible, non-dominated in ITS objective: predicted accuracy
    vs EDAP), with the accuracies it is scored by (problem B: the true ones; ``rescore=False``: the
    predicted ones it was chosen by)."""
    from fastnax.search.pareto import non_dominated_mask

    if not feas.any():
        return np.zeros(0), np.ones(0)
    index, acc, edap = index[feas], acc[feas], edap[feas]
    # EDAPs that differ by float noise (a few ulp, summation order) are one cost: a point that is
    # "non-dominated" only by being 2 ulp cheaper than a more accurate one is not on the front
    keep = non_dominated_mask(_front_matrix(acc, _float_noise_free(edap)))
    return (_accuracies(problem, index[keep], acc[keep]) if rescore else acc[keep]), edap[keep]


def _float_noise_free(values, digits: int = 12):
    """``values`` rounded to ``digits`` significant digits (ties within float noise made equal)."""
    v = np.asarray(values, dtype=float)
    scale = 10.0 ** (np.floor(np.log10(np.maximum(np.abs(v), 1e-300))) - (digits - 1))
    return np.round(v / scale) * scale


def _dominated_fraction(front, others, rtol=1e-9):
    """Share of rows of ``front`` (m, 2; minimised) strictly dominated by a row of ``others``."""
    if not len(front) or not len(others):
        return 0.0
    tol = rtol * np.maximum(np.abs(front), 1.0)
    le = (others[None, :, :] <= front[:, None, :] + tol[:, None, :]).all(axis=2)
    lt = (others[None, :, :] < front[:, None, :] - tol[:, None, :]).any(axis=2)
    return float((le & lt).any(axis=1).mean())


def _time_to_reach(tape, problem, bounds, hv_goal, j_goal):
    """CPU seconds until the tape's archive reaches a hypervolume and a best objective (None: never)."""
    t_hv = t_j = None
    for t, _, _ in tape.batches:
        index, acc, edap, J, feas = tape.upto(cpu=t)
        if t_hv is None and _hv(*_reported(problem, index, acc, edap, feas), bounds) >= hv_goal - 1e-12:
            t_hv = t
        if t_j is None and feas.any() and J[feas].min() <= j_goal + 1e-12:
            t_j = t
        if t_hv is not None and t_j is not None:
            break
    return t_hv, t_j


def evaluate_problem(make, seeds, evals, methods):
    from fastnax.search.pareto import non_dominated_mask

    per_seed = []
    for seed in range(seeds):
        problem = make(seed)
        tapes = {name: METHODS[name](problem, seed, OPTUNA_EVALS if name == "optuna_nsga2" else evals)
                 for name in methods}
        if problem.bounds is None:
            all_acc = np.concatenate([t.upto()[1] for t in tapes.values()])
            all_edap = np.concatenate([t.upto()[2] for t in tapes.values()])
            bounds = (all_acc.min(), all_acc.max(), np.log10(all_edap).min(), np.log10(all_edap).max())
        else:
            bounds = problem.bounds
        row = {}
        for name, tape in tapes.items():
            index, acc, edap, J, feas = tape.upto()
            row[name] = {"cpu_s": tape.cpu, "evaluations": tape.evaluations,
                         "hypervolume": _hv(*_reported(problem, index, acc, edap, feas), bounds),
                         "best_objective": float(J[feas].min()) if feas.any() else None}
        tied = None
        if problem.tie_mean is not None:  # B: the same fronts, each point scored by its tie mean
            tied = copy.copy(problem)
            tied.rescore = problem.tie_mean
            for name, tape in tapes.items():
                index, acc, edap, J, feas = tape.upto()
                row[name]["hypervolume_tie_mean"] = _hv(*_reported(tied, index, acc, edap, feas), bounds)
        fx = tapes["fastnax"]
        t_fx = fx.cpu
        M = _front_matrix(*_reported(problem, *fx.upto()[:3], fx.upto()[4]))
        front = M[non_dominated_mask(M)] if len(M) else M
        front_objective = _front_matrix(*_reported(problem, *fx.upto()[:3], fx.upto()[4], rescore=False))
        union, union_objective = [], []
        for name, tape in tapes.items():
            if name == "fastnax":
                continue
            i2, a2, e2, J2, f2 = tape.upto(cpu=t_fx)
            union.append(_front_matrix(*_reported(problem, i2, a2, e2, f2)))
            union_objective.append(_front_matrix(*_reported(problem, i2, a2, e2, f2, rescore=False)))
            hv_goal = row[name]["hypervolume"]
            j_goal = row[name]["best_objective"]
            fx_hv_t, fx_j_t = _time_to_reach(fx, problem, bounds, hv_goal, j_goal if j_goal is not None else np.inf)
            peer_hv_t, peer_j_t = _time_to_reach(tape, problem, bounds, row["fastnax"]["hypervolume"],
                                                 row["fastnax"]["best_objective"])
            row[name]["fastnax_reaches_peer_hv_at_cpu_s"] = fx_hv_t
            row[name]["fastnax_reaches_peer_best_at_cpu_s"] = fx_j_t
            row[name]["peer_reaches_fastnax_hv_at_cpu_s"] = peer_hv_t
            row[name]["peer_reaches_fastnax_best_at_cpu_s"] = peer_j_t
            row[name]["goal_fastnax_within_one_fifth_of_peer_cpu"] = bool(
                fx_hv_t is not None and fx_j_t is not None
                and max(fx_hv_t, fx_j_t) <= tape.cpu / 5.0)
            if tied is not None:
                t_hv, _ = _time_to_reach(fx, tied, bounds, row[name]["hypervolume_tie_mean"], np.inf)
                row[name]["fastnax_reaches_peer_tie_mean_hv_at_cpu_s"] = t_hv
                row[name]["goal_with_tie_means"] = bool(
                    t_hv is not None and fx_j_t is not None and max(t_hv, fx_j_t) <= tape.cpu / 5.0)
        U = np.concatenate(union) if union else np.zeros((0, 2))
        row["fastnax_front_points"] = int(len(front))
        row["fastnax_front_dominated_by_peers_at_equal_cpu"] = _dominated_fraction(front, U)
        # the same in the objective the methods searched (predicted accuracy): on B, what is left
        # of the figure above once the predictor's errors are taken out (A, C: the same number)
        row["fastnax_front_dominated_by_peers_in_objective_at_equal_cpu"] = _dominated_fraction(
            front_objective, np.concatenate(union_objective) if union_objective else np.zeros((0, 2)))
        per_seed.append(row)
        print(f"# {problem.name} seed {seed}: " + ", ".join(
            f"{k} hv={v['hypervolume']:.4f} J={v['best_objective']} cpu={v['cpu_s']:.2f}s"
            for k, v in row.items() if isinstance(v, dict)), file=sys.stderr)
    return _summarise(per_seed, methods)


def _summarise(per_seed, methods):
    out = {"seeds": per_seed}
    summary = {}
    for name in methods:
        rows = [r[name] for r in per_seed]
        summary[name] = {k: float(np.mean([r[k] for r in rows if r[k] is not None]))
                         for k in ("cpu_s", "evaluations", "hypervolume", "best_objective", "hypervolume_tie_mean")
                         if any(r.get(k) is not None for r in rows)}
        if name != "fastnax":
            summary[name]["goal_met_seeds"] = int(sum(r["goal_fastnax_within_one_fifth_of_peer_cpu"] for r in rows))
            if "goal_with_tie_means" in rows[0]:
                summary[name]["goal_met_seeds_with_tie_means"] = int(sum(r["goal_with_tie_means"] for r in rows))
    for key in ("fastnax_front_dominated_by_peers_at_equal_cpu",
                "fastnax_front_dominated_by_peers_in_objective_at_equal_cpu"):
        summary[key] = {"mean": float(np.mean([r[key] for r in per_seed])),
                        "max": float(np.max([r[key] for r in per_seed]))}
    out["summary"] = summary
    return out


def problems(names, seed_for_b=0):
    from fastnax import spaces
    from fastnax.datasets import space_options_for

    unknown = [n for n in names if n not in ("A", "B", "C")]
    if unknown:
        raise SystemExit(f"search_vs_peers.py: error: unknown problem(s) {', '.join(unknown)}; valid: A, B, C")
    out = {}
    if "A" in names:
        out["A"] = lambda s: Problem("A_digits_default", spaces.get("imc", **space_options_for("digits")), None)
    if "C" in names:
        from fastnax.predictors import TrainingFreeScore

        out["C"] = lambda s: Problem("C_cifar_imc_training_free", spaces.get("imc", **space_options_for("cifar10")),
                                     TrainingFreeScore())
    if "B" in names and NB201.exists():
        out["B"] = _problem_b
    return out


def _problem_b(seed):
    from fastnax import graph, hwmodel, spaces
    from fastnax.datasets import nb201 as nb201_data
    from fastnax.predictors import XGBPredictor

    arch_strings, columns = nb201_data.load(NB201)
    acc_by_cell = nb201_data.align(arch_strings, columns["c10valid_valid_200ep"])
    space = spaces.get("nb201")
    X_all = space.all_vectors()
    cells_all = (X_all[:, :6].astype(np.int64) * 5 ** np.arange(6)).sum(axis=1)
    true_acc = acc_by_cell[cells_all]
    edap_all = hwmodel.get_preset("puma-32nm").evaluate(space.layer_table(X_all)).edap
    rng = np.random.default_rng(seed)
    cells = rng.choice(15625, size=25, replace=False)
    X_train = np.concatenate([(cells[:, None] // 5 ** np.arange(6)) % 5,
                              np.zeros((25, 1), dtype=np.int64)], axis=1).astype(float)
    F = graph.features_from_vectors(space, X_train)
    predictor = XGBPredictor(random_state=seed).fit_with_intervals(F, acc_by_cell[cells], 5)

    def rescore(index):
        return acc_by_cell[(np.asarray(index)[:, :6].astype(np.int64) * 5 ** np.arange(6)).sum(axis=1)]

    bounds = (true_acc.min(), true_acc.max(), np.log10(edap_all).min(), np.log10(edap_all).max())
    problem = Problem("B_nb201_true_accuracy", space, predictor, rescore=rescore, bounds=bounds)
    problem.tie_mean = _tie_means(problem, X_all, true_acc)
    return problem


def _tie_means(problem, X_all, true_acc):
    """Index rows -> the mean TRUE accuracy of the designs of the whole space that the objective
    cannot tell apart from each (the same predicted accuracy and EDAP to 9 significant digits:
    cells with equal graph features, e.g. isomorphic ones, at the same crossbar size). A front
    point of such a class is one draw among them; its tie mean is what any method that reports
    that point can expect, whichever member it happened to report."""
    from fastnax.search import api

    evaluator = api.make_evaluator(problem.space, objective="acc-edap", predictor=problem.predictor,
                                   beta=BETA, preset=problem.hardware)
    index, cols = evaluator(X_all.astype(float), limit=False)
    if index.shape != X_all.shape or (index != X_all).any():
        raise SystemExit("search_vs_peers.py: error: the evaluator reordered the nb201 space; tie means need its rows")

    key = np.stack([_float_noise_free(cols["accuracy"], 9), _float_noise_free(cols["edap"], 9)], axis=1)
    _, cls = np.unique(key, axis=0, return_inverse=True)
    cls = cls.ravel()
    mean = np.bincount(cls, weights=true_acc) / np.bincount(cls)
    lookup = {tuple(r): mean[c] for r, c in zip(index.astype(np.int64).tolist(), cls)}

    def tie_mean(rows):
        return np.asarray([lookup[tuple(r)] for r in np.asarray(rows).astype(np.int64).tolist()])

    return tie_mean


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--problems", default="A,B,C")
    parser.add_argument("--evals", type=int, default=20000, help="evaluation budget of each peer")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--optuna-evals", type=int, default=OPTUNA_EVALS)
    args = parser.parse_args(argv)
    globals()["OPTUNA_EVALS"] = args.optuna_evals
    try:
        import optuna  # noqa: F401
        import pymoo  # noqa: F401
    except ImportError as exc:
        print(json.dumps({"skipped": f"needs the bench extra (pip install -e '.[bench]'): {exc}"}))
        return 0
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; valid: {', '.join(METHODS)}")
    if "fastnax" not in methods:
        methods.insert(0, "fastnax")
    out = {"benchmark": "search_vs_peers", "evals_per_peer": args.evals, "optuna_evals": args.optuna_evals,
           "beta": BETA, "problems": {}}
    for key, make in problems(args.problems.split(",")).items():
        out["problems"][key] = evaluate_problem(make, args.seeds, args.evals, methods)
    print(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
