"""Robustness estimate (fast path == networkx reference) and the multi-fidelity predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax import robustness, spaces
from fastnax.datasets.records import Record, write_records
from fastnax.errors import BoundsError, PredictorFileError, RecordsError

NB201 = spaces.get("nb201")
SPECIAL = [
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # dead
    "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|",  # dead: node 3 cut off
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|",  # conv reading an empty node
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
]


def _cells(n=60, seed=0):
    from fastnax.datasets import nb201

    rng = np.random.default_rng(seed)
    X = np.concatenate([nb201.to_vectors(SPECIAL), np.c_[rng.integers(0, 5, (n, 6)), rng.integers(0, 5, (n, 1))]])
    return X.astype(float), NB201.decode(X)


def test_fast_path_equals_networkx_reference():
    X, archs = _cells()
    for params in [{}, {"alpha": 0.5, "rho": 1.0, "beta": 0.0}, {"alpha": 2.0, "rho": 0.1, "beta": 10.0}]:
        fast = robustness.noise_to_signal(NB201, X, 0.1, **params)
        ref = np.array([robustness.reference_noise_to_signal(a, 0.1, **params) for a in archs])
        assert np.array_equal(np.isinf(fast), np.isinf(ref))
        finite = np.isfinite(ref)
        np.testing.assert_allclose(fast[finite], ref[finite], rtol=1e-12)
    assert np.isinf(fast[:2]).all() and np.isfinite(fast[2:len(SPECIAL)]).all()


def test_per_layer_sigma_matches_reference():
    X, archs = _cells(25, seed=1)
    rng = np.random.default_rng(2)
    width = max(len(a.weight_layers) for a in archs)
    sigma = rng.uniform(0.01, 0.3, (len(archs), width))
    fast = robustness.noise_to_signal(NB201, X, sigma)
    for i, a in enumerate(archs):
        ref = robustness.reference_noise_to_signal(a, sigma[i, :len(a.weight_layers)])
        assert fast[i] == pytest.approx(ref, rel=1e-12) if np.isfinite(ref) else np.isinf(fast[i])
    # per-candidate sigma: NSR scales with sigma squared
    s = rng.uniform(0.05, 0.2, len(archs))
    np.testing.assert_allclose(robustness.noise_to_signal(NB201, X, s), s ** 2 * robustness.noise_to_signal(NB201, X, 1.0))


def test_hwmodel_sigma_and_physics():
    from fastnax import hwmodel

    X, archs = _cells(3)
    sig = hwmodel.layer_noise_sigma(archs[4])
    assert robustness.reference_noise_to_signal(archs[4], sig) == pytest.approx(
        robustness.noise_to_signal(NB201, X[4:5], sig[None, :])[0], rel=1e-12)
    from fastnax.datasets import nb201

    def nsr(cell):
        return robustness.noise_to_signal(NB201, nb201.to_vectors([cell]))[0]

    base = "|none~0|+|none~0|none~1|+|{}~0|none~1|none~2|"
    # fan-in: a 3x3 convolution (9x the inputs) adds less noise than a 1x1 on the same edge
    assert nsr(base.format("nor_conv_3x3")) < nsr(base.format("nor_conv_1x1"))
    # a skip path beside a convolution carries signal without adding noise
    both = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|"
    with_skip = "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"
    assert nsr(with_skip) < nsr(both)


def test_reference_runs_on_other_spaces_fast_path_refuses_them():
    imc = spaces.get("imc")
    arch = imc.sample(1, seed=0)[0]
    value = robustness.reference_noise_to_signal(arch, 0.1)
    assert np.isfinite(value) and value > 0
    with pytest.raises(BoundsError, match="nb201 space only"):
        robustness.noise_to_signal(imc, np.zeros((1, imc.dim if hasattr(imc, "dim") else 8)))


def test_robustness_features():
    X, archs = _cells(10)
    feats = robustness.robustness_features(NB201, X, 0.1)
    assert feats.shape == (len(X), 2) and np.isfinite(feats).all()
    assert (feats[:2] == robustness.DEAD_LOG10_NSR).all()
    with pytest.raises(BoundsError, match="sigma"):
        robustness.noise_to_signal(NB201, X, np.ones(3))


# --- multi-fidelity predictor --------------------------------------------------------------------
def _records(n=60, labelled=15, seed=0, shape="drop"):
    """Synthetic records: clean accuracy from the graph; the target the clean accuracy minus a drop
    that grows with the robustness score (``shape="drop"``) or a linear map of it (``"linear"``)."""
    from fastnax import graph

    archs = NB201.sample(n, seed=seed)
    X = NB201.encode(archs).astype(float)
    F = graph.features(archs)
    names = graph.feature_names()
    clean = 50 + 4 * F[:, names.index("n_conv_large_effective")] / 10 + F[:, names.index("log10_params")]
    clean = np.clip(clean, 0, 100)
    score = robustness.robustness_features(NB201, X, 1.0, F)[:, 1]
    rng = np.random.default_rng(seed)
    if shape == "drop":
        target = clean - np.where(score < robustness.DEAD_LOG10_NSR, 3.0 + 2.0 * score, 0.0)
    elif shape == "constant":
        target = clean - 4.0
    elif shape == "shrinking":  # a drop that falls as the robustness score grows
        target = clean - np.where(score < robustness.DEAD_LOG10_NSR, 4.0 - 1.0 * score, 0.0)
    else:
        target = 0.9 * clean - 5
    target = np.clip(target + rng.normal(0, 0.3, n), 0, 100)
    recs = []
    for i, a in enumerate(archs):
        named = {"accuracy_analog": float(target[i])} if i < labelled else {}
        recs.append(Record(str(a), "nb201", "cifar10", 200, i, float(clean[i]), None, 0.0, "0.1.0",
                           accuracies=named))
    return recs, X, clean, target


def test_multifidelity_fit_save_load(tmp_path):
    from fastnax.predictors import MultiFidelityPredictor, XGBPredictor
    from fastnax.predictors.multifidelity import analog_feature_names, analog_features

    recs, X, clean, target = _records(labelled=20)
    model = MultiFidelityPredictor(random_state=0).fit_records(recs, target="accuracy_analog")
    assert model.n_labelled_ == 20 and model.n_clean_ == 60 and model.mode_ == "drop"
    assert model.drop_t_ > 2.0
    assert model.feature_names_ == analog_feature_names("nb201")
    assert model.coef_[1] == pytest.approx(2.0, abs=0.6)  # the drop's slope on the robustness score
    F = analog_features(NB201, X)
    assert F.shape == (len(X), len(model.feature_names_))
    pred = model.predict(F)
    np.testing.assert_array_equal(model.predict_archs([r.arch for r in recs]), pred)
    assert np.corrcoef(pred[20:], target[20:])[0, 1] > 0.9  # the 40 clean-only records
    mean, lo, hi = model.predict_interval(F, coverage=0.8)
    assert np.array_equal(mean, pred) and (lo <= mean).all() and (mean <= hi).all()
    _, lo50, hi50 = model.predict_interval(F, coverage=0.5)
    assert (hi50 - lo50 <= hi - lo + 1e-12).all()
    path = model.save(tmp_path / "mf.json")
    loaded = MultiFidelityPredictor.load(path)
    np.testing.assert_array_equal(loaded.predict(F), pred)
    np.testing.assert_array_equal(loaded.predict_interval(F)[1], lo)
    assert loaded.target_ == "accuracy_analog" and loaded.mode_ == "drop"
    assert loaded.clean_slope_ == model.clean_slope_ and loaded.clean_center_ == model.clean_center_
    # the residual trees: written beside the model, their weight n / (n + 60), part of the prediction
    assert model.residual_weight_ == pytest.approx(20 / 80) and set(model.residual_models_) == {"boosted", "forest"}
    assert (tmp_path / "mf.residual-boosted.json").exists() and (tmp_path / "mf.residual-forest.json").exists()
    assert not np.allclose(model._calibrated(model.predict_clean(F), F), pred)
    assert loaded.residual_weight_ == model.residual_weight_
    # a sidecar written before the clean slope and the residual trees loads as the plain drop model
    old = json.loads((tmp_path / "mf.meta.json").read_text())
    del old["calibration"]["clean_slope"], old["calibration"]["clean_center"], old["residual"]
    (tmp_path / "old.meta.json").write_text(json.dumps(old))
    (tmp_path / "old.json").write_bytes(path.read_bytes())
    old_model = MultiFidelityPredictor.load(tmp_path / "old.json")
    g = old_model.predict_clean(F)
    r = F[:, old_model.robustness_column_]
    from fastnax.robustness import DEAD_LOG10_NSR

    plain = np.where(r < DEAD_LOG10_NSR, g - (model.coef_[0] + model.coef_[1] * r), g)  # dead: no drop
    np.testing.assert_allclose(old_model.predict(F), plain)
    # same records, same seed: byte-identical files
    again = MultiFidelityPredictor(random_state=0).fit_records(recs, target="accuracy_analog").save(tmp_path / "b.json")
    assert again.read_bytes() == path.read_bytes()
    assert (tmp_path / "b.meta.json").read_text().replace('"b.', '"mf.') == (tmp_path / "mf.meta.json").read_text()
    for part in ("boosted", "forest"):
        assert (tmp_path / f"b.residual-{part}.json").read_bytes() == (tmp_path / f"mf.residual-{part}.json").read_bytes()
    # the plain loader refuses it; tampering and pickles are refused
    with pytest.raises(PredictorFileError):
        XGBPredictor.load(path)
    meta = json.loads((tmp_path / "mf.meta.json").read_text())
    meta["calibration"]["robustness_column"] = 10_000
    (tmp_path / "mf.meta.json").write_text(json.dumps(meta))
    with pytest.raises(PredictorFileError, match="outside"):
        MultiFidelityPredictor.load(path)
    path.write_bytes(path.read_bytes().replace(b"0", b"1", 1))
    with pytest.raises(PredictorFileError, match="sha256"):
        MultiFidelityPredictor.load(path)
    path.write_bytes(b"\x80\x04pickle")
    with pytest.raises(PredictorFileError, match="pickle"):
        MultiFidelityPredictor.load(path)


def test_drop_calibration_clean_slope_is_shrunk_and_loo_exact():
    from fastnax.predictors.multifidelity import _drop_with_clean_slope

    rng = np.random.default_rng(3)
    g, r = rng.normal(90, 3, 30), rng.normal(0, 1, 30)
    target = g - (5 + 2 * r) + 0.5 * (g - g.mean()) + rng.normal(0, 0.3, 30)
    coef, d, center, resid = _drop_with_clean_slope(g, r, target)
    assert coef == pytest.approx([5, 2], abs=0.5) and center == pytest.approx(g.mean())
    free = _drop_with_clean_slope(g, r, target, ridge=0.0)
    assert 0 < d < free[1] <= 0.7  # held toward 0 against the unpenalised fit
    none = _drop_with_clean_slope(g, r, target, ridge=1e12)
    assert abs(none[1]) < 1e-6  # an infinite ridge is the plain drop model
    # leave-one-out residuals are those of refitting without each record
    i = 7
    keep = np.arange(30) != i
    Z = np.stack([np.ones(29), r[keep], g[keep] - center], axis=1)
    P = np.diag([0, 0, 1.0 * 30 * np.var(g)])  # the ridge as fitted on all 30 (same penalty, centre)
    w = np.linalg.solve(Z.T @ Z + P, Z.T @ (target[keep] - g[keep]))
    pred = g[i] + w[0] + w[1] * r[i] + w[2] * (g[i] - center)
    assert resid[i] == pytest.approx(target[i] - pred, rel=1e-6)


def test_multifidelity_linear_calibration():
    from fastnax.predictors import MultiFidelityPredictor
    from fastnax.predictors.multifidelity import analog_features

    recs, X, clean, target = _records(labelled=20, shape="linear")
    model = MultiFidelityPredictor(calibration="linear").fit_records(recs, target="accuracy_analog")
    assert model.mode_ == "linear" and model.coef_[1] == pytest.approx(0.9, abs=0.2)
    assert np.corrcoef(model.predict(analog_features(NB201, X))[20:], target[20:])[0, 1] > 0.9
    # a drop that does not grow with the robustness score: auto keeps the linear map
    recs, X, clean, target = _records(labelled=20, shape="shrinking")
    model = MultiFidelityPredictor().fit_records(recs, target="accuracy_analog")
    assert model.mode_ == "linear" and model.drop_t_ < 0.0
    recs, X, clean, target = _records(labelled=20, shape="constant")
    model = MultiFidelityPredictor().fit_records(recs, target="accuracy_analog")
    assert model.mode_ == ("drop" if model.drop_t_ > 0.0 else "linear")  # DROP_T_MIN = 0
    err = np.abs(model.predict(analog_features(NB201, X)) - target)
    assert err.mean() < 1.5 and err.max() < 4.5


def test_multifidelity_errors():
    from fastnax.predictors import MultiFidelityPredictor

    recs, X, clean, target = _records(labelled=2)
    F = np.zeros((3, 5))
    with pytest.raises(RecordsError, match="at least 3"):
        MultiFidelityPredictor().fit_records(recs, target="accuracy_analog")
    with pytest.raises(BoundsError, match="not a noisy accuracy"):
        MultiFidelityPredictor().fit_records(recs, target="accuracy_clean")
    with pytest.raises(BoundsError, match="calibration must be one of"):
        MultiFidelityPredictor(calibration="magic").fit_records(_records()[0], target="accuracy_analog")
    model = MultiFidelityPredictor().fit_records(_records()[0], target="accuracy_analog")
    F = np.zeros((3, model.n_features_in_))
    for bad in (0.0, 1.0, "x"):
        with pytest.raises(BoundsError, match="coverage"):
            model.predict_interval(F, coverage=bad)
    with pytest.raises(PredictorFileError, match="not fitted"):
        MultiFidelityPredictor().predict(F)


def test_fit_command_any_target(tmp_path, capsys):
    from fastnax.cli import main
    from fastnax.predictors import MultiFidelityPredictor

    recs, X, clean, target = _records()
    path = write_records(tmp_path / "r.csv", recs)
    out = tmp_path / "p.json"
    # some records lack the target: the multi-fidelity predictor uses them all
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "multifidelity" and report["labelled"] == 15 and report["clean_only"] == 45
    loaded = MultiFidelityPredictor.load(out)
    assert loaded.target_ == "accuracy_analog"
    if report["calibration"]["mode"] == "drop":  # the report gives every coefficient of the drop model
        assert report["calibration"]["clean_slope"] == loaded.clean_slope_
    # the table form prints the fitted formula
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog"]) == 0
    printed = capsys.readouterr().out
    assert "out-of-sample MAE" in printed and "* residual trees" in printed
    assert report["residual_weight"] == pytest.approx(15 / 75)
    # every record has it: XGBoost on the named accuracy
    full = write_records(tmp_path / "full.jsonl", recs[:15])
    assert main(["fit", str(full), "--out", str(out), "--target", "accuracy_analog"]) == 0
    meta = json.loads((tmp_path / "p.meta.json").read_text())
    assert meta["format"] == "fastnax-predictor" and meta["target"] == "accuracy_analog"
    assert meta["records"]["count"] == 15
    # --method xgb with records lacking it: the message says so
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog", "--method", "xgb"]) != 0
    assert "have no accuracy_analog" in capsys.readouterr().err
    assert main(["fit", str(path), "--out", str(out), "--target", "Accuracy"]) != 0
    assert "not an accuracy name" in capsys.readouterr().err


def test_fit_command_prior_residual(tmp_path, capsys):
    from fastnax.cli import main
    from fastnax.predictors import PriorResidualPredictor

    recs, X, clean, target = _records(n=60, labelled=30)
    path = write_records(tmp_path / "r.csv", recs)
    out = tmp_path / "pr.json"
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog", "--method", "prior-residual",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "prior-residual" and report["labelled"] == 30 and report["without_target"] == 30
    loaded = PriorResidualPredictor.load(out)
    assert loaded.target_ == "accuracy_analog" and loaded.space_ == "nb201" and loaded.records_info_["count"] == 30
    archs = [r.arch for r in recs]
    direct = PriorResidualPredictor().fit_records(recs, "accuracy_analog")
    np.testing.assert_array_equal(loaded.predict_archs(archs), direct.predict_archs(archs))
    assert report["cv_kendall"] == pytest.approx(direct.cv_kendall_)
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog", "--method", "prior-residual"]) == 0
    assert "cross-validated Kendall tau" in capsys.readouterr().out
    few = write_records(tmp_path / "few.csv", recs[:3] + recs[40:])
    assert main(["fit", str(few), "--out", str(out), "--target", "accuracy_analog", "--method", "prior-residual"]) != 0
    assert "at least 4 records with accuracy_analog" in capsys.readouterr().err


def test_search_with_prior_residual_file(tmp_path, capsys):
    """fit --method prior-residual, then search and predict with its file: the search scores the
    predictor's own analog features and intervals, and predict prints what the search printed."""
    from fastnax import search, spaces
    from fastnax.arch import Architecture
    from fastnax.cli import main
    from fastnax.predictors import MultiFidelityPredictor, PriorResidualPredictor
    from fastnax.search.accuracy import resolve_accuracy_model
    from fastnax.search.analog_model import analog_inputs

    recs, X, clean, target = _records(n=60, labelled=30)
    path = write_records(tmp_path / "r.csv", recs)
    out = tmp_path / "pr.json"
    assert main(["fit", str(path), "--out", str(out), "--target", "accuracy_analog", "--method", "prior-residual"]) == 0
    capsys.readouterr()
    space = spaces.get("nb201")
    model = resolve_accuracy_model(str(out), space, "cifar10")
    assert model.inputs is analog_inputs and model.target == "accuracy_analog"
    result = search.run("nb201", predictor=str(out), dataset="cifar10", seed=0)
    archs = [d["arch"] for d in result.front]
    loaded = PriorResidualPredictor.load(out)
    mean, lower, upper = loaded.predict_interval(MultiFidelityPredictor._features(archs)[0], 0.8)
    live = np.asarray([d["accuracy_mean"] for d in result.front]) > 10.0  # dead cells are at chance
    np.testing.assert_allclose(np.asarray([d["accuracy_mean"] for d in result.front])[live], mean[live])
    np.testing.assert_allclose(np.asarray([d["accuracy_lower"] for d in result.front])[live], lower[live])
    np.testing.assert_allclose(np.asarray([d["accuracy_upper"] for d in result.front])[live], upper[live])
    index = space.to_index(space.encode([Architecture.from_string(a) for a in archs]))
    detail = model.predict_detail(space, index, 0.5, measured=False)
    np.testing.assert_allclose(detail["accuracy_mean"][live], mean[live])
    # every candidate's value is its own, whatever batch it is priced in
    alone = [model.predict_detail(space, index[i:i + 1], 0.4, measured=False)["accuracy_scored"][0]
             for i in range(min(len(index), 6))]
    np.testing.assert_array_equal(model.predict_detail(space, index, 0.4, measured=False)["accuracy_scored"][:6],
                                  alone)
    # predict prints, for each front design, the value the search scored for it
    assert main(["predict", "--space", "nb201", "--predictor", str(out), "--json", *archs]) == 0
    printed = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["accuracy"] for p in printed] == pytest.approx([d["accuracy"] for d in result.front])
    # a search of another space is refused with a one-line error and a non-zero exit
    assert main(["search", "--space", "imc", "--predictor", str(out)]) != 0
    assert "fitted on space 'nb201'" in capsys.readouterr().err


def test_benchmark_quick(capsys):
    import importlib.util
    from pathlib import Path

    from conftest import shared_file

    shared_file("analognasbench/analognasbench_c10.csv")
    spec = importlib.util.spec_from_file_location(
        "predictor_analog", Path(__file__).resolve().parents[1] / "benchmarks" / "predictor_analog.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--quick"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == 2 and out["cells"] == 15625
    assert out["robustness"]["fast_equals_reference_max_rel_err"] < 1e-12
    for target in ("analog_drift_86400", "analog_accuracy", "noisy_accuracy"):
        res = out["predictors"][target]
        assert set(res) >= {"xgb_graph", "xgb_analog", "prior_residual", "multifidelity_25+500"}
        assert -1 <= res["multifidelity_25+500"]["kendall"]["mean"] <= 1
    assert out["predictors"]["noisy_accuracy"]["held_out"] is True
    assert all({"measured", "met", "short_by"} <= set(g) for g in out["goals"].values())


def test_training_free_analog_score():
    from fastnax.predictors.training_free import DEAD_SCORE, NOISE_WEIGHT, TrainingFreeScore
    from fastnax.robustness import analog_score

    X, archs = _cells(20)
    score = analog_score(NB201, X, 0.1)
    base = TrainingFreeScore().predict_archs(archs)
    nsr = robustness.noise_to_signal(NB201, X, 0.1)
    live = np.isfinite(nsr)
    np.testing.assert_allclose(score[live], base[live] - NOISE_WEIGHT * np.log10(nsr[live]))
    assert (score[~live] == DEAD_SCORE).all() and (~live).sum() == 2
    # a uniform sigma shifts every live score equally: the ranking does not change
    shifted = analog_score(NB201, X, 0.2)
    np.testing.assert_allclose(shifted[live] - score[live], -NOISE_WEIGHT * np.log10(4.0))


def _prior_data(n, seed=0, noise=0.2):
    """Analog features of n random cells and a target that follows the analog score plus a bump."""
    from fastnax.predictors.multifidelity import analog_features
    from fastnax.predictors.training_free import DEAD_SCORE
    from fastnax.robustness import analog_score

    rng = np.random.default_rng(seed)
    X = np.c_[rng.integers(0, 5, (n, 6)), np.full(n, 2)].astype(float)
    A = analog_features(NB201, X)
    s = analog_score(NB201, X)
    y = np.where(s > DEAD_SCORE, 40 + 5 * s, 10.0) + 3.0 * (X[:, 3] == 3) + rng.normal(0, noise, n)
    return X, A, np.clip(y, 0, 100)


def test_prior_residual_predictor(tmp_path):
    from scipy.stats import kendalltau

    from fastnax.predictors import PriorResidualPredictor
    from fastnax.predictors.analog import RESIDUAL_PRIOR_RECORDS, normal_scores, to_accuracy

    X, A, y = _prior_data(25)
    few = PriorResidualPredictor().fit(A, y)
    # the prior is fitted on the normal scores: its slope is positive, the residual shrunk by n / (n + 15)
    assert few.coef_[1] > 0 and few.residual_weight_ == pytest.approx(25 / (25 + RESIDUAL_PRIOR_RECORDS))
    X, A, y = _prior_data(300, seed=1)
    model = PriorResidualPredictor().fit(A[:200], y[:200])
    # the edge-3 bump is not in the prior: the residual trees learn it and rank better out of fold
    assert model.cv_kendall_["residual"] > model.cv_kendall_["prior"]
    prior_only = model._prior(A[200:], model.feature_names_, model.coef_, model.dead_value_)
    assert kendalltau(model.predict(A[200:]), y[200:]).statistic > kendalltau(prior_only, y[200:]).statistic + 0.05
    # percent out, in the labelled range where the prediction is inside it; the ranking is that of z
    pred = model.predict(A)
    assert np.all((pred >= 0) & (pred <= 100))
    assert kendalltau(pred, model.predict_z(A)).statistic == pytest.approx(1.0)
    mean, lo, hi = model.predict_interval(A[200:], coverage=0.8)
    assert np.all(lo <= mean) and np.all(mean <= hi)
    assert 0.6 <= np.mean((y[200:] >= lo) & (y[200:] <= hi)) <= 1.0
    path = model.save(tmp_path / "pr.json")
    forest = tmp_path / "pr.forest.json"
    assert path.exists() and forest.exists()
    loaded = PriorResidualPredictor.load(path)
    np.testing.assert_array_equal(loaded.predict(A), model.predict(A))
    np.testing.assert_array_equal(loaded.predict_interval(A)[2], model.predict_interval(A)[2])
    # same seed, same predictor; another seed, other trees
    np.testing.assert_array_equal(PriorResidualPredictor().fit(A[:200], y[:200]).predict(A), pred)
    assert not np.array_equal(PriorResidualPredictor(random_state=1).fit(A[:200], y[:200]).predict(A), pred)
    forest.write_bytes(forest.read_bytes().replace(b"1", b"2", 1))
    with pytest.raises(PredictorFileError, match="sha256"):
        PriorResidualPredictor.load(path)
    (tmp_path / "pr.meta.json").write_bytes(b"\x80\x04pickle")
    with pytest.raises(PredictorFileError, match="pickle"):
        PriorResidualPredictor.load(path)
    with pytest.raises(BoundsError, match="expected A"):
        model.predict(A[:, :5])
    with pytest.raises(RecordsError, match="at least 4"):
        PriorResidualPredictor().fit(A[:3], y[:3])
    with pytest.raises(BoundsError, match="coverage"):
        model.predict_interval(A, coverage=1.5)


def test_normal_scores_and_map_back():
    from fastnax.predictors.analog import normal_scores, score_map, to_accuracy

    y = np.array([10.0, 50.0, 50.0, 80.0, 90.0])
    z = normal_scores(y)
    assert z[1] == z[2] and np.all(np.diff(z[[0, 1, 3, 4]]) > 0) and z[0] == pytest.approx(-z[4])
    knots = score_map(y)
    # the knots map back to the labelled accuracies exactly; between and beyond: strictly increasing
    np.testing.assert_allclose(to_accuracy(z, *knots), y)
    grid = np.linspace(-3, 3, 101)
    out = to_accuracy(grid, *knots)
    assert np.all(np.diff(out[(out > 0) & (out < 100)]) > 0) and out.min() >= 0 and out.max() <= 100
    # beyond the last knot: its segment's slope (80 -> 90 over its z gap)
    slope = 10.0 / (z[4] - z[3])
    assert to_accuracy(np.array([z[4] + 0.1]), *knots)[0] == pytest.approx(90 + 0.1 * slope)


def test_drop_penalty():
    X, archs = _cells(30)
    pen = robustness.drop_penalty(NB201, X, 0.1, noise_penalty=3.0)
    score = robustness.robustness_score(NB201, X, 1.0)
    live = np.isfinite(pen)
    assert (~live).sum() == 2 and (pen[live] > 0).all()
    # same ranking as the robustness score; scales with sigma squared and with noise_penalty
    order = np.argsort(score[live])
    assert np.all(np.diff(pen[live][order]) >= 0)
    np.testing.assert_allclose(robustness.drop_penalty(NB201, X, 0.2, noise_penalty=1.5)[live], 2 * pen[live])
    # per-layer sigmas equal to a scalar give the scalar's penalty
    width = max(len(a.weight_layers) for a in archs)
    np.testing.assert_allclose(robustness.drop_penalty(NB201, X, np.full((len(X), width), 0.1))[live], pen[live])
    # a median live cell at sigma_ref loses noise_penalty points
    ref = robustness._median_live_score(NB201)
    assert np.median(np.log10(pen[live] / 3.0) + ref) == pytest.approx(np.median(score[live]))
