"""Moved to :mod:`fastnax.search.optimizers.hierarchical` (and the macro families to
:mod:`fastnax.spaces.family` and the spaces' packages); kept for old imports."""

from fastnax.search.optimizers.hierarchical import (FRONT_BETAS, Hierarchical, _coordinate_values,  # noqa: F401
                                                    _Multilinear, descend, family_of, hierarchical,
                                                    shgo_macro, single_moves)
from fastnax.spaces.family import MAX_MACRO, Family  # noqa: F401
