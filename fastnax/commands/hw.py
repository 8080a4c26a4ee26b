"""``fastnax hw``: price an architecture on crossbar hardware, with a per-layer breakdown."""

from __future__ import annotations

import json

from fastnax.cli import add_common, parse_space_options


def register(sub) -> None:
    p = sub.add_parser("hw", help="price an architecture on IMC crossbar hardware (energy, latency, area, EDAP)")
    p.add_argument("--space", default="imc", help="search space of --baseline (default imc)")
    p.add_argument("--baseline", default=None, help="a named baseline of the space (default resnet20)")
    p.add_argument("--arch", default=None, help="an architecture string (overrides --space/--baseline)")
    p.add_argument("--preset", default="puma-32nm", help="hardware preset (default puma-32nm)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML/JSON hardware model (fields override its 'base' preset)")
    p.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, repeatable (e.g. input_size=8)")
    p.add_argument("--export-neurosim", default=None, metavar="FILE",
                   help="also write the DNN+NeuroSim layer CSV (NetWork.csv format)")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax import Architecture, spaces
    from fastnax.hwmodel import HardwareModel, export_neurosim, get_preset

    model = HardwareModel.from_file(args.config) if args.config else get_preset(args.preset)
    if args.arch:
        arch = Architecture.from_string(args.arch)
    else:
        space = spaces.get(args.space, **parse_space_options(args.space_option))
        arch = space.baseline(args.baseline or "resnet20")
    cost = model.evaluate_archs([arch])
    layers = []
    for j, layer in enumerate(arch.weight_layers):
        layers.append({
            "kind": layer.op, "kernel": layer.kernel, "c_in": layer.c_in, "c_out": layer.c_out,
            "crossbar_size": layer.crossbar_size,
            "crossbars": int(cost.crossbars[0, j]),
            "utilization": round(float(cost.utilization[0, j]), 6),
            "adc_bits": int(cost.adc_bits[0, j]),
            "energy_pj": float(cost.layer_energy_pj[0, j]),
            "latency_ns": float(cost.layer_latency_ns[0, j]),
            "area_mm2": float(cost.layer_area_mm2[0, j]),
            "noise_sigma": round(float(cost.noise_sigma[0, j]), 8),
        })
    result = {"arch": str(arch), "preset": model.name,
              "energy_pj": float(cost.energy_pj[0]), "latency_ns": float(cost.latency_ns[0]),
              "area_mm2": float(cost.area_mm2[0]), "edap": float(cost.edap[0]),
              "tops": float(cost.tops[0]), "tops_per_w": float(cost.tops_per_w[0]),
              "macs": int(cost.macs[0]), "mean_noise_sigma": round(float(cost.mean_noise_sigma[0]), 8),
              "layers": layers}
    if args.export_neurosim:
        result["neurosim_csv"] = str(export_neurosim(arch, args.export_neurosim))
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=False))
        return 0
    print(f"architecture: {result['arch']}")
    print(f"hardware:     {model.name}")
    print(f"energy {result['energy_pj'] / 1e6:.4g} uJ   latency {result['latency_ns'] / 1e3:.4g} us   "
          f"area {result['area_mm2']:.4g} mm2   EDAP {result['edap']:.4g} pJ*ns*mm2")
    print(f"throughput {result['tops']:.4g} TOPS   efficiency {result['tops_per_w']:.4g} TOPS/W   "
          f"mean noise sigma {result['mean_noise_sigma']:.4g}")
    print(f"{'#':>3} {'kind':<6} {'k':>2} {'c_in':>5} {'c_out':>5} {'N':>4} {'xbars':>6} {'util':>5} "
          f"{'adc':>3} {'energy_nJ':>10} {'latency_us':>10} {'area_mm2':>9} {'sigma':>7}")
    for j, row in enumerate(layers):
        print(f"{j:>3} {row['kind']:<6} {row['kernel']:>2} {row['c_in']:>5} {row['c_out']:>5} "
              f"{row['crossbar_size']:>4} {row['crossbars']:>6} {row['utilization']:>5.2f} {row['adc_bits']:>3} "
              f"{row['energy_pj'] / 1e3:>10.4g} {row['latency_ns'] / 1e3:>10.4g} {row['area_mm2']:>9.4g} "
              f"{row['noise_sigma']:>7.4f}")
    if args.export_neurosim:
        print(f"wrote {result['neurosim_csv']}")
    return 0
