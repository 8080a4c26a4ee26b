"""Predictors that read the hardware model's noise figures (fastnax.predictors.hardware_features):
the feature is the hardware model's, files say which chips, a search computes it from each
candidate alone and gives every crossbar variant its own prediction, and predict prints what the
search prints."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax import hwmodel, search, spaces
from fastnax.arch import KIND_PAD, LayerTable
from fastnax.datasets import space_options_for
from fastnax.datasets.records import read_records
from fastnax.errors import PredictorFileError, RecordsError
from fastnax.predictors import hardware_features

pytest.importorskip("xgboost")

CIFAR_RECORDS = "fastnax/data/cifar10_imc_records.jsonl"
DIGITS_RECORDS = "fastnax/data/digits_imc_records.jsonl"
CHIPS = "puma-32nm+rram-wan2022-1d"


@pytest.fixture(scope="module")
def digits_hw(tmp_path_factory):
    from fastnax.predictors import XGBPredictor

    model = XGBPredictor(random_state=0, n_estimators=60, max_depth=4, learning_rate=0.15)
    model.fit_records(DIGITS_RECORDS, target="accuracy_noisy", hardware=True)
    path = tmp_path_factory.mktemp("hw") / "p.json"
    model.save(path)
    return model, path


def test_the_feature_is_the_hardware_models_mean_layer_sigma():
    space = spaces.get("imc", **space_options_for("cifar10"))
    X = space.sample_vectors(200, seed=4)
    index = space.to_index(X)
    archs = space.decode(X)
    model, nonideality = hwmodel.get_preset("puma-32nm"), hwmodel.get_nonideality("rram-wan2022-1d")
    table = LayerTable.from_architectures(archs)  # the per-architecture reference
    sigma = np.asarray(model.evaluate(table, nonideality).noise_sigma)
    live = table.kind != KIND_PAD
    expected = np.where(live, sigma, 0.0).sum(axis=1) / live.sum(axis=1)
    np.testing.assert_allclose(hardware_features.sigma_mean(space, index, CHIPS), expected, rtol=1e-12)
    # it depends on the crossbar sizes: a stem crossbar changed changes it (stem present)
    x = X[np.flatnonzero(index[:, space.layout.stem] > 0)[0]].copy()
    other = x.copy()
    other[space.layout.stem + 2] = (other[space.layout.stem + 2] + 2) % 5
    a, b = hardware_features.sigma_mean(space, space.to_index(np.stack([x, other])), CHIPS)
    assert a != b


def test_file_names_the_chips_and_round_trips(digits_hw):
    from fastnax.predictors import XGBPredictor

    model, path = digits_hw
    meta = json.loads(path.with_name("p.meta.json").read_text())
    assert meta["feature_set"]["kind"] == "fastnax.graph+hardware"
    assert meta["feature_set"]["chips"] == CHIPS
    assert meta["feature_set"]["names"] == hardware_features.feature_names()
    loaded = XGBPredictor.load(path)
    assert loaded.hardware_chips_ == CHIPS
    archs = [r.arch for r in read_records(DIGITS_RECORDS)[:30]]
    np.testing.assert_array_equal(loaded.predict_archs(archs), model.predict_archs(archs))


def test_unknown_chips_or_feature_names_are_refused(digits_hw, tmp_path):
    from fastnax.predictors.files import read_predictor_file

    _, path = digits_hw
    for change, match in ((lambda fs: fs.update(chips="puma-32nm+no-such-cells"), "chips"),
                          (lambda fs: fs.update(names=fs["names"][:-1]), "feature set")):
        meta = json.loads(path.with_name("p.meta.json").read_text())
        change(meta["feature_set"])
        (tmp_path / "p.json").write_bytes(path.read_bytes())
        (tmp_path / "p.meta.json").write_text(json.dumps(meta))
        with pytest.raises(PredictorFileError, match=match):
            read_predictor_file(tmp_path / "p.json")


def test_records_on_several_chips_are_refused(tmp_path):
    from fastnax.predictors import XGBPredictor

    lines = open(DIGITS_RECORDS).read().splitlines()
    rows = [json.loads(line) for line in lines[:20]]
    rows[0]["hardware"] = "puma-32nm+pcm-aihwkit"
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(RecordsError, match="one set of chips"):
        XGBPredictor(n_estimators=5).fit_records(path, target="accuracy_noisy", hardware=True)


def test_a_search_prices_every_crossbar_variant_from_the_candidate_alone(digits_hw):
    _, path = digits_hw
    options = space_options_for("digits")
    space = spaces.get("imc", **options)
    ev = search.make_evaluator("imc", predictor=str(path), dataset="digits", space_options=options)
    assert ev.accuracy_model.reads_hardware
    assert len(ev.prediction_coordinates) == space.dim  # nothing shared between hardware variants
    X = space.sample_vectors(40, seed=9)
    X[20:] = X[:20]
    for row in X[20:]:  # the same networks on other crossbars of the classifier
        row[space.layout.head + 3] = (row[space.layout.head + 3] + 1) % 5
    cols = ev.columns(X)[1]
    alone = [ev.columns(X[i:i + 1])[1] for i in range(len(X))]
    for key in ("accuracy", "accuracy_mean", "accuracy_lower", "accuracy_upper", "in_support"):
        np.testing.assert_array_equal(cols[key], [a[key][0] for a in alone], err_msg=key)
    assert np.any(cols["accuracy_mean"][:20] != cols["accuracy_mean"][20:])


def test_predict_prints_what_the_search_prints(digits_hw):
    _, path = digits_hw
    options = space_options_for("digits")
    result = search.run("imc", predictor=str(path), dataset="digits", space_options=options, budget=3000)
    points = [*result.front, result.best]
    out = search.predict([p["arch"] for p in points], predictor=str(path), dataset="digits")
    got = out["predictions"] if isinstance(out, dict) else out
    for p, q in zip(points, got):
        assert q["accuracy"] == p["accuracy"] and q["arch"] == p["arch"]


def test_the_packaged_cifar10_predictor_reads_the_hardware_features():
    ev = search.make_evaluator("imc", dataset="cifar10")
    assert ev.accuracy_model.reads_hardware
    assert ev.accuracy_model.describe()["hardware_features"] == CHIPS
    text = search.run("imc", dataset="cifar10", budget=500, method="random").table()
    assert "features: graph metrics and the hardware model's noise on " + CHIPS in text


def test_a_runs_refit_reads_what_the_packaged_predictor_reads():
    from fastnax.pipeline import _packaged_reads_hardware

    assert _packaged_reads_hardware("cifar10") and not _packaged_reads_hardware("digits")
    assert not _packaged_reads_hardware("no-such-dataset")


def test_fit_command_flag(tmp_path, capsys):
    from fastnax.cli import main

    out = tmp_path / "p.json"
    assert main(["fit", DIGITS_RECORDS, "--out", str(out), "--target", "accuracy_noisy",
                 "--hardware-features", "--cv", "3"]) == 0
    assert "noise sigma on " + CHIPS in capsys.readouterr().out
    assert json.loads(out.with_name("p.meta.json").read_text())["feature_set"]["chips"] == CHIPS
    assert main(["fit", DIGITS_RECORDS, "--out", str(out), "--method", "prior-residual",
                 "--hardware-features"]) == 2
    assert "--hardware-features is an option of --method xgb" in capsys.readouterr().err


def test_sigma_mean_of_an_empty_batch():
    space = spaces.get("imc")
    assert hardware_features.sigma_mean(space, np.zeros((0, space.dim), dtype=np.int64), CHIPS).shape == (0,)
    with pytest.raises(PredictorFileError, match="chips"):
        hardware_features.chips_models("no-such-preset+rram-wan2022-1d")

