"""Speed of ``fastnax search``: the whole process, the optimisation itself, and the speed ratio to
``de`` and ``random`` at equal solution quality. Prints one JSON object.

- whole process: ``python -m fastnax.cli search`` (defaults: imc, acc-edap, hierarchical), wall
  time of the subprocess, median of 3 (the machine's cores: run it on a 2-core machine).
- optimisation: the same search in-process (imc sized for digits, the packaged predictor: what
  ``fastnax search`` runs), ``timings["search_s"]`` of warm runs (imports done), median of 3; the
  first (cold) run is reported too, and the CIFAR-sized imc space with the training-free score.
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


def main() -> int:
    py = sys.executable
    process_s = _wall([py, "-m", "fastnax.cli", "search"])
    python_s = _wall([py, "-c", "pass"])
    imports = {name: _wall([py, "-c", f"import {name}"]) - python_s
               for name in ("numpy", "scipy.optimize", "sklearn", "xgboost", "fastnax.search")}

    from fastnax import search
    from fastnax.datasets import space_options_for

    default = {"dataset": "digits", "space_options": space_options_for("digits")}
    t = time.perf_counter()
    cold = search.run("imc", **default)
    cold_s = time.perf_counter() - t
    warm = [search.run("imc", **default).timings["search_s"] for _ in range(3)]
    cifar = [search.run("imc").timings["search_s"] for _ in range(3)]
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
        "optimisation_s_warm": h_s, "optimisation_target_s": 0.1,
        "first_run_in_process_s": cold_s,
        "optimisation_s_warm_cifar_imc_training_free": float(np.median(cifar)),
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
