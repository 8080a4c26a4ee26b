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


def check_records_out(path, space: str, dataset: str, epochs: int) -> int:
    """Check an existing records file before sampling appends to it; returns its record count.

    Refused in one line (:class:`~fastnax.errors.RecordsError`): records of another space or
    dataset (a predictor fitted on the file would mix them). Warned in one line: records of other
    epochs (a budget the predictor's target then mixes). Records of other seeds are fine: runs
    with several seeds add candidates to one file.
    """
    import logging
    from pathlib import Path

    from fastnax.datasets.records import read_records
    from fastnax.errors import RecordsError

    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    if data.count(b"\n") - (1 if path.suffix.lower() == ".csv" else 0) <= 0:
        return 0  # empty, or a header alone: nothing to mix with
    records = read_records(path)
    others = sorted({(r.space, r.dataset) for r in records} - {(space, dataset)})
    if others:
        held = ", ".join(f"{s}/{d}" for s, d in others)
        raise RecordsError(f"--out {str(path)!r} already holds {len(records)} records of {held} (space/dataset); "
                           f"this run samples {space}/{dataset}: give another --out")
    epoch_counts = sorted({r.epochs for r in records} - {int(epochs)})
    if epoch_counts:
        logging.getLogger("fastnax").warning(
            "--out %s holds records trained for %s epochs; this run trains for %d: the file will mix budgets",
            path, "/".join(map(str, epoch_counts)), int(epochs))
    return len(records)
