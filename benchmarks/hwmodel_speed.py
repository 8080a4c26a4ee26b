"""Speed of the vectorized hardware model against a per-architecture Python loop; one JSON object.

Batch: random ResNet-20-sized architectures (the ``nax`` space: ResNet-20 skeleton, per-layer
kernel and crossbar size, blocks dropped at random), their LayerTable built beforehand (its time is
reported as context). The loop prices each architecture layer by layer in plain Python with the
same formulas (a straightforward implementation); it runs on a subset and its per-architecture
time is extrapolated. Both run side by side in this process.

``evaluate`` returns five totals per architecture: energy, latency, area, MACs and the
MAC-weighted mean noise sigma (the non-idealities' effective weight noise, which the noisy-accuracy
objective reads). The headline loop (``loop_cost``) computes the same five; the loop of energy,
latency and area alone (``loop_cost_3``, what this benchmark timed until 2026-11-21) is reported
beside it.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np

from fastnax import spaces
from fastnax.hwmodel import get_preset

N_BATCH = int(os.environ.get("FASTNAX_BENCH_N", 200_000))
N_LOOP = 2_000
REPEATS = 3


def loop_cost(model, arch, with_noise: bool = True) -> tuple:
    """The totals of one architecture, layer by layer in plain Python: (energy_pj, latency_ns,
    area_mm2, macs, mean_noise_sigma), or the first three with ``with_noise=False``."""
    xb, adc, dac, per, buf, sch = (model.crossbar, model.adc, model.dac, model.periphery, model.buffer,
                                   model.schedule)
    from fastnax.arch import activation_traffic, hardware_knobs

    knobs = hardware_knobs(arch)
    w_bits, in_bits, cell_bits, rule = knobs["w_bits"], knobs["in_bits"], knobs["cell_bits"], knobs["adc_rule"]
    cells_per_slice = 2 if xb.differential else 1
    if with_noise:
        ni = model.nonideality
        cell_sigma = ni.cell_sigma()
        r = 2 ** cell_bits
        slices = math.ceil(w_bits / cell_bits)
        slice_factor = math.sqrt((r ** (2 * slices) - 1) / (r * r - 1)) / ((r ** slices - 1) / (r - 1))
        per_weight = 2 * cell_sigma * slice_factor * math.sqrt(cells_per_slice)
    energy = latency = area = macs = sigma_macs = 0.0
    for layer in arch.weight_layers:
        n = layer.crossbar_size
        rows = layer.kernel * layer.kernel * layer.c_in
        cols = layer.c_out * math.ceil(w_bits / cell_bits) * cells_per_slice
        crossbars = math.ceil(rows / n) * math.ceil(cols / n)
        rows_active = n if xb.rows_parallel <= 0 else min(n, xb.rows_parallel)
        groups = math.ceil(n / rows_active)
        products = rows_active * (2 ** cell_bits - 1) * (2 ** dac.bits - 1)
        lossless = math.ceil(math.log2(products + 1))
        preset = adc.bits if adc.rule == "fixed" else max(math.ceil(math.log2(max(products, 1))), 1)
        bits = (preset, lossless, max(lossless - 2, 1))[rule]
        units = bits if adc.scaling == "linear" else 2 ** bits - 1
        cycles = math.ceil(in_bits / dac.bits)
        pixels = layer.out_hw[0] * layer.out_hw[1]
        e_mvm = (xb.energy_pj_at_128 * (n / 128) ** xb.energy_exponent
                 + groups * n * (xb.bitline_energy_pj_at_128 * n / 128 + adc.energy_pj_per_unit * units
                                 + per.shift_add_energy_pj) + n * dac.energy_pj)
        act_bits = (layer.in_hw[0] * layer.in_hw[1] * layer.c_in + pixels * layer.c_out) * in_bits
        energy += pixels * cycles * crossbars * e_mvm + act_bits * buf.energy_pj_per_bit
        t_step = groups * adc.columns_per_adc * adc.latency_ns_per_unit * units + xb.read_latency_ns
        latency += (pixels * t_step * (cycles + sch.pipeline_fill_steps) / sch.replication
                    + act_bits / buf.bandwidth_bits_per_ns)
        area += crossbars * (xb.area_um2_at_128 * 1e-6 * (n / 128) ** xb.area_exponent
                             + math.ceil(n / adc.columns_per_adc) * adc.area_mm2_per_unit * units
                             + n * dac.area_mm2 + 2 * n * per.line_area_um2 * 1e-6
                             + per.shift_add_area_mm2) * (1 + per.tile_overhead)
        if with_noise:
            layer_macs = rows * layer.c_out * pixels
            ir = ni.ir_drop_at_128 * (n / 128) * (rows_active / 128)
            # the ADC's quantization noise unless it resolves the full partial sum
            adc_noise = math.sqrt(rows_active) / (math.sqrt(12) * 2 ** bits) if bits < lossless else 0.0
            macs += layer_macs
            sigma_macs += layer_macs * math.sqrt(per_weight ** 2 + ir ** 2 + adc_noise ** 2)
    traffic = activation_traffic(arch.layers) * in_bits
    totals = (energy + traffic * buf.energy_pj_per_bit, latency + traffic / buf.bandwidth_bits_per_ns, area)
    if not with_noise:
        return totals
    return totals + (macs, sigma_macs / max(macs, 1.0))


def main() -> dict:
    space = spaces.get("nax")
    model = get_preset("puma-32nm")
    X = space.sample_vectors(N_BATCH, seed=0)
    t0 = time.perf_counter()
    table = space.layer_table(X).compact()
    table_s = time.perf_counter() - t0

    model.evaluate(table[:1000])  # warm-up
    best = math.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        cost = model.evaluate(table)
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    cost.noise_sigma  # per-layer breakdown, computed on first access
    per_layer_s = time.perf_counter() - t0

    archs = space.decode(X[:N_LOOP])
    for a in archs:
        a.layers  # build the DAGs before timing: the loop times pricing only
    t0 = time.perf_counter()
    loop = [loop_cost(model, a) for a in archs]
    loop_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop3 = [loop_cost(model, a, with_noise=False) for a in archs]
    loop3_s = time.perf_counter() - t0
    loop = np.asarray(loop)
    vec = np.stack([cost.energy_pj[:N_LOOP], cost.latency_ns[:N_LOOP], cost.area_mm2[:N_LOOP],
                    cost.macs[:N_LOOP], cost.mean_noise_sigma[:N_LOOP]], axis=1)
    max_rel = float(np.max(np.abs(loop - vec) / vec))
    max_rel3 = float(np.max(np.abs(np.asarray(loop3) - vec[:, :3]) / vec[:, :3]))

    t0 = time.perf_counter()
    for a in archs[:200]:
        model.evaluate(space.layer_table([a]))
    one_by_one_s = (time.perf_counter() - t0) / 200

    rate = N_BATCH / best
    loop_rate = N_LOOP / loop_s
    loop3_rate = N_LOOP / loop3_s
    return {
        "batch": N_BATCH, "space": "nax (ResNet-20 skeleton)", "slots": table.n_slots,
        "mean_weight_layers": round(float(table.mask.sum(axis=1).mean()), 2),
        "evaluate_seconds": round(best, 4),
        "evaluations_per_second": round(rate),
        "per_layer_breakdown_seconds": round(per_layer_s, 4),
        "evaluations_per_second_with_per_layer_arrays": round(N_BATCH / (best + per_layer_s)),
        "table_build_seconds": round(table_s, 4),
        "python_loop_archs": N_LOOP,
        "python_loop_outputs": "energy, latency, area, MACs, mean noise sigma (the same as evaluate)",
        "python_loop_per_arch_us": round(loop_s / N_LOOP * 1e6, 2),
        "python_loop_evaluations_per_second": round(loop_rate),
        "speedup_vs_python_loop": round(rate / loop_rate, 1),
        "python_loop_energy_latency_area_only_per_arch_us": round(loop3_s / N_LOOP * 1e6, 2),
        "speedup_vs_python_loop_energy_latency_area_only": round(rate / loop3_rate, 1),
        "one_by_one_evaluate_per_arch_us": round(one_by_one_s * 1e6, 1),
        "loop_vs_vectorized_max_rel_diff": max_rel,
        "loop_energy_latency_area_only_vs_vectorized_max_rel_diff": max_rel3,
        "meets_1M_per_s": bool(rate >= 1e6), "meets_100x": bool(rate / loop_rate >= 100),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
