"""Co-design search: objectives, optimizers, Pareto fronts and the search result.

>>> from fastnax import search
>>> result = search.run("imc")                  # hierarchical SHGO + per-layer choices, acc-edap
>>> result.best["arch"], result.best["edap"]    # doctest: +SKIP
>>> result.to_json("result.json"); result.plot("front.png")   # doctest: +SKIP

Modules: ``objectives`` (vectorized objectives, constraints, accuracy models, the evaluator),
``hierarchical`` (the default FLASH-style method), ``optimizers`` (de, shgo, random, exhaustive,
bo), ``pareto`` (non-dominated sorting, hypervolume), ``result`` (:class:`SearchResult`),
``subspace`` (:class:`Restriction`, a space with some coordinates fixed).
"""

from __future__ import annotations

from fastnax.search.api import FRONT_BETAS, run
from fastnax.search.objectives import ACCURACY_MODES, OBJECTIVES, ObjectiveSpec
from fastnax.search.optimizers import METHODS
from fastnax.search.pareto import hypervolume_2d, non_dominated_mask
from fastnax.search.result import SearchResult
from fastnax.search.subspace import Restriction

__all__ = ["run", "SearchResult", "ObjectiveSpec", "OBJECTIVES", "METHODS", "ACCURACY_MODES",
           "FRONT_BETAS", "non_dominated_mask", "hypervolume_2d", "Restriction"]
