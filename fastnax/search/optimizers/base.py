"""The optimizer protocol and the registry of optimizer names.

An optimizer is any object with ``optimize(evaluator, rng, budget) -> dict``: it prices batches
through the :class:`~fastnax.search.evaluator.Evaluator` (which archives everything and enforces
the budget the caller set; an optimizer never changes it), draws every random choice from
``rng`` (a ``numpy.random.Generator``) and returns details for the result's settings. A minimal
one, passed to ``search.run(space, optimizer=...)``:

>>> class Sampler:                                          # doctest: +SKIP
...     name, default_budget = "sampler", 1000
...     def optimize(self, evaluator, rng, budget):
...         evaluator(evaluator.space.sample_vectors(budget, seed=rng))
...         return {}

``@register_optimizer("name")`` makes a class available by name (``search.run(optimizer="name")``,
``fastnax search --method name``).
"""

from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

import numpy as np

from fastnax.errors import BoundsError, unknown


@runtime_checkable
class Optimizer(Protocol):
    """What ``search.run`` needs of an optimizer."""

    def optimize(self, evaluator, rng: np.random.Generator, budget: int | None) -> dict: ...


_OPTIMIZERS: dict[str, Callable[[], Optimizer]] = {}


def register_optimizer(name: str) -> Callable[[type], type]:
    """Class decorator: ``cls()`` is the optimizer called ``name``; sets ``cls.name``."""
    if not isinstance(name, str) or not name:
        raise BoundsError(f"optimizer name must be a non-empty string, got {name!r}")

    def decorate(cls: type) -> type:
        cls.name = name
        _OPTIMIZERS[name] = cls
        return cls

    return decorate


def names() -> list[str]:
    """Registered optimizer names, the default (``hierarchical``) first."""
    return sorted(_OPTIMIZERS, key=lambda n: (n != "hierarchical", list(_OPTIMIZERS).index(n)))


def get_optimizer(optimizer) -> Optimizer:
    """An optimizer object from a registered name or an object with ``optimize``."""
    if isinstance(optimizer, str):
        if optimizer not in _OPTIMIZERS:
            raise unknown("search method", optimizer, _OPTIMIZERS)
        return _OPTIMIZERS[optimizer]()
    if not callable(getattr(optimizer, "optimize", None)):
        raise BoundsError(f"optimizer must be a name ({', '.join(names())}) or an object with "
                          f"optimize(evaluator, rng, budget); got {type(optimizer).__name__}")
    return optimizer


def optimizer_name(optimizer) -> str:
    return str(getattr(optimizer, "name", type(optimizer).__name__))
