"""Search spaces: the mapping between architectures and the numeric vectors SciPy searches.

>>> from fastnax import spaces
>>> space = spaces.get("imc")                 # CIFAR-sized co-design macro space
>>> arch = space.baseline("resnet20")
>>> X = space.encode([arch]); space.decode(X)[0] == arch
True
"""

from __future__ import annotations

from fastnax.errors import BoundsError, unknown
from fastnax.spaces.base import SearchSpace
from fastnax.spaces.imc import ImcSpace, NaxSpace
from fastnax.spaces.nb201 import Nb201Space

_SPACES = {"imc": ImcSpace, "nax": NaxSpace, "nb201": Nb201Space}


def names() -> list[str]:
    """Names of the built-in search spaces."""
    return sorted(_SPACES)


def get(name: str | SearchSpace = "imc", **options) -> SearchSpace:
    """The search space called ``name``, built with ``options`` (input_size, num_classes, ...)."""
    if isinstance(name, SearchSpace):
        return name
    if name not in _SPACES:
        raise unknown("space", name, _SPACES)
    try:
        return _SPACES[name](**options)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(_SPACES[name]).parameters]
        raise BoundsError(f"bad option for the {name} space ({exc}); valid options: {', '.join(valid)}") from None


__all__ = ["SearchSpace", "ImcSpace", "NaxSpace", "Nb201Space", "get", "names"]
