"""How a search loads a saved predictor: the NumPy tree walker, never xgboost unless it must."""

from __future__ import annotations

from fastnax.errors import PredictorFileError


def load_predictor(path) -> tuple[object, dict]:
    """(model with ``predict(F)``, sidecar) of a saved predictor, without importing xgboost.

    The file is read and checked by :func:`fastnax.predictors.files.read_predictor_file`; the
    trees are evaluated by the NumPy :class:`~fastnax.predictors.treeeval.TreeEnsemble`
    (importing xgboost costs more than a whole search); a model it cannot read falls back to
    ``XGBPredictor.load``.
    """
    from fastnax.predictors.files import read_predictor_file
    from fastnax.predictors.treeeval import TreeEnsemble

    checked = read_predictor_file(path)
    try:
        model = TreeEnsemble(checked.model_json)
    except PredictorFileError:
        from fastnax.predictors import XGBPredictor

        model = XGBPredictor.load(path)
    return model, checked
