"""Kept for old imports: the search's concepts now live in their own modules.

``fastnax.search.spec`` (objectives, :class:`ObjectiveSpec`), ``fastnax.search.accuracy``
(:class:`AccuracyModel`, predictor resolution), ``fastnax.search.evaluator``
(:class:`Evaluator`, :class:`Archive`, ``unique_rows``, the budget).
"""

from fastnax.search.accuracy import (PACKAGED_PREDICTOR, QUANTITIES, AccuracyModel, _training_free,  # noqa: F401
                                     load_predictor, resolve_accuracy_model)
from fastnax.search.evaluator import (COLUMNS, Archive, BudgetExhausted, Evaluator, _row_hash_weights,  # noqa: F401
                                      first_occurrences, unique_rows)
from fastnax.search.spec import (ACCURACY_MODES, COMBINED, COST_COLUMNS, DEFAULT_BETA,  # noqa: F401
                                 DEFAULT_NOISE_PENALTY, INFEASIBLE, NOISE_SIGMA_REF, OBJECTIVES, ObjectiveSpec,
                                 check_objective, cost_column)


def _load_predictor(path):
    """(model, sidecar info) of a predictor file, through the one reader (old name)."""
    model, checked = load_predictor(path)
    return model, checked.info()
