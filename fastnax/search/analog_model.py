"""A search's accuracy model from a prior-residual predictor (``fastnax fit --method prior-residual``).

:class:`~fastnax.predictors.PriorResidualPredictor` reads the analog features of an ``nb201`` cell
(:func:`fastnax.predictors.multifidelity.analog_features`: the graph features, the op of every
edge, the robustness estimate and the training-free score), not the graph features alone, so
:func:`fastnax.search.accuracy.resolve_accuracy_model` gives a prior-residual file's predictor an
:class:`~fastnax.search.accuracy.AccuracyModel` whose ``inputs`` are those features
(:func:`analog_inputs`); everything else (the 80 % interval and its scored quantile from the
predictor's own conformal intervals, dead networks at chance, the shared predictions) is the
accuracy model's. The predictor's intervals are conformal over all the cells it may see, so every
candidate counts as inside its support; its records are not looked up (the sidecar keeps no
genotypes), so a record's cell is priced by the prediction, like any other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fastnax.errors import PredictorFileError
from fastnax.predictors.analog import FORMAT  # the sidecar format of a prior-residual file (a light import)


def analog_inputs(space, index: np.ndarray, F: np.ndarray, table=None) -> np.ndarray:
    """The analog features (n, k) of canonical ``nb201`` rows ``index`` whose graph features are ``F``
    (``table``, the rows' layer table when the caller has it, is not needed)."""
    from fastnax.predictors.multifidelity import analog_features

    return analog_features(space, np.asarray(index, dtype=np.float64), F=F)


def inputs_of(predictor):
    """:func:`analog_inputs` for a fitted :class:`~fastnax.predictors.PriorResidualPredictor`, else
    None (the model reads the graph features)."""
    from fastnax.predictors.analog import PriorResidualPredictor

    return analog_inputs if isinstance(predictor, PriorResidualPredictor) else None


def is_prior_residual_file(path) -> bool:
    """Whether ``path`` (a model file or its ``.meta.json``) is a prior-residual predictor's."""
    from fastnax.predictors.files import read_json, sidecar_path

    path = Path(path)
    meta_file = path if path.name.endswith(".meta.json") else sidecar_path(path)
    if not meta_file.exists():
        return False
    try:
        meta = read_json(meta_file, "predictor sidecar")
    except PredictorFileError:
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def load_checked(path, space, dataset: str | None = None) -> tuple[object, dict]:
    """(predictor, description) of a prior-residual predictor file, checked against ``space`` (its
    sidecar says which space and options it was fitted on) and ``dataset`` when given."""
    from fastnax.predictors.files import same_dataset

    try:
        from fastnax.predictors import PriorResidualPredictor
    except ImportError as exc:  # pragma: no cover - xgboost is part of the fit extra
        raise PredictorFileError(f"a prior-residual predictor needs xgboost ({exc}); "
                                 f"pip install -e '.[fit]'") from None
    path = Path(path)
    meta = path.name.endswith(".meta.json")
    model_file = path.with_name(path.name[:-len(".meta.json")] + ".json") if meta else path
    model = PriorResidualPredictor.load(model_file)
    fitted = getattr(model, "space_", None)
    options = dict(getattr(model, "space_options_", None) or {})
    if fitted != space.name or (options and options != dict(space.options)):
        raise PredictorFileError(f"{model_file}: this prior-residual predictor was fitted on space "
                                 f"{fitted!r} with options {options}; the search is on {space.name!r} "
                                 f"with {dict(space.options)}")
    fitted_on = getattr(model, "dataset_", None)
    if dataset is not None and fitted_on is not None and not same_dataset(fitted_on, dataset):
        raise PredictorFileError(f"{model_file}: this prior-residual predictor was fitted on dataset "
                                 f"{model.dataset_!r}, not {dataset!r}")
    desc = {"file": str(path), "class": "PriorResidualPredictor", "space": fitted, "space_options": options,
            "dataset": getattr(model, "dataset_", None), "records": getattr(model, "records_info_", None),
            "cv_kendall": getattr(model, "cv_kendall_", None)}
    if not getattr(model, "target_", None):
        raise PredictorFileError(f"{model_file}: the sidecar does not say which accuracy it predicts (target)")
    return model, desc
