"""argparse ``type=`` checks, so a bad option is refused in one line before any work starts.

argparse calls these while parsing; an ``argparse.ArgumentTypeError`` becomes the one-line usage
error of :class:`fastnax.commands.options.Parser` (``argument --lr: ...``, exit status 2). They
import nothing heavy: ``fastnax --help`` stays fast and torch-free.
"""

from __future__ import annotations

import argparse
import math
import re


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates, budgets in physical units)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (random seeds: NumPy's generators take 0 .. 2**32 - 1 and more)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (counts: epochs, candidates, batch sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


#: torch device strings fastnax trains on.
DEVICE = re.compile(r"^(cpu|cuda|cuda:\d+|mps)$")


def device_name(text: str) -> str:
    """A torch device string: ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (checked against the torch
    build only when training starts: :func:`resolve_device`)."""
    if not DEVICE.match(text.strip()):
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; expected cpu, cuda, cuda:N (e.g. cuda:0) or mps")
    return text.strip()


def resolve_device(text: str | None):
    """The ``torch.device`` for ``text`` (None: cuda when present, else cpu), or a one-line
    :class:`~fastnax.errors.BoundsError` when this torch cannot use it."""
    import torch

    from fastnax.errors import BoundsError

    if text is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        name = device_name(text)  # the same check when called from Python
    except argparse.ArgumentTypeError as exc:
        raise BoundsError(str(exc)) from None
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise BoundsError(f"device {name!r} is not available: this torch ({torch.__version__}) is {build} "
                              f"or sees no GPU; use --device cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise BoundsError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BoundsError("device 'mps' is not available (Apple GPUs only); use --device cpu")
    return torch.device(name)


def records_path(text: str) -> str:
    """A records file name with a records extension (``.jsonl``, ``.json``, ``.csv``)."""
    from pathlib import Path

    from fastnax.datasets.records import FORMATS

    suffix = Path(text).suffix.lower()
    if suffix not in FORMATS:
        raise argparse.ArgumentTypeError(f"records file {text!r} has extension {Path(text).suffix!r}; expected "
                                         f"one of: {', '.join(FORMATS)}")
    return text
