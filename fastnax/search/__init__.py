"""Co-design search: objectives, accuracy models, the evaluator, optimizers, Pareto fronts, results.

>>> from fastnax import search
>>> result = search.run("imc")                  # hierarchical SHGO + per-layer choices, acc-edap
>>> result.best["arch"], result.best["edap"]    # doctest: +SKIP
>>> result.to_json("result.json"); result.plot("front.png")   # doctest: +SKIP

Modules: ``spec`` (objectives, :class:`ObjectiveSpec`: scalar costs and constraints),
``accuracy`` (:class:`AccuracyModel`: target, quantity reported, features read; predictor
resolution), ``evaluator`` (:class:`Evaluator`, the archive, the budget), ``optimizers`` (the
:class:`Optimizer` protocol, a name registry and one module per method: hierarchical, de, shgo,
random, exhaustive, bo), ``pareto`` (non-dominated sorting, hypervolume), ``result``
(:class:`SearchResult`), ``api`` (:func:`run`), ``allocator`` (:func:`tune_allocator`: the glibc
settings ``fastnax search`` runs with). ``objectives``, ``hierarchical`` and ``subspace``
keep the old import paths.
"""

from __future__ import annotations

from fastnax.search.accuracy import AccuracyModel, QUANTITIES
from fastnax.search.allocator import tune_allocator
from fastnax.search.api import FRONT_BETAS, make_evaluator, predict, run
from fastnax.search.evaluator import Evaluator
from fastnax.search.optimizers import Optimizer, register_optimizer
from fastnax.search.optimizers import names as optimizer_names
from fastnax.search.pareto import hypervolume_2d, non_dominated_mask
from fastnax.search.result import SearchResult
from fastnax.search.spec import ACCURACY_MODES, OBJECTIVES, ObjectiveSpec
from fastnax.spaces.restriction import Restriction

#: Names of the registered optimizers (``fastnax.search.optimizers.names()`` at import time).
METHODS = tuple(optimizer_names())

__all__ = ["run", "predict", "make_evaluator", "SearchResult", "ObjectiveSpec", "OBJECTIVES", "METHODS", "ACCURACY_MODES", "QUANTITIES",
           "FRONT_BETAS", "non_dominated_mask", "hypervolume_2d", "Restriction", "Evaluator", "AccuracyModel",
           "Optimizer", "register_optimizer", "optimizer_names", "tune_allocator"]
