"""The NAS-Bench-201 cell space × crossbar size (``genotype``: cell encoding, codec, parser;
``space``: :class:`Nb201Space` and its layer table; ``features``: vectorized graph features;
``family``: macro family)."""

from fastnax.spaces.nb201.genotype import *  # noqa: F401,F403
from fastnax.spaces.nb201.genotype import (Nb201Codec, _codec, cell_id, cell_ops, cell_string,  # noqa: F401
                                           from_nb201_string, parse, parse_cell, to_nb201_string)
from fastnax.spaces.nb201.space import Nb201Space, nb201_layer_table  # noqa: F401
