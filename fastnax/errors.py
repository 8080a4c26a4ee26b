"""The one error family of fastnax.

Every user error (bad option, malformed string, out-of-range field, unreadable file) raises a
subclass of :class:`FastnaxError`, itself a :class:`ValueError`, with a one-line message that names
what was wrong and what is valid. The command line prints that line and exits non-zero.
"""

from __future__ import annotations

from collections.abc import Iterable


class FastnaxError(ValueError):
    """Base class of every error fastnax raises for bad input."""


class UnknownNameError(FastnaxError):
    """A name (space, preset, objective, method, dataset, ...) that fastnax does not know."""


class ArchitectureError(FastnaxError):
    """A malformed architecture string or an architecture outside its space."""


class BoundsError(FastnaxError):
    """A vector or value outside the bounds of its domain."""


class RecordsError(FastnaxError):
    """A records file that is missing, malformed, empty or of another space."""


class PredictorFileError(FastnaxError):
    """A predictor file that is malformed, untrusted or of another feature set."""


class DatasetError(FastnaxError):
    """A dataset that is missing files or malformed."""


class HardwareError(FastnaxError):
    """A hardware model field that is out of range."""


def unknown(kind: str, name: object, valid: Iterable[str]) -> UnknownNameError:
    """Build the standard 'unknown X' error that lists the valid names."""
    return UnknownNameError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(valid))}")
