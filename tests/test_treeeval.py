"""The NumPy tree evaluator equals xgboost's own prediction on the same saved model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax.errors import PredictorFileError
from fastnax.predictors.treeeval import TreeEnsemble


@pytest.mark.parametrize("objective", ["reg:squarederror", "rank:pairwise"])
def test_numpy_trees_equal_xgboost(tmp_path, objective):
    xgb = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 9))
    y = 2 * X[:, 0] + X[:, 1] ** 2 + 0.1 * rng.normal(size=300)
    X[rng.uniform(size=X.shape) < 0.05] = np.nan  # missing values take the default branch
    model = xgb.XGBRegressor(n_estimators=60, max_depth=5, objective=objective, random_state=0).fit(X, y)
    path = tmp_path / "m.json"
    model.save_model(path)
    Xt = rng.normal(size=(5000, 9)).astype(np.float32)
    Xt[rng.uniform(size=Xt.shape) < 0.05] = np.nan
    ours = TreeEnsemble.from_file(path).predict(Xt)
    np.testing.assert_allclose(ours, model.predict(Xt), rtol=1e-5, atol=1e-4)


def test_malformed_models_are_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"learner": {"gradient_booster": {"name": "gblinear"}}}))
    with pytest.raises(PredictorFileError, match="gbtree"):
        TreeEnsemble.from_file(path)
    path.write_bytes(b"\x80\x04\x95pickle")
    with pytest.raises(PredictorFileError):
        TreeEnsemble.from_file(path)
    path.write_text("{}")
    with pytest.raises(PredictorFileError, match="malformed"):
        TreeEnsemble.from_file(path)
