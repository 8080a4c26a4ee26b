"""What a search prints is what its accuracy model gives: intervals, support, risk, records, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax import search, spaces
from fastnax.datasets.records import read_records
from fastnax.errors import BoundsError

PACKAGED_RECORDS = "fastnax/data/digits_imc_records.jsonl"


@pytest.fixture(scope="module")
def default_result():
    from fastnax.datasets import space_options_for

    return search.run("imc", space_options=space_options_for("digits"), dataset="digits", seed=0)


def _points(result):
    return [*result.front, result.best, *result.baselines]


def test_points_carry_mean_interval_and_support(default_result):
    for p in _points(default_result):
        assert p["accuracy_lower"] <= p["accuracy_mean"] + 1e-9 <= p["accuracy_upper"] + 2e-9
        assert p["accuracy"] <= p["accuracy_mean"] + 1e-9  # pessimistic by default
        assert isinstance(p["in_support"], bool) and isinstance(p["measured"], bool)
    assert default_result.settings["risk"] == pytest.approx(0.4)


def test_no_prediction_above_the_best_record(default_result):
    """The default front once printed 100.00 % (an XGBoost output of 100.013, clipped), above every
    record (best 95.7 %): an extrapolation of summed leaves is not a result."""
    from pathlib import Path

    import fastnax

    records = read_records(Path(fastnax.__file__).parent / "data" / "digits_imc_records.jsonl")
    best_record = max(r.accuracy_noisy for r in records)
    for p in _points(default_result):
        assert p["accuracy_mean"] <= best_record + 1e-9
        assert p["accuracy"] <= best_record + 1e-9


def test_out_of_support_designs_never_beat_their_nearest_record():
    from fastnax.datasets import space_options_for
    from fastnax.search.api import make_evaluator

    ev = make_evaluator("imc", space_options=space_options_for("digits"), dataset="digits")
    X = ev.space.sample_vectors(3000, seed=7)
    index, cols = ev.columns(X)
    out = cols["in_support"] == 0
    assert out.any() and (~out).any()  # both kinds occur in a random sample
    unc = ev.accuracy_model.uncertainty
    F = ev.space.features_from_index(index[out])
    _, j = unc.nearest(F)
    nearest_y = np.asarray(unc.record_y)[j]
    dead = F[:, list(__import__("fastnax.graph", fromlist=["x"]).feature_names()).index("dead")] > 0
    assert np.all((cols["accuracy_mean"][out] <= nearest_y + 1e-9) | dead)


def test_risk_one_half_scores_the_mean_and_lower_risks_score_less():
    from fastnax.datasets import space_options_for
    from fastnax.search.api import make_evaluator

    X = spaces.get("imc", **space_options_for("digits")).sample_vectors(500, seed=3)
    cols = {}
    for risk in (0.05, 0.1, 0.25, 0.5):
        ev = make_evaluator("imc", space_options=space_options_for("digits"), dataset="digits", risk=risk)
        cols[risk] = ev.columns(X)[1]
    assert np.array_equal(cols[0.5]["accuracy"], cols[0.5]["accuracy_mean"])
    for a, b in ((0.05, 0.1), (0.1, 0.25), (0.25, 0.5)):
        assert np.all(cols[a]["accuracy"] <= cols[b]["accuracy"] + 1e-12)
    assert np.any(cols[0.1]["accuracy"] < cols[0.5]["accuracy"] - 1e-6)
    # the mean and the interval do not depend on the risk scored
    for key in ("accuracy_mean", "accuracy_lower", "accuracy_upper", "in_support"):
        assert np.array_equal(cols[0.1][key], cols[0.5][key])


def test_the_printed_risk_says_what_was_scored(default_result):
    assert "scored accuracy: its 0.4 quantile" in default_result.table()
    # the training-free score has no interval: the risk cannot change what it scores
    scored = {risk: search.run("nb201", risk=risk, budget=300, method="random", seed=1) for risk in (0.1, 0.5)}
    assert [p["accuracy"] for p in scored[0.1].front] == [p["accuracy"] for p in scored[0.5].front]
    text = scored[0.1].table()
    assert "no interval: --risk has no effect" in text and "quantile" not in text


@pytest.mark.parametrize("risk", [0.0, 0.51, -0.1, float("nan"), True])
def test_bad_risk_is_refused(risk):
    with pytest.raises(BoundsError, match="risk"):
        search.run("nb201", risk=risk, budget=10, method="random")


def test_predict_prints_exactly_what_the_search_prints(default_result):
    archs = [p["arch"] for p in default_result.front] + [b["arch"] for b in default_result.baselines]
    out = search.predict(archs, dataset="digits")
    printed = [p["accuracy"] for p in default_result.front] + [b["accuracy"] for b in default_result.baselines]
    assert [r["accuracy"] for r in out["predictions"]] == printed
    assert [r["lower"] for r in out["predictions"]] == [p["accuracy_lower"] for p in
                                                        (*default_result.front, *default_result.baselines)]
    assert out["target"] == "accuracy_noisy"


def test_predict_command_json(default_result, capsys):
    from fastnax.cli import main

    arch = default_result.best["arch"]
    assert main(["predict", arch, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"target", "predictions"}
    (row,) = out["predictions"]
    assert set(row) >= {"arch", "accuracy", "lower", "upper", "in_support"}
    assert row["arch"] == arch and row["accuracy"] == default_result.best["accuracy"]


def test_predict_command_bad_input_is_one_line(capsys):
    from fastnax.cli import main

    for argv in (["predict"], ["predict", "imc:nonsense"], ["predict", "--risk", "2", "--baseline", "resnet20"],
                 ["predict", "--baseline", "resnet99"]):
        code = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0 and len(err) == 1 and err[0].startswith("fastnax"), (argv, err)
    # a baseline's name where an architecture string goes: the error names the flag that takes it
    assert main(["predict", "resnet20"]) == 2
    assert "--baseline resnet20" in capsys.readouterr().err


def _nb201_records(tmp_path, n=30, seed=0):
    space = spaces.get("nb201")
    archs = [str(a) for a in space.sample(n, seed=seed)]
    rng = np.random.default_rng(seed)
    acc = 60 + 30 * rng.uniform(size=n)
    path = tmp_path / "records.jsonl"
    with open(path, "w") as f:
        for a, y in zip(archs, acc):
            f.write(json.dumps({"arch": a, "space": "nb201", "dataset": "cifar10", "epochs": 1, "seed": 0,
                                "accuracy_clean": float(y), "accuracy_noisy": None, "train_seconds": 1.0,
                                "fastnax_version": "test"}) + "\n")
        # a second measurement of the first architecture
        f.write(json.dumps({"arch": archs[0], "space": "nb201", "dataset": "cifar10", "epochs": 1, "seed": 1,
                            "accuracy_clean": float(acc[0] + 2.0), "accuracy_noisy": None,
                            "train_seconds": 1.0, "fastnax_version": "test"}) + "\n")
    return path, archs, acc


def test_a_candidate_that_is_a_record_is_scored_by_its_measurement(tmp_path):
    pytest.importorskip("xgboost")
    from fastnax.predictors import XGBPredictor

    path, archs, acc = _nb201_records(tmp_path)
    model = XGBPredictor(random_state=0, n_estimators=20).fit_records(path, target="accuracy_clean")
    saved = model.save(tmp_path / "p.json")
    other = str(spaces.get("nb201").sample(200, seed=99)[150])
    for predictor in (model, saved):
        out = search.predict([archs[0], archs[1], other], predictor)
        first, second, third = out["predictions"]
        assert first["measured"] and second["measured"]
        assert first["accuracy"] == pytest.approx(acc[0] + 1.0)  # mean of its two records
        assert (first["lower"], first["upper"]) == (pytest.approx(acc[0]), pytest.approx(acc[0] + 2.0))
        assert second["accuracy"] == pytest.approx(acc[1])
        if other not in archs:
            assert not third["measured"]


def test_the_predictors_records_are_candidates_of_the_front(default_result):
    """Measured designs enter the archive: a front point that is a record shows its measurement."""
    measured = [p for p in default_result.front if p["measured"]]
    assert measured, "no record reached the default front"
    for p in measured:
        assert p["accuracy"] == p["accuracy_mean"]
    baselines = {b["name"]: b for b in default_result.baselines}
    assert baselines["resnet20"]["measured"] and baselines["vgg8"]["measured"]


def test_a_records_hardware_variant_is_not_given_its_measurement():
    """A record measured one crossbar assignment: a variant that differs only in a coordinate the
    predictor ignores shares the prediction, never the measurement, in any batch."""
    from fastnax.datasets import space_options_for
    from fastnax.search.api import make_evaluator

    ev = make_evaluator("imc", space_options=space_options_for("digits"), dataset="digits")
    ev.use_memo = False  # each call prices its rows
    record = ev.accuracy_model.measured_index()[0]
    names = ev.space.coordinate_names
    j = next(j for j, name in enumerate(names) if name.endswith("crossbar") and j not in ev.prediction_coordinates
             and ev.space.bounds[j, 1] > ev.space.bounds[j, 0])
    variant = record.copy()
    variant[j] = ev.space.bounds[j, 0] if record[j] != ev.space.bounds[j, 0] else ev.space.bounds[j, 1]
    variant = ev.space.canonicalize(variant[None])[0]
    if np.array_equal(variant, record):
        pytest.skip("the chosen coordinate is inactive for this record")
    both = ev.columns(np.stack([record, variant]).astype(float))[1]
    alone = ev.columns(variant[None].astype(float))[1]
    assert both["measured"][0] == 1 and both["measured"][1] == 0
    for key in both:
        assert both[key][1] == alone[key][0], key


def test_the_hardware_model_travels_with_the_result(tmp_path):
    from fastnax import hwmodel
    from fastnax.hwmodel import HardwareModel
    from fastnax.search.result import SearchResult

    model = hwmodel.get_preset("puma-32nm").with_overrides({"adc": {"rule": "fixed", "bits": 5}})
    result = search.run("nb201", preset=model, method="random", budget=50)
    assert result.settings["preset"] == model.name and model.name != "puma-32nm"
    stored = result.settings["hardware"]
    assert HardwareModel.from_dict(stored) == model
    result.to_json(tmp_path / "r.json")
    again = SearchResult.from_json(tmp_path / "r.json")
    assert HardwareModel.from_dict(again.settings["hardware"]) == model


def test_noisy_objective_on_nb201_knows_the_network():
    """The noise penalty of a clean prediction depends on the cell (robustness estimate), not on the
    mean sigma alone; it is batch-independent and zero-noise-penalty gives the clean value."""
    from fastnax.predictors import TrainingFreeScore
    from fastnax.search.api import make_evaluator

    ev = make_evaluator("nb201", predictor=TrainingFreeScore(), accuracy="noisy")
    clean = make_evaluator("nb201", predictor=TrainingFreeScore(), accuracy="noisy", noise_penalty=0.0)
    X = ev.space.sample_vectors(400, seed=5)
    X[:, 6] = X[0, 6]  # one crossbar size: one mean sigma for every cell
    _, cols = ev.columns(X)
    _, base = clean.columns(X)
    drop = base["accuracy_mean"] - cols["accuracy_mean"]
    live = cols["accuracy_mean"] > ev.accuracy_model.chance + 1e-9
    assert np.ptp(cols["noise_sigma"]) < 1e-12
    assert np.ptp(drop[live]) > 1e-3  # different cells lose different amounts at the same sigma
    ev.use_memo = False  # price the single rows again (the memo would return the batch's values)
    for i in (0, 17, 399):
        _, single = ev.columns(X[i:i + 1])
        assert single["accuracy"][0] == cols["accuracy"][i]


def test_a_predictor_of_a_named_accuracy_scores_a_search(tmp_path):
    pytest.importorskip("xgboost")
    from fastnax.predictors import XGBPredictor

    space = spaces.get("nb201")
    archs = [str(a) for a in space.sample(30, seed=2)]
    rng = np.random.default_rng(2)
    path = tmp_path / "analog.jsonl"
    with open(path, "w") as f:
        for a in archs:
            f.write(json.dumps({"arch": a, "space": "nb201", "dataset": "cifar10", "epochs": 200, "seed": 0,
                                "accuracy_clean": float(rng.uniform(80, 94)), "accuracy_noisy": None,
                                "accuracy_analog_drift_86400": float(rng.uniform(70, 90)),
                                "train_seconds": 1.0, "fastnax_version": "test"}) + "\n")
    model = XGBPredictor(random_state=0, n_estimators=20).fit_records(path, target="accuracy_analog_drift_86400")
    saved = model.save(tmp_path / "p.json")
    result = search.run("nb201", predictor=saved, method="random", budget=200)
    assert result.settings["accuracy_quantity"] == "accuracy_analog_drift_86400"
    assert "drift" in result.settings["accuracy_meaning"]
    assert all("accuracy_analog_drift_86400" in p for p in result.front)
    with pytest.raises(BoundsError, match="clean"):
        search.run("nb201", predictor=saved, method="random", budget=10, accuracy="clean")


def test_pipeline_finalists_skip_designs_outside_the_support():
    from fastnax.pipeline import pick_finalists

    front = [{"arch": f"a{i}", "accuracy": 50.0 + i, "edap": 10.0 ** i, "in_support": i % 2 == 0}
             for i in range(6)]
    chosen = pick_finalists(front, front[4], 0.0, 3)
    assert all(int(a[1:]) % 2 == 0 for a in chosen)
    everywhere_out = [dict(p, in_support=False) for p in front]
    assert len(pick_finalists(everywhere_out, front[4], 0.0, 3)) == 3


def test_predictor_feature_names_follow_scikit_learn(tmp_path):
    pytest.importorskip("xgboost")
    import warnings

    from fastnax import graph
    from fastnax.predictors import XGBPredictor

    path, archs, _ = _nb201_records(tmp_path)
    model = XGBPredictor(random_state=0, n_estimators=10).fit_records(path, target="accuracy_clean")
    assert list(model.feature_names_in_) == graph.feature_names() == model.feature_names_
    loaded = XGBPredictor.load(model.save(tmp_path / "p.json"))
    assert list(loaded.feature_names_in_) == graph.feature_names()
    F = graph.features(archs[:3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names" on a plain matrix
        assert np.array_equal(model.predict(F), loaded.predict(F))
    with pytest.raises(ValueError, match="features"):
        model.predict(F[:, :5])
