"""The analytical IMC hardware model: presets, layer-to-crossbar mapping, costs, non-idealities.

>>> from fastnax import hwmodel, spaces
>>> space = spaces.get("imc")
>>> cost = hwmodel.get_preset("puma-32nm").evaluate(space.layer_table([space.baseline("resnet20")]))
>>> cost.edap.shape
(1,)

Every cost is vectorized over a batch of architectures (a :class:`fastnax.arch.LayerTable`), so
the search prices millions of candidates per second without a simulator.

Modules, one concern each (imports run down this list, never up):

- ``specs`` (the parts as frozen, validated dataclasses) and ``nonideal`` (non-idealities, the
  noise-sigma formulas, the per-cell simulation, the registry of named configurations whose
  built-in, sourced members are in ``nonideal_presets``: ``get_nonideality``, ``nonidealities``);
- ``tables`` (checks of a layer table), ``breakdown`` (:class:`Cost`, the per-layer arrays),
  ``_fastpath`` (the buffered totals), ``mapping`` (mapping conventions other than the engine's:
  :class:`MappingSpec` and their formulas) and ``engine`` (the cost formulas, :func:`engine.evaluate`);
- ``model`` (:class:`HardwareModel`: overrides, files, serialisation, the preset registry) and
  ``presets`` (the built-in presets, registered on import);
- ``export`` (DNN+NeuroSim network files) and ``importer`` (any torch or ONNX network as a layer
  table: :func:`layer_table_from_torch`; torch and onnx are imported inside its functions only).
"""

from __future__ import annotations

import numpy as np

from fastnax.arch import Architecture
# the named non-idealities first: a NonIdeality built without a name (the hardware presets' ones)
# takes the name of the registered configuration it equals
from fastnax.hwmodel import nonideal_presets as _builtin_nonideal  # noqa: F401  (registers them)
from fastnax.hwmodel import presets as _builtin  # noqa: F401  (registers the built-in presets)
from fastnax.hwmodel.breakdown import Cost
from fastnax.hwmodel.export import export_neurosim, neurosim_rows
from fastnax.hwmodel.importer import (import_onnx, import_torch, layer_table_from_onnx,  # torch/onnx
                                   layer_table_from_torch)  # imported lazily, inside
from fastnax.hwmodel.mapping import MappingSpec
from fastnax.hwmodel.model import HardwareModel, get_preset, presets, register_preset
from fastnax.hwmodel.nonideal import (NonIdeality, get_nonideality, nonideality_from_file, nonidealities,
                                      register_nonideality)
from fastnax.hwmodel.specs import AdcSpec, BufferSpec, CrossbarSpec, DacSpec, PeripherySpec, ScheduleSpec


def layer_noise_sigma(arch, model: HardwareModel | str | None = None,
                      nonideality: NonIdeality | str | None = None) -> np.ndarray:
    """Effective relative weight-noise sigma of each weight layer of ``arch``.

    Parameters
    ----------
    arch : Architecture or str
    model : HardwareModel or preset name, optional
        Default ``puma-32nm``.
    nonideality : NonIdeality or str, optional
        A configuration, a registered name (:func:`nonidealities`) or a TOML/JSON file;
        default: the model's own.

    Returns
    -------
    ndarray of shape (len(arch.weight_layers),)
        Sigma relative to each layer's max |w|, in ``arch.weight_layers`` order.
    """
    if isinstance(arch, str):
        arch = Architecture.from_string(arch)
    model = get_preset("puma-32nm" if model is None else model)
    if nonideality is not None:
        nonideality = get_nonideality(nonideality)
    cost = model.evaluate_archs([arch], nonideality)
    n_layers = len(arch.weight_layers)
    return np.asarray(cost.noise_sigma[0, :n_layers], dtype=np.float64)


def with_nonideality(model: HardwareModel | str, nonideality: NonIdeality | str | None) -> HardwareModel:
    """``model`` read under another non-ideality configuration, named ``MODEL+NONIDEALITY``.

    Parameters
    ----------
    model : HardwareModel or preset name
    nonideality : NonIdeality, registered name (:func:`nonidealities`), TOML/JSON file, or None
        (the model's own)

    Returns
    -------
    HardwareModel
        ``model`` itself when its own non-ideality is that one; otherwise a copy whose
        ``nonideality`` is it (its name, and every constant, then stored by ``to_dict``).
    """
    import dataclasses

    model = get_preset(model)
    if nonideality is None:
        return model
    ni = get_nonideality(nonideality)
    if ni == model.nonideality:
        return model
    return dataclasses.replace(model, nonideality=ni, name=f"{model.name}+{ni.name}")


def chips_name(model: HardwareModel | str) -> str:
    """The name of a model's simulated chips: ``PRESET+NONIDEALITY``, what records of accuracy
    under non-idealities store as ``hardware`` (``puma-32nm+rram-wan2022-1d`` for ``puma-32nm``
    itself; a name that already ends in its non-ideality's, ``puma-32nm+pcm-aihwkit``, as it is)."""
    model = get_preset(model)
    ni = model.nonideality.name
    return model.name if model.name.endswith(f"+{ni}") else f"{model.name}+{ni}"


def measured_nonideality(chips, model: HardwareModel | str) -> str | None:
    """The registered non-ideality under which records measured on ``chips`` (names
    ``PRESET+NONIDEALITY``) were all simulated on ``model``'s preset, when it is not the preset's
    own; else None (no records, several chips, another preset, an unregistered or the same one).
    What a search or a run takes by default so that its accuracy is the one on the chips it prices."""
    model = get_preset(model)
    chips = set(chips)
    if len(chips) != 1:
        return None
    (only,) = chips
    if not only.startswith(f"{model.name}+"):
        return None
    name = only[len(model.name) + 1:]
    return name if name in nonidealities() and name != model.nonideality.name else None


__all__ = ["AdcSpec", "BufferSpec", "Cost", "CrossbarSpec", "DacSpec", "HardwareModel", "MappingSpec",
           "NonIdeality", "PeripherySpec", "ScheduleSpec", "chips_name", "export_neurosim", "measured_nonideality", "get_nonideality",
           "get_preset", "import_onnx", "nonidealities", "nonideality_from_file", "register_nonideality",
           "import_torch", "layer_noise_sigma", "layer_table_from_onnx", "layer_table_from_torch",
           "neurosim_rows", "presets", "register_preset", "with_nonideality"]
