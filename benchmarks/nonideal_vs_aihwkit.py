"""fastnax's ``pcm-aihwkit`` non-ideality preset against IBM aihwkit's own PCM inference model.

aihwkit is optional and never a dependency of fastnax. Where ``import aihwkit`` fails this prints
one JSON object saying why (``{"skipped": true, ...}``) and exits 0. Where it imports (e.g. the
1.1.0 cp311 wheel in a separate venv: ``python -m venv /tmp/aihwkit_venv`` and
``pip install -c constraints.txt --no-deps aihwkit==1.1.0``; torch from the constraints), a small
CNN is trained plainly on digits (scikit-learn's 8x8 set, the fastnax test split) and priced

- by aihwkit: ``TorchInferenceRPUConfig`` (its pure-PyTorch tiles) with ``PCMLikeNoiseModel``,
  ``GlobalDriftCompensation`` or none, ``mapping.weight_scaling_omega = 1`` (every tile's weights
  mapped to the full conductance range, the convention fastnax's sigma is referred to); every
  other setting its default (7-bit DAC, 9-bit ADC at +-12, output noise 0.06);
- by fastnax: (1) ``cells``: every weight simulated cell by cell by
  :meth:`fastnax.hwmodel.NonIdeality.sample_cells` (a pair per weight, the unused device at 0) plus
  aihwkit's output noise on each output (inputs normalised by their max, as aihwkit's ABS_MAX
  noise management); (2) ``analytic``: Gaussian weight noise of fastnax's analytical sigma per
  layer (the trainer's convention ``w + sigma max|w| eps``), the output noise referred to a weight;

at 1 s, 1 h, 1 day and 30 days, with and without global drift compensation, over ``--chips``
noise draws each. It reports the accuracies side by side, the weight-error sigma aihwkit's
model actually produces on the trained weights next to fastnax's analytical one, the largest
accuracy gap and Kendall's tau between fastnax and aihwkit over the cells. One network and one
hardware setting only: the full grid of issue 18 (digits and MNIST, plain and noise-aware,
>= 3 crossbar / bit-width settings) is not run here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import time

TIMES = (1.0, 3600.0, 86400.0, 30 * 86400.0)


def _skip(reason: str) -> int:
    print(json.dumps({"benchmark": "nonideal_vs_aihwkit", "skipped": True, "reason": reason}))
    return 0


def _kendall(a, b) -> float:
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (1 if (a[i] - a[j]) * (b[i] - b[j]) > 0 else -1 if (a[i] - a[j]) * (b[i] - b[j]) < 0 else 0)
    return s / (n * (n - 1) / 2)


def _net(torch):
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def _accuracy(torch, model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean()) * 100.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chips", type=int, default=5, help="noise draws per cell")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    try:
        import aihwkit
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
        from aihwkit.nn.conversion import convert_to_analog
        from aihwkit.simulator.configs import TorchInferenceRPUConfig
    except Exception as exc:  # ImportError, or a broken build's own error
        return _skip(f"aihwkit does not import here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                     "it is optional: install it in a separate venv to run this comparison")
    import numpy as np
    import torch

    from fastnax import datasets, hwmodel

    t_start = time.perf_counter()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = datasets.load("digits")
    xtr, ytr = torch.tensor(data.x_train), torch.tensor(data.y_train)
    xte, yte = torch.tensor(data.x_test), torch.tensor(data.y_test)
    net = _net(torch)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs):
        order = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
    net.eval()
    clean = _accuracy(torch, net, xte, yte)
    t_train = time.perf_counter() - t_start

    pcm = hwmodel.get_nonideality("pcm-aihwkit")
    layers = [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    fan_in = [int(np.prod(m.weight.shape[1:])) for m in layers]
    rows = []
    fx_cells, fx_an, aih = [], [], []
    rng = np.random.default_rng(args.seed)
    for comp in ("global", "none"):
        rpu = TorchInferenceRPUConfig()
        rpu.noise_model = PCMLikeNoiseModel()
        rpu.drift_compensation = GlobalDriftCompensation() if comp == "global" else None
        rpu.mapping.weight_scaling_omega = 1.0
        analog = convert_to_analog(net, rpu)
        analog.eval()
        for t in TIMES:
            ni = dataclasses.replace(pcm, drift_compensation=comp).at_time(t)
            accs, sig_meas = [], []
            for chip in range(args.chips):
                torch.manual_seed(1000 * chip + int(t) % 997 + (0 if comp == "global" else 7))
                analog.program_analog_weights()
                analog.drift_analog_weights(t)
                accs.append(_accuracy(torch, analog, xte, yte))
                for tile in analog.analog_tiles():
                    ref = tile.reference_combined_weights
                    w = torch.as_tensor(tile.tile.get_weights()) * tile.alpha
                    sig_meas.append(float(((w - ref).pow(2).mean().sqrt() / ref.abs().max())))
            cells_acc = [_cells_accuracy(torch, net, layers, ni, rng, xte, yte) for _ in range(args.chips)]
            an_sigma = [math.sqrt(ni.cell_sigma() ** 2 + ni.output_noise ** 2 / r) for r in fan_in]
            an_acc = [_gauss_accuracy(torch, net, layers, an_sigma, rng, xte, yte) for _ in range(args.chips)]
            # fastnax's level law on the trained weights' own levels (instead of uniform levels)
            level_sigma = [math.sqrt(float(np.mean(ni.level_error_ms(
                (m.weight.detach().abs() / m.weight.detach().abs().max()).numpy().ravel())))
                + ni.zero_device_ms()) for m in layers]
            row = {"t_inference_s": t, "drift_compensation": comp,
                   "aihwkit_acc": _ms(accs), "fastnax_cells_acc": _ms(cells_acc),
                   "fastnax_analytic_acc": _ms(an_acc),
                   "aihwkit_weight_sigma": round(float(np.mean(sig_meas)), 5),
                   "fastnax_cell_sigma_uniform_levels": round(ni.cell_sigma(), 5),
                   "fastnax_cell_sigma_trained_levels": [round(s, 5) for s in level_sigma]}
            rows.append(row)
            aih.append(float(np.mean(accs)))
            fx_cells.append(float(np.mean(cells_acc)))
            fx_an.append(float(np.mean(an_acc)))
    result = {
        "benchmark": "nonideal_vs_aihwkit", "skipped": False, "aihwkit": aihwkit.__version__,
        "torch": torch.__version__, "python": platform.python_version(),
        "network": "conv16-conv32s2-fc10 (plain, digits test split)", "chips": args.chips,
        "clean_acc": round(clean, 2), "train_s": round(t_train, 1), "rows": rows,
        "max_gap_cells_points": round(max(abs(a - b) for a, b in zip(aih, fx_cells)), 2),
        "max_gap_analytic_points": round(max(abs(a - b) for a, b in zip(aih, fx_an)), 2),
        "kendall_cells": round(_kendall(aih, fx_cells), 3),
        "kendall_analytic": round(_kendall(aih, fx_an), 3),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result))
    return 0


def _ms(values):
    import numpy as np

    return [round(float(np.mean(values)), 2), round(float(np.std(values)), 2)]


def _perturbed(torch, net, layers, new_weights, hooks_noise=None):
    import copy

    model = copy.deepcopy(net)
    mods = [m for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    for m, w in zip(mods, new_weights):
        m.weight.data = torch.as_tensor(w, dtype=m.weight.dtype).reshape(m.weight.shape)
    if hooks_noise is not None:
        for m, orig in zip(mods, layers):
            scale = float(orig.weight.detach().abs().max())

            def hook(module, inputs, output, scale=scale):
                x = inputs[0]
                xmax = x.abs().flatten(1).max(1).values.clamp(min=1e-12)
                shape = (-1,) + (1,) * (output.dim() - 1)
                return output + hooks_noise * scale * xmax.reshape(shape) * torch.randn_like(output)

            m.register_forward_hook(hook)
    return model


def _cells_accuracy(torch, net, layers, ni, rng, x, y) -> float:
    import numpy as np

    weights = []
    for m in layers:
        w = m.weight.detach().numpy().astype(np.float64).ravel()
        wmax = float(np.abs(w).max())
        level = np.abs(w) / wmax
        # a pair per weight: the active device at |w|, the other at 0; one array, one compensation
        both = ni.sample_cells(np.concatenate([level, np.zeros_like(level)]), rng)
        active, zero = both[:len(w)], both[len(w):]
        weights.append(np.sign(w) * (active - zero) * wmax)
    return _accuracy(torch, _perturbed(torch, net, layers, weights, hooks_noise=ni.output_noise), x, y)


def _gauss_accuracy(torch, net, layers, sigmas, rng, x, y) -> float:
    import numpy as np

    weights = []
    for m, s in zip(layers, sigmas):
        w = m.weight.detach().numpy().astype(np.float64)
        weights.append(w + s * np.abs(w).max() * rng.standard_normal(w.shape))
    return _accuracy(torch, _perturbed(torch, net, layers, weights), x, y)


if __name__ == "__main__":
    raise SystemExit(main())
