"""Predictor features from the hardware model: what the chips' noise does to each candidate.

A predictor of accuracy on a noisy chip (``accuracy_noisy``) sees the graph features, which hold
the four hardware knobs (weight, input and cell bits, ADC rule) but neither the crossbar sizes
nor what the hardware model makes of them together. :func:`sigma_mean` gives it that: the mean,
over a candidate's weight layers, of the relative weight-noise sigma that
:mod:`fastnax.hwmodel` assigns each layer on the records' own chips (``PRESET+NONIDEALITY``, the
chips the records' ``accuracy_noisy`` was measured on), which depends on every layer's crossbar
size and on the knobs. On the packaged records (``benchmarks/predictor_hardware_features.py``,
5-fold CV Kendall, 3 seeds) it lifts the ranking under non-idealities from 0.596 to 0.647
(CIFAR-10, 444 records) and from 0.400 to 0.453 (digits, 204), and leaves the clean accuracy's,
which the noise cannot explain, where it was (0.609 / 0.609, 0.434 / 0.440). The MAC-weighted
mean and the maximum over layers were weaker (0.621 and 0.624 on CIFAR-10).

A predictor fitted with these features (``XGBPredictor.fit_records(..., hardware=True)``,
``fastnax fit --hardware-features``) stores the chips in its sidecar (feature set
``fastnax.graph+hardware``), and a search computes the feature from each candidate alone, on
those chips whatever hardware the search prices (the accuracy is the records' chips'). Because it
depends on the crossbar sizes, the search gives every crossbar variant its own prediction.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from fastnax.errors import PredictorFileError

#: Names of the hardware feature columns, appended after the graph features.
NAMES = ("hardware:sigma_mean",)
#: The feature set kind of a predictor fitted on the graph features and these.
KIND = "fastnax.graph+hardware"


def feature_names() -> list[str]:
    """The graph feature names, then :data:`NAMES`: the columns of :func:`with_hardware`."""
    from fastnax import graph

    return graph.feature_names() + list(NAMES)


@lru_cache(maxsize=16)
def chips_models(chips: str):
    """(HardwareModel, NonIdeality) of a chips name ``PRESET+NONIDEALITY`` (a bare preset: its own
    non-ideality); :class:`PredictorFileError` when either is unknown."""
    from fastnax import hwmodel
    from fastnax.errors import FastnaxError

    if not isinstance(chips, str) or not chips:
        raise PredictorFileError(f"hardware features need the chips' name PRESET+NONIDEALITY, got {chips!r}")
    preset, _, nonideality = chips.partition("+")
    try:
        model = hwmodel.get_preset(preset)
        return model, hwmodel.get_nonideality(nonideality) if nonideality else model.nonideality
    except FastnaxError as exc:
        raise PredictorFileError(f"hardware features on chips {chips!r}: {exc}") from None


def sigma_mean(space, index: np.ndarray, chips: str, table=None) -> np.ndarray:
    """Mean relative weight-noise sigma (n,) over the weight layers of canonical rows ``index``.

    Each layer's sigma is the hardware model's for its crossbar size and the network's knobs on
    ``chips`` (``Cost.noise_sigma``); the row's value depends on that row alone (a padded slot
    reads 0 and is not counted). ``table``: the rows' ``space.layer_table_from_index(index)``
    when the caller has it (the evaluator prices the same table).
    """
    from fastnax.arch import KIND_PAD
    from fastnax.hwmodel.engine import Lookup

    index = np.asarray(index, dtype=np.int64)
    if not len(index):
        return np.zeros(0)
    model, nonideality = chips_models(chips)
    if table is None:
        table = space.layer_table_from_index(index)
    lut = Lookup(model, nonideality, table)
    sigma = lut.sigma.take(table.crossbar_size + lut.key_base[:, None])
    live = (table.kind != KIND_PAD).sum(axis=1)
    return sigma.sum(axis=1) / np.maximum(live, 1)


def with_hardware(space, index: np.ndarray, F: np.ndarray, chips: str, table=None) -> np.ndarray:
    """The graph features ``F`` (n, k) of rows ``index`` with the hardware columns appended."""
    return np.column_stack([np.asarray(F, dtype=float), sigma_mean(space, index, chips, table)])


def with_hardware_archs(archs, F: np.ndarray, chips: str) -> np.ndarray:
    """:func:`with_hardware` of architectures (one space's) whose graph features are ``F``."""
    from fastnax import spaces
    from fastnax.arch import Architecture

    archs = [Architecture.from_string(a) if isinstance(a, str) else a for a in archs]
    if not archs:
        return np.zeros((0, len(feature_names())))
    space = spaces.get(archs[0].space, **archs[0].option_dict)
    return with_hardware(space, space.to_index(space.encode(archs)), F, chips)


def hardware_inputs(chips: str):
    """``inputs(space, index, F, table=None)`` of an accuracy model whose predictor reads these features."""
    chips_models(chips)  # an unknown preset is refused when the model is made, not mid-search

    def inputs(space, index, F, table=None):
        return with_hardware(space, index, F, chips, table)

    inputs.chips = chips
    inputs.names = NAMES
    return inputs


def model_inputs(chips: str | None, desc: dict):
    """:func:`hardware_inputs` of ``chips`` (named in the accuracy model's description ``desc``),
    or None when the predictor reads no hardware feature (``chips`` None)."""
    if chips is None:
        return None
    desc["hardware_features"] = chips
    return hardware_inputs(chips)
