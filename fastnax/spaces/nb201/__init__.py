"""The NAS-Bench-201 cell space × crossbar size (``space``: codec, parser, :class:`Nb201Space`;
``features``: vectorized graph features; ``family``: macro family)."""

from fastnax.spaces.nb201.space import *  # noqa: F401,F403
from fastnax.spaces.nb201.space import (Nb201Codec, Nb201Space, _codec, cell_id, cell_ops,  # noqa: F401
                                        cell_string, from_nb201_string, nb201_layer_table, parse,
                                        parse_cell, to_nb201_string)
