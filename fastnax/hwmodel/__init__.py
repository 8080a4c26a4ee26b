"""The analytical IMC hardware model: presets, layer-to-crossbar mapping, costs, non-idealities.

>>> from fastnax import hwmodel, spaces
>>> space = spaces.get("imc")
>>> cost = hwmodel.get_preset("puma-32nm").evaluate(space.layer_table([space.baseline("resnet20")]))
>>> cost.edap.shape
(1,)

Every cost is vectorized over a batch of architectures (a :class:`fastnax.arch.LayerTable`), so
the search prices millions of candidates per second without a simulator.
"""

from __future__ import annotations

import numpy as np

from fastnax.hwmodel.export import export_neurosim, neurosim_rows
from fastnax.hwmodel.model import (AdcSpec, BufferSpec, Cost, CrossbarSpec, DacSpec, HardwareModel,
                                   PeripherySpec, ScheduleSpec)
from fastnax.hwmodel.nonideal import NonIdeality
from fastnax.hwmodel.presets import get_preset, presets


def layer_noise_sigma(arch, model: HardwareModel | str | None = None,
                      nonideality: NonIdeality | None = None) -> np.ndarray:
    """Effective relative weight-noise sigma of each weight layer of ``arch``.

    Parameters
    ----------
    arch : Architecture or str
    model : HardwareModel or preset name, optional
        Default ``puma-32nm``.
    nonideality : NonIdeality, optional
        Default: the model's own.

    Returns
    -------
    ndarray of shape (len(arch.weight_layers),)
        Sigma relative to each layer's max |w|, in ``arch.weight_layers`` order.
    """
    from fastnax.arch import Architecture

    if isinstance(arch, str):
        arch = Architecture.from_string(arch)
    model = get_preset("puma-32nm" if model is None else model)
    cost = model.evaluate_archs([arch], nonideality)
    n_layers = len(arch.weight_layers)
    return np.asarray(cost.noise_sigma[0, :n_layers], dtype=np.float64)


__all__ = ["AdcSpec", "BufferSpec", "Cost", "CrossbarSpec", "DacSpec", "HardwareModel", "NonIdeality",
           "PeripherySpec", "ScheduleSpec", "export_neurosim", "get_preset", "layer_noise_sigma",
           "neurosim_rows", "presets"]
