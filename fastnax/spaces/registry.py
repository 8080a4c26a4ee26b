"""The space registry: ``@register_space`` fills both :func:`get` and ``Architecture.from_string``.

>>> from fastnax.spaces import SearchSpace, register_space
>>> @register_space("toy")                       # doctest: +SKIP
... class Toy(SearchSpace): ...

A registered class is built by ``get(name, **options)``; unless told that its architectures
belong to another space (``architectures_of``), an instance built with an architecture's options
is also the codec that builds, prints and parses the architectures named ``name:...``. The
``parser`` reads the space's canonical strings; without one, the space's ``format`` must be the
default ``NAME:{options as JSON}:g0,g1,...`` that :func:`parse_default` reads.
"""

from __future__ import annotations

import inspect
import json
from functools import lru_cache
from typing import Callable

from fastnax.arch import Architecture, register_codec
from fastnax.errors import ArchitectureError, BoundsError, FastnaxError, unknown

_SPACES: dict[str, type] = {}


def register_space(name: str, parser: Callable[[str], Architecture] | None = None, *,
                   architectures_of: str | None = None) -> Callable[[type], type]:
    """Class decorator: register a :class:`~fastnax.spaces.SearchSpace` subclass as ``name``.

    Parameters
    ----------
    name : str
        The space's name in ``spaces.get(name)`` and in its architectures' strings.
    parser : callable(str) -> Architecture, optional
        Reads the canonical strings of the space's architectures. Default: :func:`parse_default`.
    architectures_of : str, optional
        The space decodes to architectures of another registered space (``nax`` decodes to
        ``imc``): only ``get`` is filled, no codec or parser.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise BoundsError(f"space name must be a non-empty string without ':', got {name!r}")

    def decorate(cls: type) -> type:
        cls.name = name
        cls.architectures_of = architectures_of or name  # whose architectures (and predictors) it uses
        _SPACES[name] = cls
        if architectures_of is None:
            register_codec(name, _cached_factory(cls), parser or parse_default)
        return cls

    return decorate


def _cached_factory(cls: type) -> Callable:
    @lru_cache(maxsize=64)
    def build(items: tuple):
        return cls(**dict(items))

    def factory(**options):
        return build(tuple(sorted(options.items())))

    return factory


def parse_default(text: str) -> Architecture:
    """Read ``NAME:{options as JSON}:g0,g1,...`` (the default ``SearchSpace.format``), checking
    that the genotype is a canonical member of the space it names."""
    try:
        name, rest = text.split(":", 1)
        options_text, genes = rest.rsplit(":", 1)
        options = json.loads(options_text)
        genotype = tuple(int(g) for g in genes.split(",")) if genes else ()
        if not isinstance(options, dict):
            raise ValueError("options are not a JSON object")
    except ValueError as exc:
        raise ArchitectureError(f"malformed architecture string {text[:80]!r}: expected "
                                f"'NAME:{{options as JSON}}:g0,g1,...' ({exc})") from None
    arch = Architecture(name, tuple(options.items()), genotype)
    try:
        space = get(name, **options)
    except FastnaxError as exc:
        raise ArchitectureError(f"malformed architecture string {text[:80]!r}: {exc}") from None
    space._index_from_arch(arch)  # membership: raises ArchitectureError
    return arch


def names() -> list[str]:
    """Names of the registered search spaces."""
    return sorted(_SPACES)


def get(name="imc", **options):
    """The search space called ``name``, built with ``options`` (input_size, num_classes, ...).

    A :class:`~fastnax.spaces.SearchSpace` object is returned as it is."""
    from fastnax.spaces.base import SearchSpace

    if isinstance(name, SearchSpace):
        return name
    if name not in _SPACES:
        raise unknown("space", name, _SPACES)
    cls = _SPACES[name]
    try:
        return cls(**options)
    except TypeError as exc:
        valid = [p for p in inspect.signature(cls).parameters]
        raise BoundsError(f"bad option for the {name} space ({exc}); valid options: {', '.join(valid)}") from None
