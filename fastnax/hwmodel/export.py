"""Export an architecture for DNN+NeuroSim, so any result can be re-checked in the simulator.

DNN+NeuroSim reads a network as a headerless CSV (``NetWork_*.csv``), one line per weight layer:
input height, input width, input channels, kernel height, kernel width, output channels, a pooling
flag (1 when a pooling layer follows) and the stride. Fully-connected layers are 1x1 "convolutions"
on a 1x1 input whose channels are the input features.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastnax.arch import Architecture
from fastnax.errors import ArchitectureError


def neurosim_rows(arch: Architecture) -> list[tuple[int, ...]]:
    """The NetWork.csv rows of an architecture, in ``arch.weight_layers`` order."""
    if isinstance(arch, str):
        arch = Architecture.from_string(arch)
    if not isinstance(arch, Architecture):
        raise ArchitectureError(f"expected an Architecture, got {type(arch).__name__}")
    layers = arch.layers
    pooled = set()
    for layer in layers:
        if layer.op in ("maxpool", "avgpool"):
            pooled.update(layer.inputs)
    rows = []
    for i, layer in enumerate(layers):
        if not layer.has_weights:
            continue
        h, w = layer.in_hw if layer.op == "conv" else (1, 1)
        rows.append((int(h), int(w), int(layer.c_in), int(layer.kernel), int(layer.kernel),
                     int(layer.c_out), 1 if i in pooled else 0, int(layer.stride)))
    return rows


def export_neurosim(arch: Architecture, path: str | os.PathLike) -> Path:
    """Write the DNN+NeuroSim layer CSV of ``arch`` to ``path`` (atomically); returns the path."""
    rows = neurosim_rows(arch)
    text = "".join(",".join(str(v) for v in row) + "\n" for row in rows)
    from fastnax.io import atomic_write_text

    return atomic_write_text(Path(path), text)
