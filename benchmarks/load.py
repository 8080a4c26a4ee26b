"""Load: random search at 10^5, 10^6, 10^7 candidates (memory flat in the budget) and the hardware
model on a batch of 10^6 architectures (bounded memory). Prints ONE JSON object.

Each measurement runs in its own Python process, so its peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. ``baseline_rss_mb`` is the peak of a
process that only imported what the measured one imports; times are wall-clock seconds on this
machine (context only; the point is the RSS column staying flat while the budget grows 100x).

Hardware model: ``hw_one_table`` prices 10^6 architectures as ONE LayerTable (the table itself is
(n, layer slots) int64 arrays, ~2.8 GB on imc and ~6.9 GB on nb201; ``evaluate`` adds nothing on top
of it: it works in blocks of 2048 rows); ``hw_chunked`` streams the same 10^6 in tables of 2^16
rows, which is how search prices them: bounded memory, independent of n.

Usage: ``python benchmarks/load.py [--budgets 1e5,1e6,1e7] [--space imc] [--hw-batch 1e6]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SEARCH = """
import json, resource, sys, time, io, contextlib
from fastnax.cli import main
budget, space = int(sys.argv[1]), sys.argv[2]
t0 = time.perf_counter()
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    code = main(["search", "--space", space, "--method", "random", "--budget", str(budget), "--json"])
seconds = time.perf_counter() - t0
result = json.loads(buf.getvalue())
print(json.dumps({"budget": budget, "exit": code, "seconds": round(seconds, 2),
                  "candidates_per_s": round(result["n_evaluations"] / seconds),
                  "n_evaluations": result["n_evaluations"], "front": len(result["front"]),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""

BASELINE = """
import json, resource
import fastnax.cli, fastnax.search, fastnax.graph, fastnax.hwmodel, fastnax.spaces
from fastnax.search import objectives, optimizers, api
print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""

HW = """
import json, resource, sys, time
import numpy as np
from fastnax import hwmodel, spaces
n, space_name = int(sys.argv[1]), sys.argv[2]
rss = lambda: round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
space = spaces.get(space_name)
model = hwmodel.get_preset("puma-32nm")
X = space.sample_vectors(n, seed=0)
t0 = time.perf_counter()
table = space.layer_table(X)
t1 = time.perf_counter()
table_mb = sum(getattr(table, k).nbytes for k in table.PER_LAYER + table.PER_ARCH) / 2**20
before = rss()
cost = model.evaluate(table)
t2 = time.perf_counter()
ok = bool(np.all(np.isfinite(cost.edap)) and np.all(cost.edap > 0))
print(json.dumps({"space": space_name, "n_archs": n, "layer_slots": int(table.kind.shape[1]),
                  "table_mb": round(table_mb, 1), "layer_table_seconds": round(t1 - t0, 2),
                  "evaluate_seconds": round(t2 - t1, 2), "archs_per_s": round(n / (t2 - t1)),
                  "peak_rss_before_evaluate_mb": before, "peak_rss_mb": rss(),
                  "evaluate_extra_mb": round(rss() - before, 1), "all_costs_finite_positive": ok}))
"""


HW_CHUNKED = """
import json, resource, sys, time
import numpy as np
from fastnax import hwmodel, spaces
n, space_name, chunk = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
space = spaces.get(space_name)
model = hwmodel.get_preset("puma-32nm")
rng = np.random.default_rng(0)
t0 = time.perf_counter()
ok, best = True, np.inf
for start in range(0, n, chunk):
    cost = model.evaluate(space.layer_table(space.sample_vectors(min(chunk, n - start), seed=rng)))
    ok &= bool(np.all(np.isfinite(cost.edap)) and np.all(cost.edap > 0))
    best = min(best, float(cost.edap.min()))
seconds = time.perf_counter() - t0
print(json.dumps({"space": space_name, "n_archs": n, "chunk": chunk, "seconds": round(seconds, 2),
                  "archs_per_s": round(n / seconds), "min_edap": best,
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "all_costs_finite_positive": ok}))
"""


def _child(code: str, *args) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="1e5,1e6,1e7")
    parser.add_argument("--space", default="imc")
    parser.add_argument("--hw-batch", default="1e6")
    parser.add_argument("--hw-spaces", default="nb201,imc")
    args = parser.parse_args()
    budgets = [int(float(b)) for b in args.budgets.split(",")]
    out = {"benchmark": "load", "space": args.space, "method": "random",
           "baseline_rss_mb": _child(BASELINE)["peak_rss_mb"], "search": []}
    for budget in budgets:
        out["search"].append(_child(SEARCH, budget, args.space))
    rss = [r.get("peak_rss_mb") for r in out["search"] if "peak_rss_mb" in r]
    if len(rss) >= 2:
        out["search_rss_ratio_largest_to_smallest_budget"] = round(rss[-1] / rss[0], 3)
        out["budget_ratio"] = budgets[-1] / budgets[0]
    n_hw = int(float(args.hw_batch))
    out["hw_one_table"] = [_child(HW, n_hw, name) for name in args.hw_spaces.split(",")]
    out["hw_chunked"] = [_child(HW_CHUNKED, n_hw, name, 65536) for name in args.hw_spaces.split(",")]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
