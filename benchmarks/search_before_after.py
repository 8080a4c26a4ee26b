"""The search's speed side by side with another checkout of fastnax (a ``git worktree``), in one run.

    git worktree add /tmp/before a5e9566
    python benchmarks/search_before_after.py --before /tmp/before

Interleaves, ``--repeat`` times, the same measurements in both trees (each in a fresh process whose
``sys.path`` starts with that tree): the whole ``python -m fastnax.cli search`` process (wall), and
inside one process the optimisation of the default search (``timings["search_s"]`` of warm runs)
and of the CIFAR-sized ``imc`` search with the training-free score. Prints medians and the ratios
this tree / the other; the other tree's numbers come from its own code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]

WARM = """
import json, sys
from fastnax import search
from fastnax.datasets import space_options_for
default = {"dataset": "digits", "space_options": space_options_for("digits")}
search.run("imc", **default)
warm = [search.run("imc", **default).timings["search_s"] for _ in range(3)]
cifar = [search.run("imc").timings["search_s"] for _ in range(2)]
r = search.run("imc", **default)
print(json.dumps({"warm": warm, "cifar": cifar, "evaluations": r.n_evaluations,
                  "best_objective": r.best["objective"], "modules": sorted(m for m in ("scipy.stats",
                  "scipy.optimize", "sklearn", "xgboost") if m in sys.modules)}))
"""


def _env(tree: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _process_s(tree: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fastnax.cli", "search"], cwd=tree, env=_env(tree), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def _warm(tree: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", WARM], cwd=tree, env=_env(tree), check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, type=Path, help="the other checkout (a worktree)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": HERE}
    process = {k: [] for k in trees}
    warm = {k: [] for k in trees}
    cifar = {k: [] for k in trees}
    info = {}
    for _ in range(args.repeat):
        for name, tree in trees.items():
            process[name].append(_process_s(tree))
            w = _warm(tree)
            warm[name].extend(w["warm"])
            cifar[name].extend(w["cifar"])
            info[name] = {"evaluations": w["evaluations"], "best_objective": w["best_objective"],
                          "heavy_modules_imported": w["modules"]}
    med = lambda d: {k: float(np.median(v)) for k, v in d.items()}  # noqa: E731
    out = {"benchmark": "search_before_after", "before": str(trees["before"]), "repeat": args.repeat,
           "cores": os.cpu_count(), "load_average": os.getloadavg(),
           "whole_process_s": med(process), "optimisation_s_warm": med(warm),
           "optimisation_s_warm_cifar_imc_training_free": med(cifar), "search": info}
    for key in ("whole_process_s", "optimisation_s_warm", "optimisation_s_warm_cifar_imc_training_free"):
        out[key]["ratio_after_over_before"] = out[key]["after"] / out[key]["before"]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
