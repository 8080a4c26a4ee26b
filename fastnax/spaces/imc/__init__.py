"""The ``imc`` co-design macro space and its ``nax`` restriction (one package per space family).

``genotype`` (layout, canonical form, codec, parser), ``space`` (:class:`ImcSpace`), ``table``
(vectorized layer table), ``features`` (vectorized graph features), ``family`` (macro family),
``nax`` (:class:`NaxSpace`).
"""

from fastnax.spaces.imc.genotype import *  # noqa: F401,F403  (the genotype layout and its constants)
from fastnax.spaces.imc.genotype import ImcCodec, Layout, _codec, _gated, _layout_gates, canonicalize, parse  # noqa: F401
from fastnax.spaces.imc.space import ImcSpace  # noqa: F401
from fastnax.spaces.imc.nax import NaxFamily, NaxSpace  # noqa: F401
from fastnax.spaces.imc.table import imc_layer_table  # noqa: F401
