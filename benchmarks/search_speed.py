"""Speed of ``fastnax search``: the whole process, the optimisation itself, and the speed ratio to
``de`` and ``random`` at equal solution quality. Prints one JSON object.

- whole process: ``python -m fastnax.cli search`` (defaults: imc, acc-edap, hierarchical), wall
  time of the subprocess, median of 3 (the machine's cores: run it on a 2-core machine).
- optimisation: the same search (imc sized for digits, the packaged predictor: what ``fastnax
  search`` runs), ``timings["search_s"]`` of warm runs (imports done), in fresh processes, with
  the glibc settings ``fastnax search`` applies (``fastnax.search.tune_allocator``) and without
  them, alternately, 3 processes x 5 runs each; medians; the first (cold) run in this process is
  reported too, and the CIFAR-sized imc space (``search.run("imc")``: its default options, the
  packaged CIFAR-10 predictor).
- equal quality: the budget (candidates priced) that ``de`` and ``random`` need to reach the
  hierarchical best scalar objective (or the best they reach at the largest budget tried), with
  their wall times; ratios are measured side by side in this run.
- import costs of scipy.optimize, scikit-learn and xgboost (subprocesses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np


def _wall(cmd: list[str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _warm_runs(tuned: bool) -> dict:
    """Warm optimisation times of this process (``--warm-runs``): digits and CIFAR-sized imc."""
    import resource

    from fastnax import search
    from fastnax.datasets import space_options_for

    applied = search.tune_allocator() if tuned else False
    default = {"dataset": "digits", "space_options": space_options_for("digits")}
    # digits first, as ``fastnax search`` runs it: a larger search before it would raise glibc's
    # dynamic mmap threshold and hide what the default allocator costs a single search
    search.run("imc", **default)
    warm = [search.run("imc", **default).timings["search_s"] for _ in range(5)]
    search.run("imc")
    cifar = [search.run("imc").timings["search_s"] for _ in range(3)]
    return {"tuned": applied, "warm": warm, "cifar": cifar,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _side_by_side(py: str, processes: int = 3) -> dict:
    """The warm optimisation with and without the allocator settings, fresh processes alternately."""
    runs = {"tuned": [], "default": []}
    for _ in range(processes):
        for mode in ("default", "tuned"):
            out = subprocess.run([py, __file__, "--warm-runs", mode], check=True, capture_output=True, text=True)
            runs[mode].append(json.loads(out.stdout))
    report = {}
    for mode, rows in runs.items():
        report[mode] = {"applied": all(r["tuned"] for r in rows),
                        "warm_s": float(np.median([t for r in rows for t in r["warm"]])),
                        "warm_cifar_imc_s": float(np.median([t for r in rows for t in r["cifar"]])),
                        "max_rss_mb": round(max(r["max_rss_mb"] for r in rows), 1)}
    report["tuned_over_default"] = round(report["tuned"]["warm_s"] / report["default"]["warm_s"], 3)
    return report


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--warm-runs":
        print(json.dumps(_warm_runs(sys.argv[2] == "tuned")))
        return 0
    py = sys.executable
    allocator = _side_by_side(py)
    process_s = _wall([py, "-m", "fastnax.cli", "search"])
    python_s = _wall([py, "-c", "pass"])
    imports = {name: _wall([py, "-c", f"import {name}"]) - python_s
               for name in ("numpy", "scipy.optimize", "sklearn", "xgboost", "fastnax.search")}

    from fastnax import search
    from fastnax.datasets import space_options_for

    search.tune_allocator()  # as fastnax search runs (the equal-quality ratios below are in-process)
    default = {"dataset": "digits", "space_options": space_options_for("digits")}
    t = time.perf_counter()
    cold = search.run("imc", **default)
    cold_s = time.perf_counter() - t
    warm = [search.run("imc", **default).timings["search_s"] for _ in range(3)]
    target = cold.best["objective"]
    h_s = float(np.median(warm))

    def reach(method: str, budgets) -> dict:
        tried = []
        for budget in budgets:
            t = time.perf_counter()
            r = search.run("imc", method=method, budget=budget, **default)
            wall = time.perf_counter() - t
            best = r.best["objective"]
            tried.append({"budget": budget, "best_objective": best, "wall_s": wall})
            if best <= target + 1e-9:
                return {"reached": True, "budget": budget, "wall_s": wall, "speed_ratio": wall / h_s,
                        "tried": tried}
        return {"reached": False, "best_objective_at_largest_budget": tried[-1]["best_objective"],
                "wall_s_at_largest_budget": tried[-1]["wall_s"],
                "speed_ratio_lower_bound": tried[-1]["wall_s"] / h_s, "tried": tried}

    budgets = (2_000, 10_000, 50_000, 200_000)
    out = {
        "benchmark": "search_speed",
        "cores": os.cpu_count(),
        "whole_process_s": process_s, "whole_process_target_s": 1.0,
        "python_startup_s": python_s,
        "optimisation_s_warm": allocator["tuned"]["warm_s"], "optimisation_target_s": 0.1,
        "optimisation_s_warm_default_allocator": allocator["default"]["warm_s"],
        "allocator_side_by_side": allocator,
        "optimisation_s_warm_in_this_process": h_s,
        "first_run_in_process_s": cold_s,
        "optimisation_s_warm_cifar_imc": allocator["tuned"]["warm_cifar_imc_s"],
        "hierarchical": {"objective": target, "evaluations": cold.n_evaluations,
                         "accuracy_model": cold.accuracy_model.get("kind")},
        "import_s": imports,
        "de": reach("de", budgets),
        "random": reach("random", budgets),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
