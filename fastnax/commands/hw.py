"""``fastnax hw``: price an architecture on crossbar hardware, with a per-layer breakdown."""

from __future__ import annotations

from pathlib import Path

from fastnax.commands.options import add_common, parse_space_options
from fastnax.io import dumps_json  # strict JSON: NaN and infinity as null


def register(sub) -> None:
    p = sub.add_parser("hw", help="price an architecture on IMC crossbar hardware (energy, latency, area, EDAP)")
    p.add_argument("--space", default="imc", help="search space of --baseline (default imc)")
    p.add_argument("--baseline", default=None, help="a named baseline of the space (default resnet20)")
    p.add_argument("--arch", default=None, help="an architecture string (overrides --space/--baseline)")
    p.add_argument("--preset", default="puma-32nm", help="hardware preset (default puma-32nm)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="a TOML/JSON hardware model (fields override its 'base' preset)")
    p.add_argument("--nonideality", default=None, metavar="NAME|FILE",
                   help="non-ideality preset (rram-wan2022-1d, pcm-aihwkit, rram-fastnax-default, none, "
                        "...) or a TOML/JSON file over a 'base' one (default: the hardware model's own; "
                        "the RRAM presets': rram-wan2022-1d)")
    p.add_argument("--space-option", action="append", default=[], metavar="KEY=VALUE",
                   help="space option, repeatable (e.g. input_size=8)")
    p.add_argument("--export-neurosim", default=None, metavar="FILE",
                   help="also write the DNN+NeuroSim layer CSV (NetWork.csv format)")
    m = p.add_argument_group("any network (instead of --arch/--baseline)")
    m.add_argument("--model", default=None, metavar="FILE.py:FACTORY|FILE.onnx",
                   help="a PyTorch network (FACTORY() returns the module; the file is executed) or an ONNX file")
    m.add_argument("--input-shape", default=None, metavar="C,H,W", help="input image shape of --model")
    m.add_argument("--crossbar-size", default=None, type=str, metavar="N",
                   help="crossbar size of every weight layer of --model (default 128)")
    m.add_argument("--crossbar-sizes", default=None, metavar="LIST",
                   help="price --model at each of these crossbar sizes (comma-separated)")
    m.add_argument("--w-bits", default="8", metavar="B", help="weight bits of --model (default 8)")
    m.add_argument("--in-bits", default="8", metavar="B", help="input (activation) bits of --model (default 8)")
    m.add_argument("--cell-bits", default="2", metavar="B", help="bits per cell for --model (default 2)")
    m.add_argument("--adc-rule", default="preset", help="ADC rule for --model: preset, lossless or reduced")
    add_common(p, seed=False)
    p.set_defaults(run=run)


def run(args) -> int:
    from fastnax import Architecture, spaces
    from fastnax.hwmodel import HardwareModel, export_neurosim, get_preset

    model = HardwareModel.from_file(args.config) if args.config else get_preset(args.preset)
    if args.nonideality is not None:
        from fastnax.hwmodel import with_nonideality

        model = with_nonideality(model, args.nonideality)
    if args.model is not None:
        return _run_model(args, model)
    if args.crossbar_size is not None or args.crossbar_sizes is not None or args.input_shape is not None:
        from fastnax.errors import FastnaxError

        raise FastnaxError("--crossbar-size(s) and --input-shape apply to --model; an architecture "
                           "carries its own crossbar sizes")
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
    result = {"arch": str(arch), "preset": model.name, "nonideality": model.nonideality.name,
              "energy_pj": float(cost.energy_pj[0]), "latency_ns": float(cost.latency_ns[0]),
              "area_mm2": float(cost.area_mm2[0]), "edap": float(cost.edap[0]),
              "tops": float(cost.tops[0]), "tops_per_w": float(cost.tops_per_w[0]),
              "macs": int(cost.macs[0]), "mean_noise_sigma": round(float(cost.mean_noise_sigma[0]), 8),
              "layers": layers, "hardware": model.to_dict()}
    if args.export_neurosim:
        result["neurosim_csv"] = str(export_neurosim(arch, args.export_neurosim))
    if args.json:
        print(dumps_json(result, indent=2, sort_keys=False))
        return 0
    print(f"architecture: {result['arch']}")
    print(f"hardware:     {model.name}")
    print(f"nonideality:  {model.nonideality.name}")
    print(f"energy {result['energy_pj'] / 1e6:.4g} uJ   latency {result['latency_ns'] / 1e3:.4g} us   "
          f"area {result['area_mm2']:.4g} mm2   EDAP {result['edap']:.4g} pJ*ns*mm2")
    print(f"throughput {result['tops']:.4g} TOPS   efficiency {result['tops_per_w']:.4g} TOPS/W   "
          f"mean noise sigma {result['mean_noise_sigma']:.4g}")
    if _pipelined(model):
        print(PIPELINE_NOTE)
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


PIPELINE_NOTE = ("note: the layers run as a pipeline: a layer's latency_us is its own busy time, and the "
                 "total is the pipeline's, not their sum")


def _pipelined(model) -> bool:
    """The model overlaps its layers in time (the totals' latency is not the layers' sum)."""
    return bool(model.schedule.layer_pipelined or model.mapping.pipeline == "pixel")


def _ints(text: str, option: str, count: int | None = None) -> list[int]:
    from fastnax.errors import FastnaxError

    try:
        values = [int(v) for v in str(text).split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1 or (count is not None and len(values) != count):
        what = f"{count} positive integers" if count else "positive integers"
        raise FastnaxError(f"{option} must be {what} separated by commas, got {text!r}")
    return values


def _run_model(args, model) -> int:
    """``fastnax hw --model``: an imported network at one or more crossbar sizes."""
    from fastnax.errors import FastnaxError
    from fastnax.hwmodel.importer import load_network

    if args.arch or args.baseline:
        raise FastnaxError("--model and --arch/--baseline are exclusive: give one network")
    if args.crossbar_size is not None and args.crossbar_sizes is not None:
        raise FastnaxError("give --crossbar-size or --crossbar-sizes, not both")
    shape = _ints(args.input_shape, "--input-shape", 3) if args.input_shape is not None else None
    if args.crossbar_sizes is not None:
        sizes = _ints(args.crossbar_sizes, "--crossbar-sizes")
    else:
        sizes = _ints(args.crossbar_size or "128", "--crossbar-size", 1)
    bits = {name: _ints(getattr(args, name), f"--{name.replace('_', '-')}", 1)[0]
            for name in ("w_bits", "in_bits", "cell_bits")}
    net = load_network(args.model, shape)
    slot_layer = net.slot_layers()
    results = []
    for size in sizes:
        table = net.layer_table(size, adc_rule=args.adc_rule, **bits)
        cost = model.evaluate(table)
        layers = []
        for j, layer in enumerate(net.weight_layers):
            cols = slot_layer == j  # a grouped convolution's slots, summed
            crossbars = cost.crossbars[0, cols]
            layers.append({
                "kind": layer.op, "path": layer.path, "kernel": layer.kernel[0], "stride": layer.stride[0],
                "groups": layer.groups, "c_in": layer.c_in, "c_out": layer.c_out,
                "in_hw": list(layer.in_hw), "out_hw": list(layer.out_hw), "crossbar_size": size,
                "crossbars": int(crossbars.sum()),
                "utilization": round(float((cost.utilization[0, cols] * crossbars).sum()
                                           / max(crossbars.sum(), 1)), 6),
                "adc_bits": int(cost.adc_bits[0, cols].max()),
                "energy_pj": float(cost.layer_energy_pj[0, cols].sum()),
                "latency_ns": float(cost.layer_latency_ns[0, cols].sum()),
                "area_mm2": float(cost.layer_area_mm2[0, cols].sum()),
                "noise_sigma": round(float(cost.noise_sigma[0, cols].mean()), 8),
            })
        results.append({"crossbar_size": size, "energy_pj": float(cost.energy_pj[0]),
                        "latency_ns": float(cost.latency_ns[0]), "area_mm2": float(cost.area_mm2[0]),
                        "edap": float(cost.edap[0]), "tops": float(cost.tops[0]),
                        "tops_per_w": float(cost.tops_per_w[0]), "macs": int(cost.macs[0]),
                        "mean_noise_sigma": round(float(cost.mean_noise_sigma[0]), 8), "layers": layers})
    result = {"model": net.name, "input_shape": list(net.input_shape), "preset": model.name,
              "nonideality": model.nonideality.name,
              "params": net.params, "macs": net.macs, "act_elems": net.act_elems, **bits,
              "adc_rule": args.adc_rule, "results": results, "hardware": model.to_dict()}
    if args.export_neurosim:
        from fastnax.io import atomic_write_text

        text = "".join(",".join(str(v) for v in row) + "\n" for row in net.neurosim_rows())
        result["neurosim_csv"] = str(atomic_write_text(Path(args.export_neurosim), text))
    if args.json:
        print(dumps_json(result, indent=2, sort_keys=False))
        return 0
    print(f"model:        {net.name} (input {'x'.join(map(str, net.input_shape))}, {net.macs} MACs, "
          f"{len(net.weight_layers)} weight layers)")
    print(f"hardware:     {model.name}")
    if _pipelined(model):
        print(PIPELINE_NOTE)
    for res in results:
        print(f"\ncrossbar {res['crossbar_size']}: energy {res['energy_pj'] / 1e6:.4g} uJ   latency "
              f"{res['latency_ns'] / 1e3:.4g} us   area {res['area_mm2']:.4g} mm2   EDAP {res['edap']:.4g} pJ*ns*mm2   "
              f"{res['tops_per_w']:.4g} TOPS/W")
        print(f"{'#':>3} {'kind':<6} {'k':>2} {'s':>1} {'g':>3} {'c_in':>5} {'c_out':>5} {'xbars':>6} {'util':>5} "
              f"{'adc':>3} {'energy_nJ':>10} {'latency_us':>10} {'area_mm2':>9}  path")
        for j, row in enumerate(res["layers"]):
            print(f"{j:>3} {row['kind']:<6} {row['kernel']:>2} {row['stride']:>1} {row['groups']:>3} {row['c_in']:>5} "
                  f"{row['c_out']:>5} {row['crossbars']:>6} {row['utilization']:>5.2f} {row['adc_bits']:>3} "
                  f"{row['energy_pj'] / 1e3:>10.4g} {row['latency_ns'] / 1e3:>10.4g} {row['area_mm2']:>9.4g}  "
                  f"{row['path']}")
    if args.export_neurosim:
        print(f"wrote {result['neurosim_csv']}")
    return 0
