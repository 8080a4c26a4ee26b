"""Accuracy predictors: XGBoost over graph features, a training-free score, quality metrics.

>>> from fastnax.predictors import XGBPredictor, TrainingFreeScore, evaluate   # doctest: +SKIP
>>> model = XGBPredictor(random_state=0).fit_records("records.csv")         # doctest: +SKIP
>>> model.save("predictor.json"); XGBPredictor.load("predictor.json")        # doctest: +SKIP

Importing this package is cheap: scikit-learn is imported when ``XGBPredictor`` is first used,
xgboost only inside its ``fit``, ``predict`` and ``load``.
"""

from __future__ import annotations

from fastnax.predictors.metrics import evaluate
from fastnax.predictors.training_free import TrainingFreeScore


def __getattr__(name: str):
    if name in ("XGBPredictor", "ESTIMATOR_CHECK_EXCEPTIONS"):
        from fastnax.predictors import xgb

        return getattr(xgb, name)
    if name == "MultiFidelityPredictor":
        from fastnax.predictors.multifidelity import MultiFidelityPredictor

        return MultiFidelityPredictor
    if name == "PriorResidualPredictor":
        from fastnax.predictors.analog import PriorResidualPredictor

        return PriorResidualPredictor
    raise AttributeError(f"module 'fastnax.predictors' has no attribute {name!r}")


__all__ = ["XGBPredictor", "MultiFidelityPredictor", "PriorResidualPredictor", "TrainingFreeScore", "evaluate"]
