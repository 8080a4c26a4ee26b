"""Moved to :mod:`fastnax.spaces.restriction` (a restriction is a space); kept for old imports."""

from fastnax.spaces.restriction import Restriction  # noqa: F401
