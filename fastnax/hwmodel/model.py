"""The hardware model as configuration: :class:`HardwareModel`, its presets, overrides and files.

A :class:`HardwareModel` is a frozen dataclass of documented constants (the parts in
:mod:`fastnax.hwmodel.specs`, the non-idealities in :mod:`fastnax.hwmodel.nonideal`); its
``evaluate`` hands the pricing to the engine (:mod:`fastnax.hwmodel.engine`), which reads the
fields and nothing else. Named models live in a registry (:func:`register_preset`,
:func:`get_preset`, :func:`presets`); the built-in ones are registered by
:mod:`fastnax.hwmodel.presets`.

Honesty rules, so that a result that names its hardware is the hardware it was priced on:

- a changed model says so in its name: :meth:`HardwareModel.with_overrides` appends
  ``+overrides``, :meth:`HardwareModel.from_file` gives ``BASE+FILE`` (``puma-32nm+my_chip.toml``),
  and a model that carries a registered preset's name with other constants (made with
  ``dataclasses.replace``) is renamed ``NAME+modified``;
- :meth:`HardwareModel.to_dict` holds every field (:meth:`HardwareModel.from_dict` reads it back),
  so a result can store the model it used;
- overriding a field that no formula reads under the model's configuration
  (:meth:`HardwareModel.unread_fields`: the documentation fields ``technology_nm`` and
  ``clock_ghz``; ``adc.bits`` unless ``adc.rule`` is ``fixed``; the drift spread when the model is
  read before any drift) is refused, never silently ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from fastnax.arch import Architecture, LayerTable
from fastnax.errors import HardwareError, unknown
from fastnax.hwmodel import engine
from fastnax.hwmodel.breakdown import Cost
from fastnax.hwmodel.mapping import MappingSpec
from fastnax.hwmodel.nonideal import NonIdeality
from fastnax.hwmodel.specs import (SPECS, AdcSpec, BufferSpec, CrossbarSpec, DacSpec, PeripherySpec,
                                   ScheduleSpec, check_number)

#: The nested tables of a model (a TOML table or JSON object each in a model file).
TABLES = {**SPECS, "mapping": MappingSpec, "nonideality": NonIdeality}

#: Numeric fields that document where a preset's constants come from; no formula reads them.
DOCUMENTATION_FIELDS = ("technology_nm", "clock_ghz")

_PRESETS: dict[str, HardwareModel] = {}


@dataclass(frozen=True)
class HardwareModel:
    """An IMC accelerator as documented constants; ``evaluate`` prices a batch of networks.

    Build one with :func:`get_preset`, change fields with :meth:`with_overrides` or
    ``dataclasses.replace`` (nested: ``replace(m, adc=replace(m.adc, bits=4))``), load one with
    :meth:`from_file` or :meth:`from_dict`.
    """

    name: str
    """Preset name (or a user name); a changed model says so (see the module docstring)."""

    crossbar: CrossbarSpec
    adc: AdcSpec = field(default_factory=AdcSpec)
    dac: DacSpec = field(default_factory=DacSpec)
    periphery: PeripherySpec = field(default_factory=PeripherySpec)
    buffer: BufferSpec = field(default_factory=BufferSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    mapping: MappingSpec = field(default_factory=MappingSpec)
    """Layer-to-crossbar mapping conventions (:mod:`fastnax.hwmodel.mapping`); the defaults are
    the engine's own (every preset before ``mnsim2``)."""
    nonideality: NonIdeality = field(default_factory=NonIdeality)
    """Default non-idealities of the technology (used when ``evaluate`` gets none)."""

    technology_nm: float = 32.0
    """Process node, nm. Documentation: no formula reads it (the constants are those of this node)."""

    clock_ghz: float = 1.0
    """Clock frequency, GHz. Documentation: no formula reads it (the constants are in ns and pJ)."""

    description: str = ""
    """Where the constants come from."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise HardwareError(f"HardwareModel.name must be a string, got {self.name!r}")
        for key, cls in TABLES.items():
            if not isinstance(getattr(self, key), cls):
                raise HardwareError(f"HardwareModel.{key} must be a {cls.__name__}, got "
                                    f"{type(getattr(self, key)).__name__}")
        for name in DOCUMENTATION_FIELDS:
            check_number("HardwareModel", name, getattr(self, name), strict=True)
        registered = _PRESETS.get(self.name)
        if registered is not None and registered != self:  # a preset's name on other constants
            object.__setattr__(self, "name", f"{self.name}+modified")

    # --- pricing (the engine) ---------------------------------------------------------------
    def evaluate(self, table: LayerTable, nonideality: NonIdeality | None = None) -> Cost:
        """Price every architecture of a layer table.

        Parameters
        ----------
        table : LayerTable
            ``n_archs`` architectures, ``n_slots`` weight-layer slots (padded slots hold zeros).
        nonideality : NonIdeality, optional
            Non-idealities for the noise sigma (default: the model's own).

        Returns
        -------
        Cost
            Totals of shape (n_archs,) are computed at once; the per-layer arrays of shape
            (n_archs, n_slots) on first access (the search reads only totals).
        """
        return engine.evaluate(self, table, nonideality)

    def evaluate_archs(self, archs, nonideality: NonIdeality | None = None) -> Cost:
        """:meth:`evaluate` of architectures (or their strings), through ``LayerTable.from_architectures``."""
        if isinstance(archs, (Architecture, str)):
            archs = [archs]
        archs = [Architecture.from_string(a) if isinstance(a, str) else a for a in archs]
        return self.evaluate(LayerTable.from_architectures(archs), nonideality)

    def adc_bits(self, crossbar_size, cell_bits, adc_rule) -> np.ndarray:
        """ADC resolution per layer (vectorized; arguments broadcast). ``adc_rule`` indexes
        :data:`fastnax.arch.ADC_RULES`."""
        return engine.adc_bits(self, crossbar_size, cell_bits, adc_rule)

    # --- what the formulas read -------------------------------------------------------------
    def unread_fields(self) -> tuple[str, ...]:
        """Dotted names of the numeric fields that no formula reads under this configuration."""
        unread = list(DOCUMENTATION_FIELDS)
        if self.adc.rule != "fixed":
            unread.append("adc.bits")
        if not self.nonideality.drift_time_s > self.nonideality.drift_t0_s:
            unread.append("nonideality.drift_nu_sigma")
        unread += self.mapping.unread_fields()
        return tuple(unread)

    # --- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain nested dict of every field (JSON-ready); :meth:`from_dict` reads it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HardwareModel:
        """The model a :meth:`to_dict` dict describes (every field checked, unknown ones refused)."""
        if not isinstance(data, dict):
            raise HardwareError(f"a hardware model must be a table/object of fields, got {type(data).__name__}")
        valid = [f.name for f in fields(cls)]
        for key in data:
            if key not in valid:
                raise unknown("hardware model field", key, valid)
        for key in ("name", "crossbar"):
            if key not in data:
                raise HardwareError(f"a hardware model needs the field {key!r}")
        kwargs = {key: _table(key, value) if key in TABLES else value for key, value in data.items()}
        return cls(**kwargs)

    # --- building ---------------------------------------------------------------------------
    def with_overrides(self, overrides: dict) -> HardwareModel:
        """A copy with fields replaced from a nested dict (``{"adc": {"rule": "fixed", "bits": 4}}``).

        The copy is named ``NAME+overrides`` unless ``overrides`` names it. Unknown fields, bad
        values and fields the copy would not read (:meth:`unread_fields`) raise HardwareError.
        """
        if not isinstance(overrides, dict):
            raise HardwareError(f"hardware overrides must be a table/object, got {type(overrides).__name__}")
        top = [f.name for f in fields(self)]
        changes: dict[str, Any] = {}
        touched: list[str] = []
        for key, value in overrides.items():
            if key not in top:
                raise unknown("hardware model field", key, top)
            if key in TABLES:
                changes[key] = _table(key, value, base=getattr(self, key))
                touched += [f"{key}.{sub}" for sub in value]
            else:
                changes[key] = value
                touched.append(key)
        if not changes:
            return self
        if "name" not in changes:
            changes["name"] = self.name if self.name.endswith("+overrides") else f"{self.name}+overrides"
        model = dataclasses.replace(self, **changes)
        unread = model.unread_fields()
        for name in touched:
            if name in unread:
                raise HardwareError(_unread_message(name, model))
        return model

    @classmethod
    def from_file(cls, path: str | Path) -> HardwareModel:
        """Load a model from a TOML or JSON file.

        The file names a ``base`` preset (default ``puma-32nm``) and overrides any of its fields,
        top-level or in the nested tables ``crossbar``, ``adc``, ``dac``, ``periphery``,
        ``buffer``, ``schedule``, ``nonideality``; the model is named ``BASE+FILE`` unless the file
        gives a ``name``. Example (TOML)::

            base = "neurosim-22nm-rram"
            name = "my-chip"
            [adc]
            bits = 4
        """
        data = _read_model_file(Path(path))
        base = data.pop("base", "puma-32nm")
        if not isinstance(base, str):
            raise HardwareError(f"hardware model file {path}: base must be a preset name, got {base!r}")
        data.setdefault("name", f"{base}+{Path(path).name}")
        return get_preset(base).with_overrides(data)


# --- the registry ------------------------------------------------------------------------------------
def register_preset(model: HardwareModel) -> HardwareModel:
    """Make ``model`` available as ``get_preset(model.name)`` (and in ``fastnax --preset``)."""
    if not isinstance(model, HardwareModel):
        raise HardwareError(f"register_preset needs a HardwareModel, got {type(model).__name__}")
    if _PRESETS.get(model.name, model) != model:
        raise HardwareError(f"a different preset is already registered as {model.name!r}")
    _PRESETS[model.name] = model
    return model


def presets() -> list[str]:
    """Names of the registered hardware presets (the built-in ones and any registered since)."""
    return sorted(_PRESETS)


def get_preset(name: str | HardwareModel) -> HardwareModel:
    """The preset called ``name`` (a frozen :class:`HardwareModel`); a model is returned as is."""
    if isinstance(name, HardwareModel):
        return name
    if name not in _PRESETS:
        raise unknown("preset", name, _PRESETS)
    return _PRESETS[name]


# --- helpers -------------------------------------------------------------------------------------------
def _table(key: str, value, base=None):
    """The spec of table ``key`` built from the dict ``value`` (over ``base`` when given)."""
    if not isinstance(value, dict):
        raise HardwareError(f"hardware field {key!r} must be a table of fields, got {value!r}")
    spec = TABLES[key]
    valid = [f.name for f in fields(spec)]
    for sub in value:
        if sub not in valid:
            raise unknown(f"field of {key}", sub, valid)
    try:
        return dataclasses.replace(base, **value) if base is not None else spec(**value)
    except TypeError as exc:
        raise HardwareError(f"bad hardware field in {key!r}: {exc}") from None


def _unread_message(name: str, model: HardwareModel) -> str:
    if name == "mapping.transfer_hops" and model.mapping.placement == "spiral":
        return ("hardware field 'mapping.transfer_hops' is not read under mapping.placement = 'spiral' "
                "(the placement gives every layer its hops); set placement = 'block' as well, or remove it")
    if name in ("mapping.mesh_tiles", "mapping.hop_latency_ns"):
        return (f"hardware field {name!r} is read only with mapping.placement = 'spiral'; set it as "
                f"well, or remove {name}")
    if name in ("mapping.pool_latency_ns", "mapping.pool_units", "mapping.pool_window", "mapping.add_latency_ns"):
        return (f"hardware field {name!r} is read only with mapping.pipeline = 'pixel'; set it as well, "
                f"or remove {name}")
    if name == "mapping.transfer_hops" and model.mapping.crossbars_per_tile:
        return ("hardware field 'mapping.transfer_hops' is read only with an inter-tile bandwidth; set "
                "mapping.transfer_bits_per_ns > 0 as well, or remove it")
    if name.startswith("mapping."):
        return (f"hardware field {name!r} is read only with tiles; set mapping.crossbars_per_tile > 0 "
                f"as well, or remove it")
    if name in DOCUMENTATION_FIELDS:
        return (f"hardware field {name!r} is documentation and no formula reads it (the constants "
                f"are already those of the node, in pJ, ns and mm^2); remove it, or say it in "
                f"'description'")
    if name == "adc.bits":
        return (f"hardware field 'adc.bits' is read only under adc.rule = 'fixed', and this model's "
                f"rule is {model.adc.rule!r} (bits from the partial-sum size); set adc.rule = "
                f"'fixed' as well, or remove adc.bits")
    return (f"hardware field {name!r} is not read: the model is read at drift_time_s = "
            f"{model.nonideality.drift_time_s:g} s, before any drift (drift_t0_s = "
            f"{model.nonideality.drift_t0_s:g} s); set drift_time_s > drift_t0_s, or remove it")


def _read_model_file(path: Path) -> dict:
    from fastnax.hwmodel.specs import read_table_file

    return read_table_file(path, "hardware model")
