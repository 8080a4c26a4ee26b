"""Training and evaluation loops (plain torch; CUDA when present, CPU otherwise).

Images stay on the device in their stored dtype (uint8 or float32) and are scaled to [0, 1] per
batch; augmentation (random crop with zero padding, horizontal flip) is plain tensor indexing, so
torchvision is not needed. All randomness of a run (initialisation, shuffling, augmentation,
training noise) comes from one seed: the loop runs inside ``torch.random.fork_rng`` with
``torch.manual_seed(seed)`` and draws shuffles from a ``torch.Generator`` seeded from it, so the same
call gives the same network on CPU and leaves the caller's RNG state alone.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fastnax.errors import BoundsError
from fastnax.train.noise import frozen_noise, noise_scale, noisy_layers, nonideal

#: Augmentation per dataset: (crop padding in pixels, horizontal flip). Digits are not flipped
#: (a mirrored 2 is not a 2); CIFAR and Tiny ImageNet use the standard pad-4 / pad-8 crop and flip.
AUGMENT = {"digits": (1, False), "mnist": (2, False), "cifar10": (4, True), "cifar100": (4, True),
           "tinyimagenet": (8, True), "synthetic": (0, False)}


def default_device() -> torch.device:
    """CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TensorSplit:
    x: torch.Tensor  # (n, C, H, W) uint8 or float32, on the device
    y: torch.Tensor  # (n,) int64

    def __len__(self) -> int:
        return int(self.y.shape[0])


def to_tensors(x: np.ndarray, y: np.ndarray, device) -> TensorSplit:
    # a read-only array (joblib hands parallel sampling workers memory-mapped images) is copied:
    # a tensor sharing it would be writable over memory that is not
    x = np.ascontiguousarray(x) if x.flags.writeable else np.array(x, order="C")
    return TensorSplit(torch.as_tensor(x).to(device),
                       torch.as_tensor(np.asarray(y, dtype=np.int64)).to(device))


def as_float(x: torch.Tensor) -> torch.Tensor:
    """A batch of images in [0, 1] as float32 (uint8 images are divided by 255)."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (arrays of shape (C,)) of images (n, C, H, W) scaled to [0, 1]."""
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    mean = np.zeros(x.shape[1])
    sq = np.zeros(x.shape[1])
    for start in range(0, len(x), 4096):  # chunks: CIFAR as float64 at once is 1.2 GB
        chunk = x[start:start + 4096].astype(np.float64) / scale
        mean += chunk.sum(axis=(0, 2, 3))
        sq += (chunk ** 2).sum(axis=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean /= count
    std = np.sqrt(np.maximum(sq / count - mean ** 2, 0.0))
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def augment_batch(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip of a float batch (n, C, H, W)."""
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # (n, h)
        cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # (n, w)
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(x.shape[1], device=x.device)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]]
    if flip:
        mask = torch.rand(n, generator=generator, device=generator.device) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _batches(n: int, batch_size: int, generator: torch.Generator | None, drop_small: bool):
    order = (torch.randperm(n, generator=generator, device=generator.device)
             if generator is not None else torch.arange(n))
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if drop_small and len(idx) < 2:  # batch norm needs two samples
            continue
        yield idx


@torch.no_grad()
def accuracy(model: nn.Module, split: TensorSplit, batch_size: int = 512) -> float:
    """Top-1 accuracy in percent of ``model`` (in eval mode) on a split."""
    model.eval()
    correct = 0
    for idx in _batches(len(split), batch_size, None, False):
        xb = as_float(split.x[idx.to(split.x.device)])
        correct += int((model(xb).argmax(1) == split.y[idx.to(split.y.device)]).sum())
    return 100.0 * correct / max(len(split), 1)


def _split_of(data, which: str, device) -> TensorSplit:
    if isinstance(data, TensorSplit):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        if isinstance(x, torch.Tensor):
            return TensorSplit(x.to(device), y.to(device))
        return to_tensors(x, y, device)
    return to_tensors(getattr(data, f"x_{which}"), getattr(data, f"y_{which}"), device)


def evaluate(model: nn.Module, data, noise_trials: int = 5, seed: int = 0, batch_size: int = 128,
             device=None, scale: float = 1.0, recalibrate: bool | None = None,
             calibration_images: int | None = 2048, chip_calibration_images: int | None = 512,
             chip_calibration: str = "chip") -> dict:
    """Clean accuracy and accuracy under the crossbar non-idealities.

    Cost: one pass over the test split for the clean accuracy, one per chip, and the batch-norm
    calibration passes (``calibration_images`` once, ``chip_calibration_images`` per chip, in
    training mode); with the defaults and a 10,000-image test split, about ``1.3 + 1.1 K`` to
    ``1.5 + 1.4 K`` clean passes for ``K`` chips on a CPU (two machines of one kind, idle and
    loaded), a chip's pass costing more than a clean one by its input and ADC quantization
    (``benchmarks/train_cifar10_speed.py`` measures it).

    Parameters
    ----------
    model : nn.Module
        A network with noise-aware layers (``build_model`` or ``convert_to_noisy``).
    data : ImageDataset, (x, y) arrays or tensors
        For a dataset, its test split is used. Images in [0, 1] (float) or 0..255 (uint8).
    noise_trials : int
        Number K of independent chips: trial ``t`` programs the network once (cells perturbed,
        stuck-at faults, Gaussian weight noise at each layer's sigma, weight quantization; see
        :func:`fastnax.train.noise.frozen_noise`) from a ``torch.Generator`` seeded with
        ``seed * 1_000_003 + t`` and keeps that draw over the whole split (with input and ADC
        quantization). The same ``seed`` gives the same chips to every network of the same
        architecture.
    batch_size : int
        Test images per forward pass (the input and ADC ranges are each batch's own).
    scale : float
        Every noise figure times ``scale`` (1: the hardware model's non-idealities).
    recalibrate : bool, optional
        Re-estimate the batch-norm statistics on training images before each measurement, the
        way a deployed network is calibrated: without non-idealities on ``calibration_images``
        of them for the clean accuracy, and for each chip, once it is programmed, through that
        chip (its frozen weights, input and ADC quantization) on ``chip_calibration_images`` of
        them, so each chip is normalized with the statistics it produces itself. The model's own
        statistics are restored afterwards. Default: True when ``data`` has a training split
        (an ``ImageDataset``).
    calibration_images, chip_calibration_images : int or None
        Training images of the clean and of each chip's calibration (a subset seeded with
        ``seed``, the same for every chip; None or more than the split: all of it).
    chip_calibration : {'chip', 'shared'}
        ``'chip'`` (default): each chip is calibrated through itself, as above. ``'shared'``:
        one calibration for every chip, with the non-idealities on and a fresh draw every batch
        (at ``scale``, never the evaluated chips), on ``chip_calibration_images`` images: the
        statistics averaged over the noise, a chip that cannot be calibrated after programming
        (fastnax <= 0.1's evaluation, with both image counts None). Per-chip calibration
        recovers much of the damage: a plain ResNet-20 on digits, 15 epochs, 10 chips, 96.2 %
        under non-idealities calibrated per chip against 86.4 % shared (clean 98.9 %).

    Returns
    -------
    dict
        ``accuracy_clean`` (percent, no non-ideality), ``accuracy_noisy_mean``,
        ``accuracy_noisy_std`` (percent, over the K trials), ``accuracy_noisy_trials`` (list of K),
        ``noise_trials``.
    """
    if int(noise_trials) < 0:
        raise BoundsError(f"noise_trials must be >= 0, got {noise_trials}")
    if chip_calibration not in ("chip", "shared"):
        raise BoundsError(f"chip_calibration must be 'chip' or 'shared', got {chip_calibration!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    split = _split_of(data, "test", device)
    if recalibrate is None:
        recalibrate = hasattr(data, "x_train")
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [{k: v.clone() for k, v in m.state_dict().items()} for m in bns]
    try:
        if recalibrate:
            calib = _split_of(data, "train", device)
            clean_calib = _calibration_subset(calib, calibration_images, seed)
            chip_calib = _calibration_subset(calib, chip_calibration_images, seed)
            recalibrate_batch_norm(model, clean_calib, device=device)
        with nonideal(model, False):
            clean = accuracy(model, split, batch_size)
        trials = []
        per_chip = recalibrate and chip_calibration == "chip"
        if recalibrate and not per_chip and int(noise_trials) > 0:
            with noise_scale(model, scale):
                recalibrate_batch_norm(model, chip_calib, device=device, noisy=True, seed=int(seed) + 1)
        for t in range(int(noise_trials)):
            gen = torch.Generator(device=device)
            gen.manual_seed(int(seed) * 1_000_003 + t)
            with noise_scale(model, scale), frozen_noise(model, gen):
                if per_chip:
                    recalibrate_batch_norm(model, chip_calib, device=device, noisy=None)
                trials.append(accuracy(model, split, batch_size))
    finally:
        for m, state in zip(bns, saved):
            m.load_state_dict(state)
    arr = np.asarray(trials, dtype=float)
    return {"accuracy_clean": clean,
            "accuracy_noisy_mean": float(arr.mean()) if len(arr) else float("nan"),
            "accuracy_noisy_std": float(arr.std()) if len(arr) else float("nan"),
            "accuracy_noisy_trials": [float(a) for a in arr], "noise_trials": int(noise_trials)}


def _calibration_subset(split: TensorSplit, limit: int | None, seed: int) -> TensorSplit:
    """``limit`` images of ``split`` (a seeded subset, kept in split order), or all of it."""
    n = len(split)
    if limit is None or int(limit) >= n:
        return split
    if int(limit) < 2:
        raise BoundsError(f"calibration needs at least 2 images, got {limit}")
    keep = np.sort(np.random.default_rng([int(seed), 7717]).permutation(n)[:int(limit)])
    idx = torch.as_tensor(keep, device=split.x.device)
    return TensorSplit(split.x[idx], split.y[idx.to(split.y.device)])


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes
    ----------
    epochs : int
    batch_size : int
    lr : float
        Peak learning rate of SGD with Nesterov momentum 0.9 (one-cycle: linear warm-up over the
        first ``warmup`` fraction of steps, cosine decay to zero).
    weight_decay : float
    noise_aware : bool
        Train with the non-idealities on (weight noise, quantization) in every forward pass.
    augment : (int, bool) or None
        (crop padding, horizontal flip); None: the dataset's default from :data:`AUGMENT`.
    label_smoothing : float
    train_noise_scale : float
        Noise-aware training injects every noise figure times this (a little more noise than the
        hardware has, the habit of hardware-aware training: Joshi et al., Nat. Commun. 11, 2473,
        2020; aihwkit's ``InferenceRPUConfig`` trains at a larger ``out_noise`` / weight noise
        than it evaluates). A fresh draw every batch. Default 1.5 (chosen on a validation split
        held out of the digits training set among 1, 1.5, 2).
    weight_clip_sigma : float
        Noise-aware training clips every weight layer to ``+-weight_clip_sigma * std(w)`` after
        each step (aihwkit ``WeightClipType.LAYER_GAUSSIAN``): ``max|w|`` sets the level spacing
        and the noise, so a few outliers would waste levels. 0: no clipping. Default 2.5
        (aihwkit's usual value; on digits validation, 1.5x noise without clipping lost 8.8 points
        under non-idealities, with clipping 2.2).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    warmup: float = 0.15
    noise_aware: bool = False
    augment: tuple[int, bool] | None = None
    label_smoothing: float = 0.0
    train_noise_scale: float = 1.5
    weight_clip_sigma: float = 2.5


def make_optimizer(model: nn.Module, cfg: TrainConfig, steps_per_epoch: int):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=cfg.lr, momentum=0.9, nesterov=True)
    total = max(cfg.epochs * steps_per_epoch, 1)
    warm = max(int(cfg.warmup * total), 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min((step - warm) / max(total - warm, 1), 1.0)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return opt, sched


def train_model(model: nn.Module, data, cfg: TrainConfig, seed: int = 0, device=None,
                progress: Callable[[dict], None] | None = None,
                on_epoch_end: Callable[[int, dict], None] | None = None,
                resume: dict | None = None) -> dict:
    """Train ``model`` on ``data.x_train`` / ``data.y_train``.

    Parameters
    ----------
    model : ArchNetwork (or any module taking normalized-by-itself [0, 1] images)
    data : ImageDataset
    cfg : TrainConfig
    seed : int
        Seeds the shuffling, augmentation and training noise (the caller builds the model, so
        it seeds the initial weights: see :func:`fastnax.train.sample.train_candidate`).
    progress : callable(dict), optional
        Called after every epoch with ``epoch``, ``loss``, ``train_accuracy``, ``seconds``.
    on_epoch_end : callable(epoch, state), optional
        Called after every epoch with the state dict (``model``, ``optimizer``, ``scheduler``,
        ``epoch``, ``rng``) to checkpoint.
    resume : dict, optional
        A state from ``on_epoch_end`` to continue from.

    Returns
    -------
    dict
        ``train_seconds``, ``epochs``, ``history`` (per-epoch loss and train accuracy).
    """
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    if hasattr(model, "set_normalization") and resume is None:
        model.set_normalization(*channel_stats(data.x_train))
    pad, flip = cfg.augment if cfg.augment is not None else AUGMENT.get(getattr(data, "name", ""), (0, False))
    train = to_tensors(data.x_train, data.y_train, device)
    steps = max(math.ceil(len(train) / cfg.batch_size), 1)
    opt, sched = make_optimizer(model, cfg, steps)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    start_epoch, history = 0, []
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        start_epoch = int(resume["epoch"])
        history = list(resume.get("history", []))
        if "generator" in resume:
            gen.set_state(resume["generator"].cpu())
    devices = [device.index or 0] if device.type == "cuda" else []
    clip = float(cfg.weight_clip_sigma) if cfg.noise_aware else 0.0
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed) + 7919 * start_epoch)
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            total_loss, correct, seen = 0.0, 0, 0
            te = time.perf_counter()
            with nonideal(model, cfg.noise_aware), \
                    noise_scale(model, cfg.train_noise_scale if cfg.noise_aware else 1.0):
                for idx in _batches(len(train), cfg.batch_size, gen, True):
                    xb = as_float(train.x[idx])
                    yb = train.y[idx]
                    if pad or flip:
                        xb = augment_batch(xb, pad, flip, gen)
                    logits = model(xb)
                    loss = F.cross_entropy(logits, yb, label_smoothing=cfg.label_smoothing)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    if clip > 0:
                        clip_weights(model, clip)
                    total_loss += float(loss.detach()) * len(idx)
                    correct += int((logits.detach().argmax(1) == yb).sum())
                    seen += len(idx)
            row = {"epoch": epoch + 1, "loss": total_loss / max(seen, 1),
                   "train_accuracy": 100.0 * correct / max(seen, 1),
                   "seconds": time.perf_counter() - te}
            if not math.isfinite(row["loss"]):
                row["diverged"] = True
            history.append(row)
            if progress is not None:
                progress(row)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                         "scheduler": sched.state_dict(), "epoch": epoch + 1,
                                         "history": history, "generator": gen.get_state()})
    return {"train_seconds": time.perf_counter() - t0, "epochs": cfg.epochs, "history": history}


@torch.no_grad()
def clip_weights(model: nn.Module, n_sigma: float) -> None:
    """Clip every noise-aware layer's weight to ``+-n_sigma * std(w)`` of that layer, in place."""
    for layer in noisy_layers(model):
        w = layer.weight  # type: ignore[attr-defined]
        bound = float(n_sigma) * w.std()
        w.clamp_(-bound, bound)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, data, batch_size: int = 128, device=None,
                           noisy: bool | None = False, seed: int = 0) -> None:
    """Re-estimate every batch norm's running mean and variance over the training images.

    After a short training the running statistics (an exponential average with momentum 0.1 over
    a few dozen steps) lag the weights and evaluation sits near chance; one forward pass with
    cumulative averaging (``momentum=None``) gives the exact statistics of the final weights.
    ``data`` is an ``ImageDataset`` (its training split), an ``(x, y)`` pair or a
    :class:`TensorSplit`. With ``noisy`` True, the pass runs with the non-idealities on (a fresh
    draw per batch from a generator seeded with ``seed``): the statistics averaged over the
    noise; with ``noisy`` None, the layers stay as they are (inside
    :func:`~fastnax.train.noise.frozen_noise`: the statistics of that chip).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    device = torch.device(device) if device is not None else next(model.parameters()).device
    split = _split_of(data, "train", device)
    saved = [m.momentum for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    gen = None
    if noisy:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed) + 104729)
    try:
        with contextlib.nullcontext() if noisy is None else nonideal(model, noisy, gen):
            for idx in _batches(len(split), batch_size, None, True):
                model(as_float(split.x[idx.to(split.x.device)]))
    finally:
        for m, momentum in zip(bns, saved):
            m.momentum = momentum
        model.train(was_training)
