"""Optimizers of the co-design search, one module per method, behind one protocol.

``base`` (the :class:`Optimizer` protocol, ``register_optimizer``, ``get_optimizer``, ``names``);
``hierarchical`` (default: macro SHGO level, then vectorized coordinate descent), ``de``
(integral differential evolution), ``shgo``, ``random``, ``exhaustive``, ``bo``.
"""

from __future__ import annotations

from fastnax.search.optimizers.base import Optimizer, get_optimizer, names, optimizer_name, register_optimizer
from fastnax.search.optimizers import hierarchical, de, shgo, random, exhaustive, bo  # noqa: F401,E402  (register)
from fastnax.search.optimizers.exhaustive import EXHAUSTIVE_LIMIT, enumerate_space  # noqa: E402
from fastnax.search.optimizers.random import RANDOM_BATCH  # noqa: E402,F401
from fastnax.search.optimizers.shgo import SHGO_MAX_DIM  # noqa: E402,F401

#: Default budgets of the methods (candidates priced; None: the method decides).
DEFAULT_BUDGET = {name: get_optimizer(name).default_budget for name in names()}

__all__ = ["Optimizer", "register_optimizer", "get_optimizer", "names", "optimizer_name",
           "enumerate_space", "EXHAUSTIVE_LIMIT", "DEFAULT_BUDGET"]
