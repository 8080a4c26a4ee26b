"""Writes notebooks/walkthrough.ipynb from the cells below (keeps the notebook reviewable as code).

    python notebooks/make_walkthrough.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell("""# fastnax walkthrough

Co-design a CNN and its in-memory-computing crossbar hardware in seconds, on a CPU:
search, inspect the Pareto front, price a design layer by layer, refit the accuracy predictor with
new records, and compare hardware targets. Runs top to bottom on a laptop CPU in about a minute."""),
    new_code_cell("""import json
import tempfile
from pathlib import Path

import numpy as np

from fastnax import search, spaces, hwmodel, graph, ranking
from fastnax.datasets import space_options_for

workdir = Path(tempfile.mkdtemp(prefix="fastnax-walkthrough-"))
space = spaces.get("imc", **space_options_for("digits"))  # the imc space sized for 8x8 digits
print(space, "baselines:", space.baselines())"""),
    new_markdown_cell("""## 1. Search the co-design space

`search.run` prices every candidate with the analytical hardware model and predicts its accuracy
with the packaged predictor (fitted on digits records that fastnax trained itself; the result says
which accuracy model it used)."""),
    new_code_cell("""result = search.run(space, objective="acc-edap", dataset="digits", seed=0)
print(result.accuracy_model)
print(f"{result.n_evaluations} candidates priced in {result.timings['search_s']:.2f} s; "
      f"front of {len(result.front)} designs")
print(result.table())"""),
    new_markdown_cell("## 2. Inspect the front"),
    new_code_cell("""for point in result.front[:: max(1, len(result.front) // 6)]:
    print(f"{point['accuracy']:6.2f}%  EDAP {point['edap']:.3e}  {point['arch'][:90]}")
best = result.best
print("best:", best["arch"])
png = result.plot(workdir / "front.png")
print("front plot:", png)"""),
    new_code_cell("""from IPython.display import Image
Image(filename=str(workdir / "front.png"))"""),
    new_markdown_cell("""## 3. Price a design layer by layer

Each weight layer is mapped to crossbars of its own size; an under-used crossbar still pays its
full periphery, which is why the crossbar size is a per-layer decision."""),
    new_code_cell("""from fastnax import Architecture

model = hwmodel.get_preset("puma-32nm")
arch = Architecture.from_string(best["arch"])
cost = model.evaluate_archs([arch])
print(f"energy {cost.energy_pj[0] / 1e6:.3f} uJ, latency {cost.latency_ns[0] / 1e3:.1f} us, "
      f"area {cost.area_mm2[0]:.3f} mm2, EDAP {cost.edap[0]:.3e}")
mask = cost.crossbars[0] > 0
for i, layer in enumerate(arch.weight_layers):
    print(f"{layer.op:6s} k{layer.kernel} {layer.c_in:4d}->{layer.c_out:4d}  N={layer.crossbar_size:3d} "
          f"crossbars {int(cost.crossbars[0][mask][i]):3d}  utilization {cost.utilization[0][mask][i]:.2f}  "
          f"energy {cost.layer_energy_pj[0][mask][i] / 1e3:9.1f} nJ  sigma {cost.noise_sigma[0][mask][i]:.3f}")"""),
    new_code_cell("""# The same network with every layer on 128x128 crossbars, and on a NeuroSim-like RRAM chip
for size in (32, 128):
    table = space.layer_table([arch])
    table.crossbar_size = np.where(table.mask, size, 0)
    print(f"all layers at N={size}: EDAP {model.evaluate(table).edap[0]:.3e}")
print("neurosim-22nm-rram:", f"{hwmodel.get_preset('neurosim-22nm-rram').evaluate_archs([arch]).edap[0]:.3e}")"""),
    new_markdown_cell("""## 4. Refit the predictor with new records

Records are plain JSON Lines, one trained sample per line. Here we train six new candidates for one
epoch (seconds on a CPU), add them to the packaged records and refit."""),
    new_code_cell("""from fastnax.datasets.records import read_records
from fastnax.pipeline import packaged_records
from fastnax.predictors import XGBPredictor
from fastnax.train.sample import run_sampling

new = run_sampling(space, "digits", n=6, epochs=1, out_path=workdir / "new.jsonl", seed=123,
                   max_macs="auto", noise_trials=1)
print(f"{len(new)} new records, e.g. {new[0].accuracy_clean:.1f}% clean, {new[0].accuracy_noisy:.1f}% noisy")
old = packaged_records(space, "digits")
predictor = XGBPredictor(random_state=0).fit_records(old + new, target="accuracy_noisy")
print("cross-validated:", {k: round(v, 3) for k, v in predictor.cv_metrics_.items() if isinstance(v, float)})
predictor.save(workdir / "predictor.json")
refit = search.run(space, predictor=workdir / "predictor.json", dataset="digits", seed=0)
print("best with the refitted predictor:", refit.best["arch"], f"{refit.best['accuracy']:.2f}%")"""),
    new_markdown_cell("""## 5. Hardware-ranking study

Do different hardware targets rank the same architectures alike? Here: 500 NAS-Bench-201 networks
priced by the three presets (and crossbar sizes); `fastnax rank --csv nb201_latency.csv` does the
same on measured latencies of real devices."""),
    new_code_cell("""nb = spaces.get("nb201")
X = nb.sample_vectors(500, seed=0)
costs, targets = ranking.preset_costs(nb, X, ["puma-32nm", "neurosim-22nm-rram", "neurosim-22nm-sram"],
                                      metric="latency_ns", crossbar_sizes=[32, 128])
study = ranking.study(costs, targets)
print(json.dumps(study.monotonicity(), indent=1)[:800])
study.plot(workdir / "ranking.png")
Image(filename=str(workdir / "ranking.png"))"""),
]

nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                        "language": "python"}})
path = Path(__file__).with_name("walkthrough.ipynb")
nbformat.write(nb, path)
print("wrote", path)
