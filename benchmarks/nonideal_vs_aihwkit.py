"""fastnax's ``pcm-aihwkit`` (and ``rram-wan2022``) non-ideality presets against IBM aihwkit's own
PCM (and ReRAM) inference models.

aihwkit is optional and never a dependency of fastnax. Where ``import aihwkit`` fails this prints
one JSON object saying why (``{"skipped": true, ...}``) and exits 0. Where it imports (e.g. the
1.1.0 cp311 wheel in a separate venv: ``python -m venv /tmp/aihwkit_venv`` and
``pip install -c constraints.txt --no-deps aihwkit==1.1.0``; torch from the constraints), the
same trained networks are priced by aihwkit and by fastnax and one JSON object is printed.

aihwkit's side, always: ``TorchInferenceRPUConfig`` (its pure-PyTorch tiles) with
``PCMLikeNoiseModel``, ``mapping.weight_scaling_omega = 1`` (every tile's weights mapped to the
full conductance range, the convention fastnax's sigma is referred to), every other setting its
default unless said below (7-bit DAC over +-1, 9-bit ADC over +-12, output noise 0.06, ABS_MAX
noise management, iterative bound management); programmed and drifted to ``t`` afresh for every
chip (``program_analog_weights`` then ``drift_analog_weights(t)``). aihwkit draws from torch's
global generator, so ``torch.manual_seed`` (a seed derived from the cell and the chip) is set
before each of its chips; nothing else here uses a global generator.

Default mode (no ``--grid``): one small plain CNN on digits (scikit-learn's 8x8 set, the fastnax
test split), priced at 1 s, 1 h, 1 day and 30 days, with global drift compensation and without,
over ``--chips`` draws each:

- by aihwkit as above (``GlobalDriftCompensation`` or none);
- by fastnax: (1) ``cells``: every weight simulated cell by cell by
  :meth:`fastnax.hwmodel.NonIdeality.sample_cells` (a pair per weight, the unused device at 0) plus
  aihwkit's output noise on each output (referred to the input's max per sample; no DAC/ADC),
  weights and output noise both multiplied by fastnax's compensation factor (aihwkit's order);
  (2) ``analytic``: Gaussian weight noise of fastnax's analytical sigma per layer (the trainer's
  convention ``w + sigma max|w| eps``), the output noise referred to a weight and grown by the
  compensation factor (``NonIdeality.output_noise_referred``).

It reports the accuracies side by side, the weight-error sigma aihwkit's model actually produces
on the trained weights next to fastnax's analytical one, the largest accuracy gap and Kendall's
tau between fastnax and aihwkit over the cells.

``--device reram`` (default mode only): aihwkit's ReRAM model instead, ``ReRamWan2022NoiseModel``
(a fit to NeuRRAM, Wan et al. 2022) on a ``SinglePairConductanceConverter(g_max=40)`` (the fit's
reference conductance), at its three fitted times 1 s, 1 day and 2 days, against fastnax's
``rram-wan2022``, ``rram-wan2022-1d`` and ``rram-wan2022-2d`` presets (snapshots of the same fit),
with and without global drift compensation; everything else as above.

``--grid`` mode (issue 18's full grid): networks x noise levels x hardware settings x times, all
with global drift compensation.

- Networks: the same small CNN (an adaptive 4x4 average pool before the classifier on inputs
  larger than 8x8, so every layer fits one 512x512 aihwkit tile), on digits (``--epochs``) and on
  a seeded MNIST subset (``--mnist-train`` / ``--mnist-test`` images of the standard split, 10,000
  / 2,000 by default, read from ``../shared/data/mnist``, downsampled ``--mnist-downsample`` = 2x
  by block means to 14x14, which quarters the cost; ``--mnist-epochs``; where MNIST cannot be
  loaded the JSON says why and the grid runs on digits), each trained with every seed of
  ``--seeds`` plainly and noise-aware. Noise-aware:
  at every step every conv/linear weight is perturbed by ``sigma_l max|w| N(0, 1)`` (a seeded
  ``torch.Generator``), forward and backward run on the perturbed weights, the clean weights are
  restored, then the optimiser steps; ``sigma_l`` is fastnax's analytical per-layer sigma of
  ``pcm-aihwkit-x4`` at 1 h, ``sqrt(cell_sigma^2 + out_noise^2 / fan_in)`` (the default mode's
  ``analytic`` column). Plain and noise-aware networks of a seed share the initialisation and the
  batch order.
- Noise levels x1, x2, x4: aihwkit ``PCMLikeNoiseModel(prog_noise_scale=k, read_noise_scale=k)``
  against fastnax's ``pcm-aihwkit``, ``pcm-aihwkit-x2``, ``pcm-aihwkit-x4``.
- Hardware settings: aihwkit's ``forward.inp_res = 1 / (2^DAC - 2)`` and
  ``forward.out_res = 1 / (2^ADC - 2)`` at (DAC, ADC) = (7, 9) (its default), (6, 8), (5, 7).
- Times 1 s, 1 h, 1 day, 30 days; ``--chips`` draws per cell on each side.

fastnax's side in the grid: the weights of every layer read back by ``sample_cells`` of the
matching preset (a pair per weight) WITHOUT the compensation scaling, and every
conv/linear layer computed as aihwkit's torch tile computes its forward (``AnalogMVM.matmul``,
re-implemented here in :func:`crossbar_mvm` from aihwkit 1.1.0's source): convolutions unfolded
into patches, each patch (row) divided by its absolute max (ABS_MAX noise management), rounded
to the DAC step ``2 inp_bound inp_res`` and clipped to ``+-inp_bound``, multiplied by the weights
in units of the layer's ``max|w|``, output noise ``out_noise N(0, 1)`` added, rounded to the ADC
step ``2 out_bound out_res`` and clipped to ``+-out_bound``; where any output of the batch clips,
the batch is recomputed with the inputs halved (iterative bound management, up to aihwkit's
``max_bm_factor`` / ``max_bm_res`` limits); rescaled by the row max, ``max|w|`` and fastnax's
global drift compensation factor (:func:`uncompensated_cells`: ``sample_cells``'s own estimate
from the layer's cells, mean |programmed| / mean |read back|), so the compensation multiplies the
tile output after the output noise and the ADC, as aihwkit applies its alpha (and as fastnax's
analytical form refers the output noise, ``NonIdeality.output_noise_referred``); digital bias.
Evaluation runs in batches of ``--eval-batch`` images on both sides (bound management acts per
batch in aihwkit). The emulation is checked against aihwkit itself on every hardware setting with
output noise off (``io_emulation_check``: aihwkit's programmed tile weights and drift-compensation
alpha through both forwards; the logits agree up to float rounding). What still differs between
the two models is listed in the JSON (``model_differences``).

Reported per cell (dataset, training, noise level, hardware, time; mean over the seeds): aihwkit's
and fastnax's accuracy mean and std over all seed x chip draws, the per-seed means, the gap, and
aihwkit's drift-compensation alpha next to the exact conductance ratio on its draw and to
fastnax's factor (``fastnax_alpha``, mean over layers and chips); the largest gap, the
fraction of cells within 1 point or within both spreads (the gap at most each side's std), and
Kendall's tau (tau-a) over all cells and within each dataset; per (dataset, noise level, hardware,
time) the noise-aware gain (noise-aware minus plain accuracy, mean over seeds and chips) measured
by aihwkit and predicted by fastnax, each with its draw spread ``sqrt(std_aware^2 + std_plain^2)``
and standard error, and whether they agree within both spreads and within two standard errors;
and the issue's goals with the measured numbers.

Usage (from the repository root; progress lines go to stderr)::

    python benchmarks/nonideal_vs_aihwkit.py [--chips 5] [--threads 1]
    python benchmarks/nonideal_vs_aihwkit.py --grid [--seeds 0,1] [--datasets digits,mnist]
        [--chips 5] [--mnist-train 10000] [--mnist-test 2000] [--mnist-epochs 8] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TIMES = (1.0, 3600.0, 86400.0, 30 * 86400.0)
#: aihwkit's ``prog_noise_scale = read_noise_scale = k`` and fastnax's preset of the same noise
#: the default mode's devices: aihwkit's noise model and fastnax's preset at each time
DEVICES = {
    "pcm": {"aihwkit": "PCMLikeNoiseModel()", "times": tuple((t, "pcm-aihwkit") for t in TIMES)},
    "reram": {"aihwkit": "ReRamWan2022NoiseModel(g_converter=SinglePairConductanceConverter(g_max=40.0))",
              "times": ((1.0, "rram-wan2022"), (86400.0, "rram-wan2022-1d"), (172800.0, "rram-wan2022-2d"))},
}
NOISE_LEVELS = ((1, "pcm-aihwkit"), (2, "pcm-aihwkit-x2"), (4, "pcm-aihwkit-x4"))
#: (name, DAC bits, ADC bits): aihwkit's ``inp_res = 1 / (2^DAC - 2)``, ``out_res = 1 / (2^ADC - 2)``
HARDWARE = (("dac7-adc9", 7, 9), ("dac6-adc8", 6, 8), ("dac5-adc7", 5, 7))
#: noise-aware training: fastnax's analytical sigma of this preset at this time
NOISE_AWARE_PRESET, NOISE_AWARE_TIME_S = "pcm-aihwkit-x4", 3600.0
TRAININGS = ("plain", "noise-aware")


def _skip(reason: str) -> int:
    print(json.dumps({"benchmark": "nonideal_vs_aihwkit", "skipped": True, "reason": reason}))
    return 0


def _kendall(a, b) -> float:
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += (1 if (a[i] - a[j]) * (b[i] - b[j]) > 0 else -1 if (a[i] - a[j]) * (b[i] - b[j]) < 0 else 0)
    return s / (n * (n - 1) / 2)


def _seed(*parts) -> int:
    """A stable 32-bit seed named by ``parts`` (every draw of the grid has its own)."""
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def _net(torch, input_size: int = 8):
    """conv16-conv32s2-fc10; on inputs larger than 8x8 an adaptive 4x4 average pool before the
    classifier keeps its fan-in at 512 (one aihwkit tile)."""
    nn = torch.nn
    layers = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU()]
    if (input_size + 1) // 2 > 4:
        layers.append(nn.AdaptiveAvgPool2d(4))
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def _seeded_net(torch, seed: int, input_size: int = 8):
    """:func:`_net` initialised from ``seed`` (torch's initialisers draw from the global generator:
    it is forked, so its state outside is untouched)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _net(torch, input_size)


def _layers(torch, net) -> list:
    return [m for m in net if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def _train(torch, net, x, y, epochs: int, seed: int, sigmas=None, batch: int = 64, lr: float = 3e-3):
    """Adam on cross-entropy; ``sigmas`` (one per conv/linear layer): noise-aware training, every
    step on weights perturbed by ``sigma max|w| N(0, 1)`` (gradients applied to the clean ones)."""
    layers = _layers(torch, net)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    order_gen = torch.Generator().manual_seed(seed)
    noise_gen = torch.Generator().manual_seed(_seed("weight-noise", seed))
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=order_gen)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            opt.zero_grad()
            clean = None
            if sigmas is not None:
                clean = [m.weight.detach().clone() for m in layers]
                with torch.no_grad():
                    for m, s in zip(layers, sigmas):
                        m.weight.add_(s * m.weight.abs().max()
                                      * torch.randn(m.weight.shape, generator=noise_gen, dtype=m.weight.dtype))
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            if clean is not None:
                with torch.no_grad():
                    for m, w in zip(layers, clean):
                        m.weight.copy_(w)
            opt.step()
    net.eval()
    return net


def _accuracy(torch, model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean()) * 100.0


def _batched_accuracy(torch, forward, x, y, batch: int) -> float:
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((forward(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return 100.0 * correct / len(y)


def _ms(values):
    import numpy as np

    return [round(float(np.mean(values)), 2), round(float(np.std(values)), 2)]


# --- aihwkit's torch-tile forward, re-implemented (the fastnax side of the grid) -----------------

@dataclasses.dataclass(frozen=True)
class CrossbarIO:
    """The fields of aihwkit's ``IOParameters`` its ONE_PASS torch forward reads, at aihwkit
    1.1.0's defaults (``inp_res`` / ``out_res``: a resolution, or a number of states if > 1;
    <= 0: no DAC / ADC)."""

    inp_res: float = 1.0 / (2 ** 7 - 2)
    inp_bound: float = 1.0
    out_res: float = 1.0 / (2 ** 9 - 2)
    out_bound: float = 12.0
    out_noise: float = 0.06
    max_bm_factor: float = 1000.0
    max_bm_res: float = 0.25

    @classmethod
    def from_aihwkit(cls, io) -> "CrossbarIO":
        """From an aihwkit ``IOParameters``, refusing settings :func:`crossbar_mvm` does not model."""
        from aihwkit.simulator.parameters.enums import AnalogMVType, BoundManagementType, NoiseManagementType

        modelled = {"mv_type": AnalogMVType.ONE_PASS, "noise_management": NoiseManagementType.ABS_MAX,
                    "bound_management": BoundManagementType.ITERATIVE, "nm_thres": 0.0, "inp_noise": 0.0,
                    "out_noise_std": 0.0, "inp_sto_round": False, "out_sto_round": False,
                    "inp_asymmetry": 0.0, "out_asymmetry": 0.0, "out_scale": 1.0, "is_perfect": False}
        off = {k: getattr(io, k) for k, v in modelled.items() if getattr(io, k) != v}
        if off:
            raise ValueError(f"aihwkit forward settings not modelled by crossbar_mvm: {off}")
        return cls(**{f.name: float(getattr(io, f.name)) for f in dataclasses.fields(cls)})


def _step(res: float, bound: float) -> float:
    """aihwkit's ``UniformQuantize`` step: the resolution (``1 / res`` where ``res > 1`` counts
    states) times the range ``2 bound``; 0 where ``res <= 0`` (no quantisation)."""
    if res <= 0:
        return 0.0
    return (1.0 / res if res > 1.0 else res) * 2.0 * bound


def crossbar_mvm(torch, x, w, io: CrossbarIO, gen=None):
    """``x @ w.T`` as aihwkit 1.1.0's ``AnalogMVM.matmul`` computes it for one tile.

    ABS_MAX noise management (every row of ``x`` divided by its absolute max; all-zero rows by 1),
    DAC rounding to ``2 inp_bound inp_res`` and clipping to ``+-inp_bound``, the product, output
    noise ``out_noise N(0, 1)`` (from ``gen``), ADC rounding to ``2 out_bound out_res`` and
    clipping to ``+-out_bound``; ITERATIVE bound management: while any output of the whole batch
    clips, recompute with the inputs halved (until the reduction exceeds ``max_bm_factor`` or
    ``max_bm_res`` over the DAC step); the result rescaled by the row max and the reduction.

    Parameters
    ----------
    x : tensor of shape (..., in)
    w : tensor of shape (out, in)
        Weights in the tile's units (aihwkit: ``w / max|w|`` with ``weight_scaling_omega = 1``).
    io : CrossbarIO
    gen : torch.Generator, optional
        Source of the output noise (required where ``io.out_noise > 0``).
    """
    out_shape = x.shape[:-1] + (w.shape[0],)
    nm = x.abs().amax(dim=-1, keepdim=True)
    if bool((nm == 0).all()):
        return x.new_zeros(out_shape)  # aihwkit's shortcut: no output noise either
    nm = torch.where(nm <= 0, torch.ones_like(nm), nm)
    in_step, out_step = _step(io.inp_res, io.inp_bound), _step(io.out_res, io.out_bound)
    in_bound = io.inp_bound if io.inp_bound > 0 else math.inf
    out_bound = io.out_bound if io.out_bound > 0 else math.inf
    reduction = 0.5
    while True:
        reduction *= 2.0
        scale = (1.0 / nm) / reduction
        xs = x * scale
        if in_step > 0:
            xs = torch.round(xs / in_step) * in_step
        xs = xs.clamp(-in_bound, in_bound)
        y = xs @ w.T
        if io.out_noise > 0:
            y = y + io.out_noise * torch.randn(y.shape, generator=gen, dtype=y.dtype)
        if out_step > 0:
            y = torch.round(y / out_step) * out_step
        passed = bool(((y <= out_bound) & (y >= -out_bound)).all())
        y = y.clamp(-out_bound, out_bound)
        if (passed or reduction > io.max_bm_factor
                or (in_step > 0 and reduction > io.max_bm_res / in_step)):
            return y * (1.0 / scale)


def crossbar_forward(torch, net, tiles, io: CrossbarIO, gen, x):
    """``net(x)`` with every Conv2d / Linear computed by :func:`crossbar_mvm` as aihwkit's CPU
    path does (convolutions by explicit unfolding, a digital bias added after).

    ``tiles``: per conv/linear layer, ``(w, scale)``: the weights in tile units, shape
    ``(out, in)``, and the factor the tile output is multiplied by (``max|w|``; aihwkit also
    multiplies its drift-compensation alpha here).
    """
    fn = torch.nn.functional
    it = iter(tiles)
    for m in net:
        if isinstance(m, torch.nn.Conv2d):
            w, scale = next(it)
            n, _, h, _ = x.shape
            cols = fn.unfold(x, kernel_size=m.kernel_size, dilation=m.dilation, padding=m.padding,
                             stride=m.stride).transpose(-1, -2)
            out = crossbar_mvm(torch, cols, w, io, gen) * scale
            if m.bias is not None:
                out = out + m.bias
            oh = (h + 2 * m.padding[0] - m.dilation[0] * (m.kernel_size[0] - 1) - 1) // m.stride[0] + 1
            x = out.transpose(-1, -2).reshape(n, m.out_channels, oh, -1)
        elif isinstance(m, torch.nn.Linear):
            w, scale = next(it)
            x = crossbar_mvm(torch, x, w, io, gen) * scale
            if m.bias is not None:
                x = x + m.bias
        else:
            x = m(x)
    return x


def uncompensated_cells(ni, x, rng):
    """The cells of one layer as aihwkit's order of drift compensation needs them: the read-back
    of :meth:`~fastnax.hwmodel.NonIdeality.sample_cells` WITHOUT the global compensation scaling,
    and fastnax's compensation factor, to multiply the tile OUTPUT by (after the output noise and
    the ADC, as aihwkit applies its alpha).

    The factor is ``sample_cells``'s own estimate on the same draws: mean |programmed
    conductance| / mean |read-back (drifted, with read noise)| over the layer's cells, before
    stuck-at faults (0 in the ``pcm-aihwkit`` presets). The programmed conductances are ``sample_cells`` of the same draws
    with no drift time, read noise, faults or compensation; the read-back is ``sample_cells`` with
    ``drift_compensation = "none"``. ``rng`` advances exactly as one ``ni.sample_cells(x, rng)``
    call advances it (the auxiliary calls run on copies), and without stuck-at G_max faults
    ``factor * readback`` is that call's compensated read-back. (A cell stuck at G_max is scaled
    by the factor here, as aihwkit's output compensation scales it; ``sample_cells`` leaves it at
    1.) Where ``sample_cells`` applies no scaling (``drift_compensation = "none"``, or the
    ``range`` law) the factor is 1.

    Parameters
    ----------
    ni : NonIdeality
    x : ndarray, shape (n,)
        Target levels in [0, 1] (one layer: one compensation).
    rng : numpy.random.Generator

    Returns
    -------
    (ndarray of shape (n,), float)
    """
    import copy

    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    if ni.drift_compensation != "global" or ni.drift_law != "level":
        return ni.sample_cells(x, rng), 1.0
    raw = dataclasses.replace(ni, drift_compensation="none")
    clean = dataclasses.replace(raw, stuck_at_gmin_rate=0.0, stuck_at_gmax_rate=0.0)
    programmed = dataclasses.replace(clean, drift_time_s=0.0, drift_time_offset_s=0.0, read_noise_q=0.0)
    g = programmed.sample_cells(x, copy.deepcopy(rng))
    if ni.stuck_at_gmin_rate or ni.stuck_at_gmax_rate:
        read = clean.sample_cells(x, copy.deepcopy(rng))
        cells = raw.sample_cells(x, rng)
    else:
        read = cells = raw.sample_cells(x, rng)
    factor = float(np.mean(np.abs(g))) / max(float(np.mean(np.abs(read))), 1e-12)
    return cells, factor


def cell_tiles(torch, layers, ni, rng) -> list:
    """fastnax's read-back of every conv/linear layer by ``ni.sample_cells``: per layer
    ``(w, scale)``, ``w`` the signed pair difference in units of ``max|w|`` (the active device at
    ``|w| / max|w|``, the other at 0; one array, one global compensation), shape ``(out, in)``,
    read back WITHOUT the compensation scaling, and ``scale = max|w| * factor``, the factor
    fastnax's global drift compensation (:func:`uncompensated_cells`): :func:`crossbar_forward`
    multiplies the tile output by ``scale``, after the output noise and the ADC, as aihwkit
    multiplies its tile output by its mapping scale and alpha."""
    import numpy as np

    out = []
    for m in layers:
        w = m.weight.detach().numpy().astype(np.float64).reshape(m.weight.shape[0], -1)
        wmax = float(np.abs(w).max())
        level = (np.abs(w) / wmax).ravel()
        both, factor = uncompensated_cells(ni, np.concatenate([level, np.zeros_like(level)]), rng)
        wn = np.sign(w).ravel() * (both[:level.size] - both[level.size:])
        out.append((torch.as_tensor(wn.reshape(w.shape), dtype=torch.float32), wmax * factor))
    return out


def analytic_sigmas(ni, fan_in, referred: bool = False) -> list:
    """fastnax's analytical per-layer sigma (relative to ``max|w|``) of configuration ``ni``:
    the cell sigma and the output noise referred to a weight, ``sqrt(cs^2 + out_noise^2 / fan_in)``.

    ``referred``: the output noise grown by the compensation factor as fastnax's analytical form
    now refers it (``NonIdeality.output_noise_referred``; the default mode's ``analytic``
    column). The grid's noise-aware training keeps the plain ``out_noise`` (its recorded rule),
    so its networks are those of the earlier runs."""
    noise = ni.output_noise_referred() if referred else ni.output_noise
    return [math.sqrt(ni.cell_sigma() ** 2 + noise ** 2 / r) for r in fan_in]


# --- default mode -------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chips", type=int, default=5, help="noise draws per cell (each side)")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs on digits")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the default mode")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", action="store_true", help="the full grid (see the module docstring)")
    parser.add_argument("--seeds", default="0,1", help="--grid: training seeds, comma-separated")
    parser.add_argument("--datasets", default="digits,mnist", help="--grid: digits and/or mnist")
    parser.add_argument("--mnist-root", default=None,
                        help="--grid: folder of the MNIST IDX files (default ../shared/data/mnist)")
    parser.add_argument("--mnist-train", type=int, default=10000, help="--grid: seeded MNIST training subset")
    parser.add_argument("--mnist-test", type=int, default=2000, help="--grid: seeded MNIST test subset")
    parser.add_argument("--mnist-epochs", type=int, default=8)
    parser.add_argument("--mnist-downsample", type=int, default=2,
                        help="--grid: MNIST at 1/N resolution (2: 14x14, a quarter of the 28x28 cost)")
    parser.add_argument("--eval-batch", type=int, default=500, help="--grid: images per forward batch")
    parser.add_argument("--device", choices=sorted(DEVICES), default="pcm",
                        help="default mode: aihwkit's PCM model against pcm-aihwkit (default), or its ReRAM "
                             "model (ReRamWan2022NoiseModel, g_max 40 uS) against the rram-wan2022 presets")
    args = parser.parse_args(argv)
    if args.grid and args.device != "pcm":
        parser.error("--device reram runs in the default mode only (the grid is PCM's)")
    try:
        import aihwkit
        from aihwkit.inference.compensation.drift import GlobalDriftCompensation
        from aihwkit.inference.noise.pcm import PCMLikeNoiseModel
        from aihwkit.inference.noise.reram import ReRamWan2022NoiseModel
        from aihwkit.inference.converter.conductance import SinglePairConductanceConverter
        from aihwkit.nn.conversion import convert_to_analog
        from aihwkit.simulator.configs import TorchInferenceRPUConfig
    except Exception as exc:  # ImportError, or a broken build's own error
        return _skip(f"aihwkit does not import here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                     "it is optional: install it in a separate venv to run this comparison")
    import torch

    torch.set_num_threads(args.threads)
    aih = {"GlobalDriftCompensation": GlobalDriftCompensation, "PCMLikeNoiseModel": PCMLikeNoiseModel,
           "ReRamWan2022NoiseModel": ReRamWan2022NoiseModel,
           "SinglePairConductanceConverter": SinglePairConductanceConverter,
           "convert_to_analog": convert_to_analog, "TorchInferenceRPUConfig": TorchInferenceRPUConfig,
           "version": aihwkit.__version__}
    result = run_grid(args, aih) if args.grid else run_default(args, aih)
    print(json.dumps(result))
    return 0


def run_default(args, aih) -> dict:
    """One plain digits CNN, with and without compensation (the module docstring's default mode)."""
    import numpy as np
    import torch

    from fastnax import datasets, hwmodel

    t_start = time.perf_counter()
    data = datasets.load("digits")
    xtr, ytr = torch.tensor(data.x_train), torch.tensor(data.y_train)
    xte, yte = torch.tensor(data.x_test), torch.tensor(data.y_test)
    net = _train(torch, _seeded_net(torch, args.seed), xtr, ytr, args.epochs, args.seed)
    clean = _accuracy(torch, net, xte, yte)
    t_train = time.perf_counter() - t_start

    device = DEVICES[args.device]
    layers = _layers(torch, net)
    fan_in = [int(np.prod(m.weight.shape[1:])) for m in layers]
    rows = []
    fx_cells, fx_an, aih_acc = [], [], []
    rng = np.random.default_rng(args.seed)
    noise_gen = torch.Generator().manual_seed(_seed("output-noise", args.seed))
    for comp in ("global", "none"):
        rpu = aih["TorchInferenceRPUConfig"]()
        if args.device == "pcm":
            rpu.noise_model = aih["PCMLikeNoiseModel"]()
        else:  # the fit's own reference g_max, as the rram-wan2022 presets refer to it
            rpu.noise_model = aih["ReRamWan2022NoiseModel"](
                g_converter=aih["SinglePairConductanceConverter"](g_max=40.0))
        rpu.drift_compensation = aih["GlobalDriftCompensation"]() if comp == "global" else None
        rpu.mapping.weight_scaling_omega = 1.0
        analog = aih["convert_to_analog"](net, rpu)
        analog.eval()
        for t, preset in device["times"]:
            ni = dataclasses.replace(hwmodel.get_nonideality(preset), drift_compensation=comp).at_time(t)
            accs, sig_meas = [], []
            for chip in range(args.chips):
                torch.manual_seed(1000 * chip + int(t) % 997 + (0 if comp == "global" else 7))  # aihwkit's draws
                analog.program_analog_weights()
                analog.drift_analog_weights(t)
                accs.append(_accuracy(torch, analog, xte, yte))
                for tile in analog.analog_tiles():
                    ref = tile.reference_combined_weights
                    w = torch.as_tensor(tile.tile.get_weights()) * tile.alpha
                    sig_meas.append(float(((w - ref).pow(2).mean().sqrt() / ref.abs().max())))
            cells_acc = [_cells_accuracy(torch, net, layers, ni, rng, noise_gen, xte, yte) for _ in range(args.chips)]
            an_sigma = analytic_sigmas(ni, fan_in, referred=True)
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
            aih_acc.append(float(np.mean(accs)))
            fx_cells.append(float(np.mean(cells_acc)))
            fx_an.append(float(np.mean(an_acc)))
    return {
        "benchmark": "nonideal_vs_aihwkit", "skipped": False, "mode": "default", "aihwkit": aih["version"],
        "torch": torch.__version__, "python": platform.python_version(),
        "network": "conv16-conv32s2-fc10 (plain, digits test split)", "chips": args.chips,
        "device": args.device, "aihwkit_model": device["aihwkit"],
        "clean_acc": round(clean, 2), "train_s": round(t_train, 1), "rows": rows,
        "max_gap_cells_points": round(max(abs(a - b) for a, b in zip(aih_acc, fx_cells)), 2),
        "max_gap_analytic_points": round(max(abs(a - b) for a, b in zip(aih_acc, fx_an)), 2),
        "kendall_cells": round(_kendall(aih_acc, fx_cells), 3),
        "kendall_analytic": round(_kendall(aih_acc, fx_an), 3),
        "wall_s": round(time.perf_counter() - t_start, 1),
    }


def _perturbed(torch, net, layers, new_weights, hooks_noise=None, gen=None):
    """A copy of ``net`` with ``new_weights``; ``hooks_noise`` (one std per conv/linear layer, in
    output units per unit of the input's max): Gaussian noise of that std times the input's max
    per sample added to every output of the layer."""
    import copy

    model = copy.deepcopy(net)
    mods = _layers(torch, model)
    for m, w in zip(mods, new_weights):
        m.weight.data = torch.as_tensor(w, dtype=m.weight.dtype).reshape(m.weight.shape)
    if hooks_noise is not None:
        for m, std in zip(mods, hooks_noise):

            def hook(module, inputs, output, std=float(std)):
                x = inputs[0]
                xmax = x.abs().flatten(1).max(1).values.clamp(min=1e-12)
                shape = (-1,) + (1,) * (output.dim() - 1)
                noise = torch.randn(output.shape, generator=gen, dtype=output.dtype)
                return output + std * xmax.reshape(shape) * noise

            m.register_forward_hook(hook)
    return model


def _cells_accuracy(torch, net, layers, ni, rng, gen, x, y) -> float:
    # the compensation multiplies the noisy output (aihwkit's order): the weights scaled by it
    # and the output noise too (tile scale = max|w| * compensation factor)
    tiles = cell_tiles(torch, layers, ni, rng)
    weights = [w * s for w, s in tiles]
    noise = [ni.output_noise * s for _, s in tiles]
    return _accuracy(torch, _perturbed(torch, net, layers, weights, hooks_noise=noise, gen=gen), x, y)


def _gauss_accuracy(torch, net, layers, sigmas, rng, x, y) -> float:
    import numpy as np

    weights = []
    for m, s in zip(layers, sigmas):
        w = m.weight.detach().numpy().astype(np.float64)
        weights.append(w + s * np.abs(w).max() * rng.standard_normal(w.shape))
    return _accuracy(torch, _perturbed(torch, net, layers, weights), x, y)


# --- grid mode ----------------------------------------------------------------------------------

def _grid_datasets(args):
    """[(name, ImageDataset, epochs, note)] and {name: why skipped}."""
    from fastnax import datasets

    out, skipped = [], {}
    for name in [s.strip() for s in args.datasets.split(",") if s.strip()]:
        if name == "digits":
            out.append((name, datasets.load("digits"), args.epochs, "scikit-learn 8x8 digits, the fastnax split"))
        elif name == "mnist":
            root = Path(args.mnist_root) if args.mnist_root else datasets.shared_data_folder() / "mnist"
            try:
                data = datasets.load("mnist", root=root, max_train=args.mnist_train, max_test=args.mnist_test, seed=0)
            except Exception as exc:  # DatasetError (files missing), or unreadable files
                skipped[name] = f"MNIST not loaded from {root}: {type(exc).__name__}: {exc}"
                continue
            note = f"MNIST from {root}, seeded subset (seed 0) of the standard split"
            if args.mnist_downsample > 1:
                data = data.downsample(args.mnist_downsample)
                note += f", downsampled {args.mnist_downsample}x (block means) to {data.input_size}x{data.input_size}"
            out.append((name, data, args.mnist_epochs, note))
        else:
            raise SystemExit(f"--datasets: unknown dataset {name!r} (digits, mnist)")
    return out, skipped


def _tensors(torch, data):
    def images(x):
        x = torch.as_tensor(x)
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()

    return (images(data.x_train), torch.as_tensor(data.y_train), images(data.x_test), torch.as_tensor(data.y_test))


def _rpu(aih, k: float, dac: int, adc: int, out_noise: float | None = None):
    rpu = aih["TorchInferenceRPUConfig"]()
    rpu.noise_model = aih["PCMLikeNoiseModel"](prog_noise_scale=float(k), read_noise_scale=float(k))
    rpu.drift_compensation = aih["GlobalDriftCompensation"]()
    rpu.mapping.weight_scaling_omega = 1.0
    rpu.forward.inp_res = 1.0 / (2 ** dac - 2)
    rpu.forward.out_res = 1.0 / (2 ** adc - 2)
    if out_noise is not None:
        rpu.forward.out_noise = out_noise
    return rpu


def _analog(aih, torch, net, rpu):
    """aihwkit's model of ``net`` (eval mode), refused where a layer would span several tiles
    (the fastnax side models one tile per layer)."""
    analog = aih["convert_to_analog"](net, rpu)
    analog.eval()
    n_tiles = len(list(analog.analog_tiles()))
    if n_tiles != len(_layers(torch, net)):
        raise ValueError(f"{n_tiles} aihwkit tiles for {len(_layers(torch, net))} layers: one tile per layer is modelled")
    return analog


def _io_check(aih, torch, net, dac, adc, x, batch) -> dict:
    """aihwkit's forward against :func:`crossbar_forward` on aihwkit's own programmed and drifted
    tile weights (x1 noise, 1 h), output noise off on both: what is left is float rounding."""
    rpu = _rpu(aih, 1, dac, adc, out_noise=0.0)
    analog = _analog(aih, torch, net, rpu)
    torch.manual_seed(_seed("io-check", dac, adc))  # aihwkit's draws
    analog.program_analog_weights()
    analog.drift_analog_weights(3600.0)
    tiles = []
    for m, tile in zip(_layers(torch, net), analog.analog_tiles()):
        w = torch.as_tensor(tile.tile.get_weights()).float().reshape(m.weight.shape[0], -1)
        tiles.append((w, tile.get_mapping_scales().view(-1) * tile.alpha.view(-1)))
    io = CrossbarIO.from_aihwkit(rpu.forward)
    with torch.no_grad():
        a = torch.cat([analog(x[i:i + batch]) for i in range(0, len(x), batch)])
        f = torch.cat([crossbar_forward(torch, net, tiles, io, None, x[i:i + batch]) for i in range(0, len(x), batch)])
    return {"max_abs_logit_diff": float((a - f).abs().max()), "max_abs_logit": float(a.abs().max()),
            "argmax_agreement": float((a.argmax(1) == f.argmax(1)).float().mean())}


def _price(aih, torch, np, net, k, preset, hw, args, x, y, tag) -> dict:
    """Accuracy per chip of aihwkit and of fastnax's cells, aihwkit's alpha, exact ratio and
    max |programmed weight| per tile and chip, and fastnax's compensation factor per layer and
    chip, for every time: ``{t: {"aihwkit": [...], ...}}``."""
    _, dac, adc = hw
    rpu = _rpu(aih, k, dac, adc)
    analog = _analog(aih, torch, net, rpu)
    io = CrossbarIO.from_aihwkit(rpu.forward)
    layers = _layers(torch, net)
    out = {}
    for t in TIMES:
        cell = {"aihwkit": [], "fastnax": [], "alpha": [], "alpha_exact": [], "max_programmed": [],
                "fastnax_alpha": []}
        for chip in range(args.chips):
            torch.manual_seed(_seed("aihwkit", *tag, k, hw[0], t, chip))  # aihwkit draws from torch's global generator
            analog.program_analog_weights()
            analog.drift_analog_weights(t)
            cell["aihwkit"].append(_batched_accuracy(torch, analog, x, y, args.eval_batch))
            for tile in analog.analog_tiles():
                cell["alpha"].append(float(tile.alpha.mean()))
                cell["max_programmed"].append(float(tile.programmed_weights.abs().max()))
                # the exact ratio on aihwkit's own draw (mean |programmed| / mean |drifted| weight,
                # no read-out noise or ADC): what fastnax's compensation takes from its cells
                cell["alpha_exact"].append(float(tile.programmed_weights.abs().mean()
                                                 / torch.as_tensor(tile.tile.get_weights()).abs().mean()))
        ni = preset.at_time(t)
        for chip in range(args.chips):
            rng = np.random.default_rng(_seed("fastnax-cells", *tag, k, hw[0], t, chip))
            gen = torch.Generator().manual_seed(_seed("fastnax-out-noise", *tag, k, hw[0], t, chip))
            tiles = cell_tiles(torch, layers, ni, rng)
            cell["fastnax_alpha"].extend(s / float(m.weight.detach().abs().max()) for m, (_, s) in zip(layers, tiles))
            cell["fastnax"].append(_batched_accuracy(
                torch, lambda xb: crossbar_forward(torch, net, tiles, io, gen, xb), x, y, args.eval_batch))
        out[t] = cell
    return out


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_grid(args, aih) -> dict:
    """Issue 18's grid (the module docstring's ``--grid`` mode)."""
    import numpy as np
    import torch

    from fastnax import hwmodel

    t_start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    presets = {k: hwmodel.get_nonideality(name) for k, name in NOISE_LEVELS}
    aware_ni = hwmodel.get_nonideality(NOISE_AWARE_PRESET).at_time(NOISE_AWARE_TIME_S)
    data_sets, skipped = _grid_datasets(args)
    networks, raw, io_checks = [], {}, {}
    for name, data, epochs, note in data_sets:
        xtr, ytr, xte, yte = _tensors(torch, data)
        for seed in seeds:
            for training in TRAININGS:
                t0 = time.perf_counter()
                net = _seeded_net(torch, _seed("init", name, seed), data.input_size)
                fan_in = [int(np.prod(m.weight.shape[1:])) for m in _layers(torch, net)]
                sigmas = analytic_sigmas(aware_ni, fan_in) if training == "noise-aware" else None
                _train(torch, net, xtr, ytr, epochs, _seed("train", name, seed), sigmas=sigmas)
                clean = _batched_accuracy(torch, net, xte, yte, args.eval_batch)
                t_train = time.perf_counter() - t0
                if name not in io_checks:
                    io_checks[name] = {hw[0]: _io_check(aih, torch, net, hw[1], hw[2], xte, args.eval_batch)
                                       for hw in HARDWARE}
                for k, preset in presets.items():
                    for hw in HARDWARE:
                        for t, cell in _price(aih, torch, np, net, k, preset, hw, args, xte, yte,
                                              (name, training, seed)).items():
                            raw[(name, training, seed, k, hw[0], t)] = cell
                networks.append({"dataset": name, "training": training, "seed": seed, "epochs": epochs,
                                 "clean_acc": round(clean, 2), "train_s": round(t_train, 1),
                                 "price_s": round(time.perf_counter() - t0 - t_train, 1),
                                 **({"train_sigma_per_layer": [round(s, 5) for s in sigmas]} if sigmas else {})})
                _log(f"[grid] {name} {training} seed {seed}: clean {clean:.2f}, "
                     f"{time.perf_counter() - t_start:.0f} s")
    cells, gains = _grid_cells(np, raw, data_sets, seeds), _grid_gains(np, raw, data_sets, seeds)
    return {
        "benchmark": "nonideal_vs_aihwkit", "skipped": False, "mode": "grid", "aihwkit": aih["version"],
        "torch": torch.__version__, "python": platform.python_version(),
        "network": "conv16-conv32s2-fc10 (MNIST: adaptive 4x4 average pool before fc10)",
        "datasets": {name: {**data.describe(), "epochs": epochs, "note": note} for name, data, epochs, note in data_sets},
        "datasets_skipped": skipped, "seeds": seeds, "chips": args.chips, "eval_batch": args.eval_batch,
        "noise_levels": {f"x{k}": name for k, name in NOISE_LEVELS},
        "hardware": {n: {"dac_bits": d, "adc_bits": a, "inp_res": 1.0 / (2 ** d - 2), "out_res": 1.0 / (2 ** a - 2),
                         "inp_bound": CrossbarIO.inp_bound, "out_bound": CrossbarIO.out_bound}
                     for n, d, a in HARDWARE},
        "times_s": list(TIMES), "drift_compensation": "global",
        "noise_aware_training": {"preset": NOISE_AWARE_PRESET, "t_s": NOISE_AWARE_TIME_S,
                                 "rule": "w + sigma_l max|w| N(0,1) per step, sigma_l = sqrt(cell_sigma^2 + out_noise^2 / fan_in)"},
        "networks": networks, "io_emulation_check": io_checks,
        "model_differences": MODEL_DIFFERENCES, "zero_device_readback_rms": _zero_device_rms(np, presets),
        "summary": _grid_summary(np, cells, gains),
        "cells": cells, "gains": gains,
        "wall_s": round(time.perf_counter() - t_start, 1),
    }


#: what the grid's fastnax side does not model as aihwkit 1.1.0 does (read from its source)
MODEL_DIFFERENCES = [
    "drift compensation, how: aihwkit reads each tile out through its own forward (one-hot "
    "inputs, with output noise and ADC rounding) at programming and at t, alpha = ratio of the "
    "mean |outputs|; fastnax takes mean |programmed| / mean |read| of its cells (no read-out "
    "noise, no ADC; over both devices of every pair); cells: aihwkit_alpha next to "
    "aihwkit_alpha_exact, that exact ratio on aihwkit's own draw, and fastnax_alpha. Where: "
    "both multiply the tile output (after output noise and ADC) by their factor",
    "the unused device of a pair: aihwkit re-derives the pair from the programmed weight before "
    "drifting (one device at |programmed weight|, the other at 0), so drift and read noise act on "
    "the net weight only; fastnax drifts and reads both devices, the unused one from its "
    "programming noise clipped at 0 (its read-back rms: zero_device_readback_rms)",
    "drift and read levels: aihwkit divides the programmed weights by their own max before "
    "drifting and reading (the levels of drift exponents and 1/f noise referred to max "
    "|programmed weight|, above 1 by the programming noise: cells' aihwkit_max_abs_programmed), "
    "fastnax to the target range",
    "tiles: one aihwkit tile per layer (all layers here fit 512 x 512; checked); aihwkit's split "
    "of larger layers into tiles is not modelled",
    "DAC, ADC, ABS_MAX noise management, iterative bound management, output noise: modelled as "
    "aihwkit computes them (io_emulation_check); the random draws differ",
]


def _pool(raw, key_prefix, seeds, side):
    per_seed = [raw[(key_prefix[0], key_prefix[1], s) + key_prefix[2:]][side] for s in seeds]
    return per_seed, [a for accs in per_seed for a in accs]


def _grid_cells(np, raw, data_sets, seeds) -> list:
    cells = []
    for name, *_ in data_sets:
        for training in TRAININGS:
            for k, _preset in NOISE_LEVELS:
                for hw, _dac, _adc in HARDWARE:
                    for t in TIMES:
                        key = (name, training, k, hw, t)
                        a_seed, a_all = _pool(raw, key, seeds, "aihwkit")
                        f_seed, f_all = _pool(raw, key, seeds, "fastnax")
                        _, alpha = _pool(raw, key, seeds, "alpha")
                        _, alpha_exact = _pool(raw, key, seeds, "alpha_exact")
                        _, max_programmed = _pool(raw, key, seeds, "max_programmed")
                        _, fastnax_alpha = _pool(raw, key, seeds, "fastnax_alpha")
                        am, asd = float(np.mean(a_all)), float(np.std(a_all))
                        fm, fsd = float(np.mean(f_all)), float(np.std(f_all))
                        gap = abs(am - fm)
                        # the chip-sampling error of the difference of the two means (ddof 1)
                        sem = math.sqrt(float(np.var(a_all, ddof=1)) / len(a_all)
                                        + float(np.var(f_all, ddof=1)) / len(f_all)) \
                            if min(len(a_all), len(f_all)) > 1 else math.nan
                        cells.append({
                            "dataset": name, "training": training, "noise": f"x{k}", "hardware": hw,
                            "t_inference_s": t, "aihwkit_acc": [round(am, 2), round(asd, 2)],
                            "fastnax_cells_acc": [round(fm, 2), round(fsd, 2)],
                            "aihwkit_seed_means": [round(float(np.mean(v)), 2) for v in a_seed],
                            "fastnax_seed_means": [round(float(np.mean(v)), 2) for v in f_seed],
                            "gap": round(gap, 2), "within_1_point": gap <= 1.0,
                            "within_both_spreads": gap <= asd and gap <= fsd,
                            "gap_sem": _rounded(sem), "within_2_sem": bool(gap <= 2.0 * sem),
                            "aihwkit_alpha": round(float(np.mean(alpha)), 4),
                            "aihwkit_alpha_exact": round(float(np.mean(alpha_exact)), 4),
                            "aihwkit_max_abs_programmed": round(float(np.mean(max_programmed)), 4),
                            "fastnax_alpha": round(float(np.mean(fastnax_alpha)), 4),
                            "_a": am, "_f": fm})
    return cells


def _gain(np, raw, name, k, hw, t, seeds, side) -> dict:
    aware_seed, aware = _pool(raw, (name, "noise-aware", k, hw, t), seeds, side)
    plain_seed, plain = _pool(raw, (name, "plain", k, hw, t), seeds, side)
    per_seed = [float(np.mean(a) - np.mean(p)) for a, p in zip(aware_seed, plain_seed)]
    spread = math.sqrt(float(np.std(aware)) ** 2 + float(np.std(plain)) ** 2)
    sem = (math.sqrt(float(np.var(aware, ddof=1)) / len(aware) + float(np.var(plain, ddof=1)) / len(plain))
           if min(len(aware), len(plain)) > 1 else math.nan)
    return {"gain": float(np.mean(per_seed)), "per_seed": per_seed, "spread": spread, "sem": sem}


def _rounded(v, nd: int = 2):
    return None if math.isnan(v) else round(v, nd)


def _zero_device_rms(np, presets) -> dict:
    """Read-back rms of fastnax's unused pair device (target 0, no compensation) per noise level
    and time, and of its programming noise alone (relative to the range)."""
    out = {}
    for k, ni in presets.items():
        rng = np.random.default_rng(_seed("zero-device", k))
        row = {"programming_only": round(float(np.sqrt(np.mean(np.maximum(
            ni.conductance_sigma * rng.standard_normal(100000), 0.0) ** 2))), 4)}
        for t in TIMES:
            cells = dataclasses.replace(ni, drift_compensation="none").at_time(t).sample_cells(np.zeros(100000), rng)
            row[f"t={t:g}s"] = round(float(np.sqrt(np.mean(cells ** 2))), 4)
        out[f"x{k}"] = row
    return out


def _grid_gains(np, raw, data_sets, seeds) -> list:
    gains = []
    for name, *_ in data_sets:
        for k, _preset in NOISE_LEVELS:
            for hw, _dac, _adc in HARDWARE:
                for t in TIMES:
                    a = _gain(np, raw, name, k, hw, t, seeds, "aihwkit")
                    f = _gain(np, raw, name, k, hw, t, seeds, "fastnax")
                    diff = abs(a["gain"] - f["gain"])
                    gains.append({
                        "dataset": name, "noise": f"x{k}", "hardware": hw, "t_inference_s": t,
                        "aihwkit_gain": [round(a["gain"], 2), round(a["spread"], 2)],
                        "fastnax_gain": [round(f["gain"], 2), round(f["spread"], 2)],
                        "aihwkit_gain_sem": _rounded(a["sem"]), "fastnax_gain_sem": _rounded(f["sem"]),
                        "aihwkit_gain_per_seed": [round(g, 2) for g in a["per_seed"]],
                        "fastnax_gain_per_seed": [round(g, 2) for g in f["per_seed"]],
                        "diff": round(diff, 2),
                        "agree_within_both_spreads": diff <= a["spread"] and diff <= f["spread"],
                        "agree_within_2_sem": diff <= 2.0 * math.sqrt(a["sem"] ** 2 + f["sem"] ** 2),
                        "_a": a["gain"], "_f": f["gain"]})
    return gains


def _grid_summary(np, cells, gains) -> dict:
    def kendall(rows):
        return round(_kendall([r["_a"] for r in rows], [r["_f"] for r in rows]), 3) if len(rows) > 1 else None

    within = [c["within_1_point"] or c["within_both_spreads"] for c in cells]
    worst = max(cells, key=lambda c: c["gap"])
    by_dataset = sorted({c["dataset"] for c in cells})
    gain_summary = {}
    for name in by_dataset:
        for k, _preset in NOISE_LEVELS:
            rows = [g for g in gains if g["dataset"] == name and g["noise"] == f"x{k}"]
            gain_summary[f"{name} x{k}"] = {
                "aihwkit_gain_mean": round(float(np.mean([g["_a"] for g in rows])), 2),
                "fastnax_gain_mean": round(float(np.mean([g["_f"] for g in rows])), 2),
                "aihwkit_gain_range": [round(min(g["_a"] for g in rows), 2), round(max(g["_a"] for g in rows), 2)],
                "fastnax_gain_range": [round(min(g["_f"] for g in rows), 2), round(max(g["_f"] for g in rows), 2)],
                "max_diff": round(max(g["diff"] for g in rows), 2),
                "frac_agree_within_both_spreads": round(float(np.mean([g["agree_within_both_spreads"] for g in rows])), 3),
                "frac_agree_within_2_sem": round(float(np.mean([g["agree_within_2_sem"] for g in rows])), 3),
                "kendall": kendall(rows)}
    high = [g for g in gains if g["noise"] in ("x2", "x4")]
    tau = kendall(cells)
    summary = {
        "n_cells": len(cells),
        "max_gap_points": worst["gap"],
        "max_gap_cell": {k: worst[k] for k in ("dataset", "training", "noise", "hardware", "t_inference_s",
                                                "aihwkit_acc", "fastnax_cells_acc")},
        "mean_gap_points": round(float(np.mean([c["gap"] for c in cells])), 2),
        "mean_signed_gap_fastnax_minus_aihwkit": round(float(np.mean([c["_f"] - c["_a"] for c in cells])), 2),
        "frac_cells_within_1_point": round(float(np.mean([c["within_1_point"] for c in cells])), 3),
        "frac_cells_within_1_point_or_both_spreads": round(float(np.mean(within)), 3),
        # the gap no larger than chip sampling explains (2 standard errors of the difference)
        "frac_cells_within_1_point_or_2_sem": round(float(np.mean([c["within_1_point"] or c["within_2_sem"]
                                                                   for c in cells])), 3),
        "cells_outside_1_point_2_sem_and_spreads": [
            {k: c[k] for k in ("dataset", "training", "noise", "hardware", "t_inference_s", "aihwkit_acc",
                               "fastnax_cells_acc", "gap", "gap_sem")}
            for c in cells if not (c["within_1_point"] or c["within_2_sem"] or c["within_both_spreads"])],
        "kendall_all_cells": tau,
        "kendall_by_dataset": {n: kendall([c for c in cells if c["dataset"] == n]) for n in by_dataset},
        "gain_summary": gain_summary,
        "goals": {
            "every_cell_within_1_point_or_both_spreads": bool(all(within)),
            "kendall_all_cells>=0.8": bool(tau is not None and tau >= 0.8),
            "gain_x2_x4_agree_within_both_spreads_frac": round(float(np.mean([g["agree_within_both_spreads"] for g in high])), 3),
            "gain_x2_x4_agree_within_2_sem_frac": round(float(np.mean([g["agree_within_2_sem"] for g in high])), 3),
            "gain_x2_x4_all_within_both_spreads": bool(all(g["agree_within_both_spreads"] for g in high)),
        },
    }
    for row in cells + gains:
        row.pop("_a"), row.pop("_f")
    return summary


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
