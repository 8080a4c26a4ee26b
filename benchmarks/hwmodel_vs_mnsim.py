"""The hardware model against MNSIM 2.0 itself; prints one JSON object.

MNSIM 2.0 (Zhu et al., TCAD 2023; github.com/thu-nics/MNSIM-2.0) is run unmodified on its five
CIFAR-10 networks (LeNet, AlexNet, VGG-8, ResNet-18, VGG-16) x crossbar sizes x its ADC choices:
its hardware model only (mapping, latency, area, power, energy, as its ``main.py`` calls them, no
accuracy simulation, no weights), each configuration a copy of its shipped ``SimConfig.ini`` with
``Xbar_Size``, ``Subarray_Size`` and ``ADC_Choice`` changed, and ``Tile_Num`` doubled from 64x64
for a network (all its configurations) that MNSIM cannot map on the shipped mesh at the smallest
crossbar size (the ``mnsim2`` model is given the same mesh, ``mapping.mesh_tiles``). fastnax prices the same networks, written here as torch modules from
MNSIM's ``network.py`` layer lists and imported with :func:`fastnax.hwmodel.importer.import_torch`
(checked layer by layer against the structure MNSIM reports), with the ``mnsim2`` preset's
constants for the same ADC choice (:func:`fastnax.hwmodel.presets.mnsim2_model`): nothing fitted.

Reported: Kendall tau (tau-b) of energy, latency, area and EDAP across all configurations and
within each network (across its crossbar sizes and ADC choices; and across crossbar sizes at each
ADC choice), the best crossbar size per network and metric (at the shipped ADC choice 6, and at
every choice), the fastnax / MNSIM ratios of the totals, the same for the other presets (whose
ADC is their own: compared at ADC choice 6), and the conventions path's speed.

Usage::

    python benchmarks/hwmodel_vs_mnsim.py --mnsim-root /path/to/MNSIM-2.0 [--mnsim-python PY]
        [--results runs.jsonl] [--sizes 64,128,256,512] [--adc-choices 1,...,9]

``--results`` caches MNSIM's outputs (one JSON line per configuration; configurations already in
the file are not run again). Without a MNSIM source only the cached results are used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (64, 128, 256, 512)
ADC_CHOICES = tuple(range(1, 10))
NETWORKS = ("lenet", "alexnet", "vgg8", "resnet18", "vgg16")
SHIPPED_ADC = 6
METRICS = ("energy", "latency", "area", "edap")
# MNSIM's networks: 9-bit signed weights (8 magnitude bits on a crossbar pair), 9-bit inputs,
# 1 bit per cell (SimConfig Device_Level = 2)
KNOBS = {"w_bits": 8, "in_bits": 9, "cell_bits": 1}

# The MNSIM side, run in MNSIM's own interpreter (it needs pandas) from its repository root.
RUNNER = r'''
import configparser, contextlib, io, json, os, sys, time
root, net, size, adc, tiles, workdir = sys.argv[1:7]
sys.path.insert(0, root); os.chdir(root)
cfg = configparser.ConfigParser(); cfg.optionxform = str
cfg.read(os.path.join(root, "SimConfig.ini"), encoding="UTF-8")
cfg.set("Crossbar level", "Xbar_Size", f"{size},{size}")
cfg.set("Crossbar level", "Subarray_Size", size)
cfg.set("Interface level", "ADC_Choice", adc)
cfg.set("Architecture level", "Tile_Num", tiles)
path = os.path.join(workdir, f"SimConfig_{net}_{size}_{adc}.ini")
with open(path, "w") as f:
    cfg.write(f)
import torch
torch.set_num_threads(1)
from MNSIM.Interface.interface import TrainTestInterface
from MNSIM.Mapping_Model.Tile_connection_graph import TCG
from MNSIM.Latency_Model.Model_latency import Model_latency
from MNSIM.Area_Model.Model_Area import Model_area
from MNSIM.Power_Model.Model_inference_power import Model_inference_power
from MNSIM.Energy_Model.Model_energy import Model_energy
start = time.time()
with contextlib.redirect_stdout(io.StringIO()):
    ti = TrainTestInterface(network_module=net, dataset_module="MNSIM.Interface.cifar10",
                            SimConfig_path=path, weights_file=None, device=None)
    structure = ti.get_structure()
    graph = TCG(structure, path)
    latency = Model_latency(NetStruct=structure, SimConfig_path=path, TCG_mapping=graph)
    latency.calculate_model_latency(mode=1)
    area = Model_area(NetStruct=structure, SimConfig_path=path, TCG_mapping=graph)
    power = Model_inference_power(NetStruct=structure, SimConfig_path=path, TCG_mapping=graph)
    energy = Model_energy(NetStruct=structure, SimConfig_path=path, TCG_mapping=graph,
                          model_latency=latency, model_power=power)
layers = [{k: v for k, v in entry[0][0].items() if isinstance(v, (int, float, str, list))} for entry in structure]
print(json.dumps({"net": net, "size": int(size), "adc": int(adc), "tile_num": tiles,
                  "latency_ns": float(max(max(latency.finish_time))), "area_um2": float(area.arch_total_area),
                  "energy_nJ": float(energy.arch_total_energy), "tiles": int(graph.used_tile_num),
                  "seconds": time.time() - start, "layers": layers}))
'''


def run_mnsim(root: Path, python: str, net: str, size: int, adc: int, mesh: int, workdir: str) -> dict | None:
    """One MNSIM configuration on a ``mesh`` x ``mesh`` tile array; None when it has too few tiles."""
    done = subprocess.run([python, "-c", RUNNER, str(root), net, str(size), str(adc), f"{mesh},{mesh}", workdir],
                          capture_output=True, text=True, timeout=1800, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    if "Tile number is not enough" in done.stderr:
        return None
    raise RuntimeError(f"MNSIM failed on {net} {size} {adc}: {done.stderr.strip().splitlines()[-1:]}")


def mesh_of(result: dict) -> int:
    return int(str(result.get("tile_num", "64,64")).split(",")[0])


def mnsim_results(args) -> dict:
    """MNSIM's results, each network on one tile mesh for all its configurations: the shipped
    64 x 64, doubled while MNSIM cannot map the network at the smallest crossbar size (so that a
    network's crossbar sizes are compared on one chip)."""
    cache: dict = {}
    if args.results and Path(args.results).exists():
        for line in Path(args.results).read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                cache.setdefault((r["net"], r["size"], r["adc"], mesh_of(r)), r)
    root = Path(args.mnsim_root) if args.mnsim_root else None
    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        for net in NETWORKS:
            mesh = max([m for (n, _, _, m) in cache if n == net], default=64)
            configs = [(size, adc) for size in sorted(args.sizes) for adc in args.adc_choices]
            while True:
                refused = False
                for size, adc in configs:
                    if (net, size, adc, mesh) in cache or root is None:
                        continue
                    r = run_mnsim(root, args.mnsim_python, net, size, adc, mesh, workdir)
                    if r is None:
                        refused = True
                        break
                    cache[(net, size, adc, mesh)] = r
                    if args.results:
                        with open(args.results, "a") as f:
                            f.write(json.dumps(r) + "\n")
                if not refused or mesh >= 512:
                    break
                mesh *= 2
            for size, adc in configs:
                if (net, size, adc, mesh) in cache:
                    results[(net, size, adc)] = cache[(net, size, adc, mesh)]
    return results


# --- the five networks, from MNSIM's network.py layer lists -------------------------------------
def networks():
    import torch
    from torch import nn

    def vgg(widths, tail):
        layers, c = [], 3
        for w in widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
                c = w
        return nn.Sequential(*layers, *tail)

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
            # MNSIM's ResNet-18: a 3x3 stride-2 convolution on the shortcut of each down-sampling block
            self.shortcut = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1) if stride != 1 else None

        def forward(self, x):
            y = self.conv2(torch.relu(self.conv1(x)))
            return torch.relu(y + (self.shortcut(x) if self.shortcut is not None else x))

    def resnet18():
        blocks = [Block(64, 64, 1), Block(64, 64, 1), Block(64, 128, 2), Block(128, 128, 1),
                  Block(128, 256, 2), Block(256, 256, 1), Block(256, 512, 2), Block(512, 512, 1)]
        return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2), *blocks,
                             nn.Flatten(), nn.Linear(2048, 512), nn.ReLU(), nn.Linear(512, 10))

    return {
        "lenet": nn.Sequential(nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                               nn.MaxPool2d(2, 2), nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(),
                               nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)),
        "alexnet": nn.Sequential(nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                                 nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                                 nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1),
                                 nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                                 nn.Flatten(), nn.Linear(1024, 512), nn.ReLU(), nn.Linear(512, 10)),
        "vgg8": vgg([128, 128, "M", 256, 256, "M", 512, 512, "M"],
                    [nn.Conv2d(512, 1024, 3), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(1024, 10)]),
        "resnet18": resnet18(),
        "vgg16": vgg([64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
                     [nn.Flatten(), nn.Linear(2048, 10)]),
    }


def weight_shapes_of_mnsim(layers: list) -> list[tuple]:
    """(kind, c_in, c_out, kernel, stride, out_h) of MNSIM's conv/fc layers, in its order."""
    shapes = []
    for layer in layers:
        if layer["type"] == "conv":
            shapes.append(("conv", layer["Inputchannel"], layer["Outputchannel"], layer["Kernelsize"],
                           layer["Stride"], layer["Outputsize"][0]))
        elif layer["type"] == "fc":
            shapes.append(("linear", layer["Infeature"], layer["Outfeature"], 1, 1, 1))
    return shapes


def weight_shapes_of(net) -> list[tuple]:
    return [(l.op, l.c_in, l.c_out, l.kernel[0], l.stride[0], l.out_hw[0]) for l in net.weight_layers]


# --- statistics ---------------------------------------------------------------------------------
def kendall(a, b) -> float:
    from scipy.stats import kendalltau

    if len(a) < 2:
        return float("nan")
    tau = kendalltau(a, b).statistic
    return float(tau) if np.isfinite(tau) else float("nan")


def metric_values(rows, side):
    e = np.array([r[side]["energy"] for r in rows])
    t = np.array([r[side]["latency"] for r in rows])
    a = np.array([r[side]["area"] for r in rows])
    return {"energy": e, "latency": t, "area": a, "edap": e * t * a}


def compare(rows: list[dict], sizes) -> dict:
    """Kendall, best sizes and ratios of fastnax ('model') against MNSIM ('mnsim') over ``rows``."""
    out: dict = {"configurations": len(rows)}
    m, f = metric_values(rows, "mnsim"), metric_values(rows, "model")
    out["kendall_all"] = {k: round(kendall(m[k], f[k]), 4) for k in METRICS}
    within, within_adc = {}, {}
    best = {}
    for net in NETWORKS:
        idx = [i for i, r in enumerate(rows) if r["net"] == net]
        if not idx:
            continue
        within[net] = {k: round(kendall(m[k][idx], f[k][idx]), 4) for k in METRICS}
        per_adc = {}
        for adc in sorted({rows[i]["adc"] for i in idx}):
            jdx = [i for i in idx if rows[i]["adc"] == adc]
            if len(jdx) >= 2:
                per_adc[adc] = {k: kendall(m[k][jdx], f[k][jdx]) for k in METRICS}
            agree = {}
            for k in METRICS:
                if len(jdx) == len(sizes):
                    sm = rows[jdx[int(np.argmin(m[k][jdx]))]]["size"]
                    sf = rows[jdx[int(np.argmin(f[k][jdx]))]]["size"]
                    agree[k] = {"mnsim": sm, "fastnax": sf}
            best.setdefault(net, {})[adc] = agree
        within_adc[net] = {k: round(float(np.mean(finite)), 4) if (finite := [v[k] for v in per_adc.values()
                                                                              if np.isfinite(v[k])]) else None
                           for k in METRICS}
    out["kendall_within_network"] = within
    out["kendall_within_network_and_adc_mean"] = within_adc
    out["kendall_within_network_min"] = {k: min(v[k] for v in within.values()) for k in METRICS} if within else {}
    # best crossbar size agreement at the shipped ADC and at every ADC choice
    shipped = {net: best[net].get(SHIPPED_ADC, {}) for net in best}
    out["best_size_shipped_adc"] = shipped
    out["best_size_agree_shipped_adc"] = {
        "every_metric": sum(all(v["mnsim"] == v["fastnax"] for v in agree.values()) and len(agree) == 4
                            for agree in shipped.values()),
        **{k: sum(agree.get(k, {}).get("mnsim") == agree.get(k, {}).get("fastnax") and k in agree
                  for agree in shipped.values()) for k in METRICS},
        "networks": len(shipped)}
    every = [all(v["mnsim"] == v["fastnax"] for v in agree.values()) and len(agree) == 4
             for net in best for agree in best[net].values()]
    out["best_size_agree_every_metric_all_adc"] = f"{sum(every)}/{len(every)} (network, ADC) pairs"
    ratios = {k: f[k] / m[k] for k in ("energy", "latency", "area")}
    out["ratio_fastnax_over_mnsim"] = {
        k: {"median": round(float(np.median(v)), 4), "min": round(float(v.min()), 4),
            "max": round(float(v.max()), 4)} for k, v in ratios.items()}
    bounds = {"energy": (0.75, 1.33), "area": (0.75, 1.33), "latency": (0.5, 2.0)}
    out["ratio_within_goal"] = {k: f"{int(((v >= bounds[k][0]) & (v <= bounds[k][1])).sum())}/{len(v)}"
                                for k, v in ratios.items()}
    out["ratio_per_network_median"] = {
        net: {k: round(float(np.median(ratios[k][[i for i, r in enumerate(rows) if r["net"] == net]])), 3)
              for k in ratios} for net in NETWORKS if any(r["net"] == net for r in rows)}
    return out


def nax_study() -> dict:
    """benchmarks/hwmodel_anchors.py's per-layer crossbar study (ResNet-20 of the nax space, best
    per-layer mix of crossbar sizes against the best single size, EDAP) under three models: its own
    puma-32nm, puma-32nm with MNSIM's mapping conventions (kernel-aligned rows, one slice per
    crossbar, periphery of the used rows and columns; no tiles), and mnsim2."""
    import importlib.util

    from fastnax import hwmodel

    spec = importlib.util.spec_from_file_location("hwmodel_anchors", Path(__file__).with_name("hwmodel_anchors.py"))
    anchors = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchors)
    puma = hwmodel.get_preset("puma-32nm")
    models = {
        "puma-32nm": puma,
        "puma-32nm+mnsim-conventions": dataclasses.replace(
            puma, name="puma-32nm+mnsim-conventions",
            mapping=hwmodel.MappingSpec(rows="kernel_aligned", slices="per_crossbar", periphery="used")),
        "mnsim2": hwmodel.get_preset("mnsim2"),
    }
    out = {}
    for name, model in models.items():
        anchors.get_preset = lambda _name, model=model: model  # the study, on this model
        nax = anchors.nax_effect()
        out[name] = {"edap_reduction_mixed_vs_best_uniform": round(nax["reduction"], 4),
                     "best_uniform_crossbar": nax["best_uniform_crossbar"], "mixed_crossbars": nax["mixed_crossbars"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnsim-root", default=os.environ.get("MNSIM_ROOT"),
                        help="MNSIM 2.0 source (its repository root); default $MNSIM_ROOT")
    parser.add_argument("--mnsim-python", default=os.environ.get("MNSIM_PYTHON", sys.executable),
                        help="the Python that runs MNSIM (needs torch and pandas)")
    parser.add_argument("--results", default=None, help="JSONL cache of MNSIM's results")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--adc-choices", default=",".join(map(str, ADC_CHOICES)))
    args = parser.parse_args()
    args.sizes = tuple(int(s) for s in args.sizes.split(","))
    args.adc_choices = tuple(int(a) for a in args.adc_choices.split(","))

    from fastnax import hwmodel, spaces
    from fastnax.hwmodel.importer import import_torch
    from fastnax.hwmodel.presets import mnsim2_model

    results = mnsim_results(args)
    if not results:
        print(json.dumps({"error": "no MNSIM results: give --mnsim-root (MNSIM 2.0's source) or --results"}))
        return
    imported = {name: import_torch(module, (3, 32, 32), name=name) for name, module in networks().items()}
    layers_match = {}
    for name, net in imported.items():
        ref = next((r for (n, _, _), r in results.items() if n == name), None)
        layers_match[name] = None if ref is None else weight_shapes_of(net) == weight_shapes_of_mnsim(ref["layers"])
    rows = []
    models = {adc: mnsim2_model(adc) for adc in args.adc_choices}
    for (name, size, adc), r in sorted(results.items()):
        # the same tile mesh as MNSIM's run (the shipped 64 x 64, or the doubled one it needed)
        model = models[adc].with_overrides({"mapping": {"mesh_tiles": mesh_of(r)}, "name": models[adc].name})
        cost = model.evaluate(imported[name].layer_table(size, **KNOBS))
        rows.append({"net": name, "size": size, "adc": adc,
                     "mnsim": {"energy": r["energy_nJ"] * 1e3, "latency": r["latency_ns"], "area": r["area_um2"] * 1e-6},
                     "model": {"energy": float(cost.energy_pj[0]), "latency": float(cost.latency_ns[0]),
                               "area": float(cost.area_mm2[0])}})
    report = {"mnsim_source": args.mnsim_root, "networks": list(NETWORKS), "sizes": list(args.sizes),
              "adc_choices": list(args.adc_choices),
              "mnsim_configurations": len(results),
              "mnsim_missing": [list(k) for k in ((n, s, a) for n in NETWORKS for s in args.sizes
                                                     for a in args.adc_choices) if k not in results],
              "mnsim_seconds_total": round(sum(r.get("seconds", 0.0) for r in results.values()), 1),
              "imported_layers_equal_mnsim_structure": layers_match,
              "mnsim2": compare(rows, args.sizes)}
    # the other presets at MNSIM's shipped ADC (their own ADCs), on the same networks and sizes
    others = {}
    for preset in hwmodel.presets():
        if preset == "mnsim2":
            continue
        model = hwmodel.get_preset(preset)
        sub = []
        for row in rows:
            if row["adc"] != SHIPPED_ADC:
                continue
            knobs = {**KNOBS, "cell_bits": 2} if preset == "puma-32nm" else KNOBS
            cost = model.evaluate(imported[row["net"]].layer_table(row["size"], **knobs))
            sub.append({**row, "model": {"energy": float(cost.energy_pj[0]), "latency": float(cost.latency_ns[0]),
                                         "area": float(cost.area_mm2[0])}})
        c = compare(sub, args.sizes)
        others[preset] = {key: c[key] for key in ("kendall_all", "kendall_within_network_min",
                                                  "best_size_agree_shipped_adc", "ratio_fastnax_over_mnsim")}
    report["other_presets_at_adc6"] = others
    report["nax_per_layer_crossbar_study"] = nax_study()
    # speed: the conventions path against the default fast path, same batch, one run
    space = spaces.get("imc")
    # (mnsim2's pixel pipeline walks every output pixel of every stage: a smaller batch)
    table = space.layer_table(space.sample_vectors(4_000, seed=0))
    timing = {}
    for preset in ("puma-32nm", "mnsim2"):
        model = hwmodel.get_preset(preset)
        model.evaluate(table[:1000])
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            model.evaluate(table)
            best = min(best, time.perf_counter() - start)
        timing[preset] = round(table.n_archs / best)
    report["archs_per_second"] = timing
    report["mnsim2_over_puma_speed"] = round(timing["mnsim2"] / timing["puma-32nm"], 3)
    print(json.dumps(_finite(report), indent=1))


def _finite(value):
    """The report with NaN (a Kendall tau of a constant) as null: strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


if __name__ == "__main__":
    main()
