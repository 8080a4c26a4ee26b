"""Prediction intervals and support (fastnax.predictors.uncertainty) on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from fastnax.errors import PredictorFileError
from fastnax.predictors.uncertainty import Uncertainty, read_columns


def _data(n, rng):
    X = rng.uniform(0, 1, size=(n, 3))
    y = 50 + 30 * X[:, 0] + rng.normal(0, 3, size=n)  # column 2 never matters
    return X, y


def _linear_oof(X, y, folds):
    """Out-of-fold predictions of least squares on columns 0 and 1 (the 'model')."""
    oof = np.empty_like(y)
    A = np.c_[np.ones(len(y)), X[:, :2]]
    for f in np.unique(folds):
        test = folds == f
        coef, *_ = np.linalg.lstsq(A[~test], y[~test], rcond=None)
        oof[test] = A[test] @ coef
    return oof, np.linalg.lstsq(A, y, rcond=None)[0]


def test_intervals_cover_their_nominal_share_of_fresh_draws():
    rng = np.random.default_rng(0)
    coverages = []
    for _ in range(30):
        X, y = _data(40, rng)
        folds = np.arange(40) % 5
        oof, coef = _linear_oof(X, y, folds)
        u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
        Xt, yt = _data(2000, rng)
        Xt = np.clip(Xt, X.min(axis=0), X.max(axis=0))  # stay inside the records' range
        raw = np.c_[np.ones(len(yt)), Xt[:, :2]] @ coef
        out = u.predict(Xt, raw, coverage=0.8)
        coverages.append(np.mean((yt >= out["lower"]) & (yt <= out["upper"])))
    assert 0.74 <= np.mean(coverages) <= 0.90, np.mean(coverages)
    # and a wider nominal coverage gives wider intervals
    wide = u.predict(Xt, raw, coverage=0.95)
    assert np.all(wide["upper"] - wide["lower"] >= out["upper"] - out["lower"] - 1e-9)


def test_far_candidates_are_out_of_support_and_never_beat_their_nearest_record():
    rng = np.random.default_rng(1)
    X, y = _data(30, rng)
    folds = np.arange(30) % 5
    oof, _ = _linear_oof(X, y, folds)
    u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
    near = X[:5] + 1e-6
    far = np.array([[5.0, 5.0, 0.5], [0.5, -4.0, 0.5]])
    assert u.in_support(near).all()
    assert not u.in_support(far).any()
    out = u.predict(far, np.array([99.0, 99.0]))
    _, j = u.nearest(far)
    assert np.all(out["accuracy"] <= y[j] + 1e-12)
    assert not out["in_support"].any()
    # a column the model never reads does not move a candidate out of support
    moved = X[:5].copy()
    moved[:, 2] = 40.0
    assert u.in_support(moved).all()


def test_mean_is_held_inside_the_records_range():
    rng = np.random.default_rng(2)
    X, y = _data(30, rng)
    folds = np.arange(30) % 5
    oof, _ = _linear_oof(X, y, folds)
    u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
    out = u.predict(X[:3], np.array([150.0, -20.0, 60.0]))
    assert out["accuracy"][0] == pytest.approx(y.max())
    assert out["accuracy"][1] == pytest.approx(y.min())
    assert np.all(out["lower"] <= out["accuracy"]) and np.all(out["accuracy"] <= out["upper"])
    assert np.all((out["lower"] >= 0) & (out["upper"] <= 100))


def test_quantile_score_is_between_the_bounds_and_monotone():
    rng = np.random.default_rng(3)
    X, y = _data(30, rng)
    folds = np.arange(30) % 5
    oof, _ = _linear_oof(X, y, folds)
    u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
    raw = np.full(len(X), 65.0)
    scores = [u.predict(X, raw, quantile=q)["score"] for q in (0.05, 0.1, 0.3, 0.5)]
    for a, b in zip(scores, scores[1:]):
        assert np.all(a <= b + 1e-12)
    assert np.array_equal(scores[-1], u.predict(X, raw)["accuracy"])


def test_a_pessimistic_score_never_exceeds_the_mean_nor_rewards_distance():
    """Skewed residuals (most records a little above the mean prediction, a few far below, as
    when some sampled networks fail to train) put the residuals' 0.4 quantile above 0: scored as
    ``mean + q * s(x)`` the "pessimistic" value would exceed the mean and grow with the distance
    ``s(x)`` from the records, so the search would be drawn away from them."""
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, size=(60, 3))
    y = 80 + 10 * X[:, 0]
    oof = y - 2.0  # most records 2 points above their out-of-fold prediction ...
    oof[:12] = y[:12] + 40.0  # ... and a fifth of them 40 points below it
    folds = np.arange(60) % 5
    u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
    assert u.quantile(0.4) > 0  # the case this test is about
    near = X[:10] + 1e-6
    far = X[:10] * 0.9 + 0.05 + np.array([0.02, 0.0, 0.0])  # inside the range, farther from the records
    raw = np.full(10, 85.0)
    for risk in (0.1, 0.25, 0.4, 0.45):
        out_near = u.predict(near, raw, quantile=risk)
        out_far = u.predict(far, raw, quantile=risk)
        assert np.all(out_near["score"] <= out_near["accuracy"] + 1e-12), risk
        assert np.all(out_far["score"] <= out_far["accuracy"] + 1e-12), risk
    # outside the support the score, like the mean, is at most the nearest record's accuracy
    # (before, a positive quantile lifted it over: the records showed nothing that good)
    outside = np.array([[3.0, 3.0, 0.5], [-2.0, 0.5, 0.5]])
    out = u.predict(outside, np.array([99.0, 99.0]), quantile=0.4)
    _, j = u.nearest(outside)
    assert not out["in_support"].any()
    assert np.all(out["score"] <= y[j] + 1e-12) and np.all(out["score"] <= y.max() + 1e-12)
    # monotone in the risk up to the mean at 0.5
    scores = [u.predict(near, raw, quantile=q)["score"] for q in (0.1, 0.25, 0.4, 0.45, 0.5)]
    for a, b in zip(scores, scores[1:]):
        assert np.all(a <= b + 1e-12)


def test_round_trip_and_untrusted_blocks():
    rng = np.random.default_rng(4)
    X, y = _data(20, rng)
    folds = np.arange(20) % 4
    oof, _ = _linear_oof(X, y, folds)
    u = Uncertainty.fit(X, y, oof, folds, columns=[0, 1])
    v = Uncertainty.from_dict(u.to_dict(), n_features=3)
    raw = rng.uniform(40, 90, size=50)
    Xt, _ = _data(50, rng)
    a, b = u.predict(Xt, raw), v.predict(Xt, raw)
    for key in a:
        assert np.array_equal(a[key], b[key])
    bad = u.to_dict()
    bad["columns"] = [0, 7]
    with pytest.raises(PredictorFileError):
        Uncertainty.from_dict(bad, n_features=3)
    bad = u.to_dict()
    bad["record_y"] = bad["record_y"][:-1]
    with pytest.raises(PredictorFileError):
        Uncertainty.from_dict(bad, n_features=3)
    bad = u.to_dict()
    bad["scaled_residuals"][0] = float("nan")
    with pytest.raises(PredictorFileError):
        Uncertainty.from_dict(bad, n_features=3)
    with pytest.raises(PredictorFileError):
        Uncertainty.from_dict({"columns": "x"})


def test_read_columns_of_an_xgboost_model():
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(200, 4))
    y = 3 * X[:, 1] + X[:, 3]
    booster = xgboost.train({"max_depth": 2, "verbosity": 0, "seed": 0},
                            xgboost.DMatrix(X, label=y), num_boost_round=20)
    import json

    used = read_columns(json.loads(bytes(booster.save_raw(raw_format="json"))))
    assert 1 in used and 3 in used
    assert set(used) <= {0, 1, 2, 3}
    # changing a column the trees never read leaves every prediction unchanged
    unused = [c for c in range(4) if c not in used]
    X2 = X.copy()
    X2[:, unused] = 123.0
    assert np.array_equal(booster.inplace_predict(X), booster.inplace_predict(X2))


def test_a_models_own_interval_scores_no_higher_than_its_mean():
    """A model with its own ``predict_interval`` (the multi-fidelity and prior-residual predictors)
    whose residuals are skewed has a 0.4-quantile above its mean: the search scores the mean."""
    from fastnax.search.accuracy import _own_intervals

    class Skewed:
        def predict_interval(self, F, coverage=0.8):
            mean = np.full(len(F), 80.0)
            half = 10.0 * coverage
            return mean, mean + 3.0 - half, mean + 3.0 + half  # centred 3 points above the mean

    F = np.zeros((5, 3))
    mean, lower, upper, scored = _own_intervals(Skewed(), F, 0.4)
    # the 20 % central interval's lower end is 81, above the mean: the mean is scored
    assert np.all(Skewed().predict_interval(F, 0.2)[1] == 81.0)
    assert np.all(scored == mean) and np.all(mean == 80.0)
    _, _, _, scored_low = _own_intervals(Skewed(), F, 0.1)  # below the mean: the quantile itself
    assert np.all(scored_low == 80.0 + 3.0 - 8.0)
