"""Search spaces: the mapping between architectures and the numeric vectors SciPy searches.

>>> from fastnax import spaces
>>> space = spaces.get("imc")                 # CIFAR-sized co-design macro space
>>> arch = space.baseline("resnet20")
>>> X = space.encode([arch]); space.decode(X)[0] == arch
True

A new space is one class (or one package, for its fast paths): subclass :class:`SearchSpace`,
decorate it with ``@register_space("name")`` and run :func:`check_search_space` on it.
"""

from __future__ import annotations

from fastnax.spaces.base import SearchSpace
from fastnax.spaces.check import check_search_space
from fastnax.spaces.family import Family
from fastnax.spaces.imc import ImcSpace, NaxSpace
from fastnax.spaces.nb201 import Nb201Space
from fastnax.spaces.registry import get, names, register_space
from fastnax.spaces.restriction import Restriction

__all__ = ["SearchSpace", "ImcSpace", "NaxSpace", "Nb201Space", "Restriction", "Family", "get", "names",
           "register_space", "check_search_space"]
