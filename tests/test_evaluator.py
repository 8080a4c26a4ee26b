"""The evaluator: every column of every candidate is a function of that candidate alone, and every
result says which accuracy it reports (clean, under non-idealities, or a score).

Tests here fail on the code before the fix: it shared one prediction among the variants of a
network that differ in bit widths (which the packaged predictor reads), subtracted the
non-idealities a second time from a predictor of the accuracy under non-idealities, and stored
that predictor's output as ``accuracy_clean``.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnax import graph, hwmodel, spaces
from fastnax.datasets.images import space_options_for
from fastnax.errors import BoundsError, PredictorFileError
from fastnax.predictors import TrainingFreeScore
from fastnax.search import Restriction, run
from fastnax.search.accuracy import PACKAGED_PREDICTOR, load_predictor, resolve_accuracy_model
from fastnax.search.evaluator import Evaluator
from fastnax.search.optimizers import names as optimizer_names
from fastnax.search.spec import ObjectiveSpec

DIGITS = space_options_for("digits")


class Smooth:
    """A clean-accuracy model of the graph features only (no knob)."""

    target_ = "accuracy_clean"

    def predict(self, F):
        p = F[:, graph.feature_names().index("log10_params")]
        return 30 + 60 / (1 + np.exp(-(p - 4.5) * 1.5))


def _spaces():
    imc = spaces.get("imc")
    return {"imc-digits": spaces.get("imc", **DIGITS), "imc": imc, "nax": spaces.get("nax"),
            "nb201": spaces.get("nb201"),
            "restriction": Restriction(imc, imc.baseline("resnet20"),
                                       ["s0_blocks", "stem_crossbar", "w_bits", "adc_rule", "s1_conv0_kernel"])}


SPACES = _spaces()
MODELS = ["packaged", "smooth", "training-free"]


def _model(kind, space):
    if kind == "packaged":
        return resolve_accuracy_model(None, space, "digits" if space.options.get("input_size") == 8 else None)
    if kind == "smooth":
        return resolve_accuracy_model(Smooth(), space)
    return resolve_accuracy_model(TrainingFreeScore(), space)


def _shared_batch(space, rng, n_networks=6, variants=5):
    """Rows that share networks: each network with ``variants`` random changes of its hardware-only
    coordinates (crossbar sizes, bit widths), shuffled."""
    base = space.to_index(space.sample_vectors(n_networks, seed=rng))
    hardware = np.flatnonzero(~np.asarray(space.network_coordinates(), dtype=bool))
    rows = np.repeat(base, variants, axis=0)
    lo, hi = space.bounds[hardware, 0].astype(int), space.bounds[hardware, 1].astype(int)
    if len(hardware):
        rows[:, hardware] = rng.integers(lo, hi + 1, size=(len(rows), len(hardware)))
    rows = space.canonicalize(rows)
    return rows[rng.permutation(len(rows))].astype(float)


@pytest.mark.parametrize("space_name", list(SPACES))
@pytest.mark.parametrize("model_kind", MODELS)
@pytest.mark.parametrize("objective,accuracy", [("acc-edap", "auto"), ("accuracy", "noisy"), ("edap", "auto")])
def test_batch_equals_single(space_name, model_kind, objective, accuracy):
    """evaluate(X)[i] == evaluate(X[i:i+1]) for random batches of networks with shared hardware
    variants, every column."""
    space = SPACES[space_name]
    model = _model(model_kind, space)
    model.calibrate(space)
    # memo=False: every call prices its rows (with the memo, the single rows would come from it)
    evaluator = Evaluator(space, hwmodel.get_preset("puma-32nm"), model, ObjectiveSpec(objective, accuracy=accuracy),
                          memo=False)

    @settings(max_examples=4, deadline=None)
    @given(st.integers(0, 2**32 - 1))
    def check(seed):
        X = _shared_batch(space, np.random.default_rng(seed))
        _, batch = evaluator.columns(X)
        for i in range(len(X)):
            _, one = evaluator.columns(X[i:i + 1])
            for key, value in one.items():
                assert batch[key][i] == value[0], (key, i)

    check()


@pytest.mark.parametrize("space_name", ["imc-digits", "nb201", "restriction"])
def test_memo_returns_what_pricing_returns(space_name, monkeypatch):
    """A batch of seen and unseen rows (and repeats) gets, from the memo, exactly the columns an
    evaluator without a memo prices; seen rows are not priced again; with every row hashing alike
    (collisions everywhere) nothing is mixed up."""
    from fastnax.search import rows as rows_module  # the row hashes live there

    space = SPACES[space_name]
    model = _model("packaged" if space_name == "imc-digits" else "smooth", space)
    model.calibrate(space)
    hw = hwmodel.get_preset("puma-32nm")
    rng = np.random.default_rng(3)
    A = _shared_batch(space, rng)
    B = np.concatenate([A[::2], _shared_batch(space, rng), A[:5], A[:5]])
    for collide in (False, True):
        if collide:
            monkeypatch.setattr(rows_module, "_row_hash_weights", lambda d: np.zeros(d, dtype=np.int64))
        plain = Evaluator(space, hw, model, ObjectiveSpec(), memo=False)
        memo = Evaluator(space, hw, model, ObjectiveSpec())
        priced = []
        real = memo._price
        memo._price = lambda index: (priced.append(len(index)), real(index))[1]
        memo.columns(A)
        index, cols = memo.columns(B)
        ref_index, ref = plain.columns(B)
        np.testing.assert_array_equal(index, ref_index)
        for key in ref:
            np.testing.assert_array_equal(cols[key], ref[key], err_msg=key)
        n_new = len(np.unique(space.to_index(B)[~(space.to_index(B)[:, None, :] == space.to_index(A)[None]).all(axis=2).any(axis=1)], axis=0))
        assert priced[0] == len(np.unique(space.to_index(A), axis=0))
        assert priced[1] == n_new if not collide else priced[1] >= n_new


def test_packaged_predictor_reads_the_bit_widths_so_they_are_not_shared():
    space = SPACES["imc-digits"]
    model = _model("packaged", space)
    evaluator = Evaluator(space, hwmodel.get_preset("puma-32nm"), model, ObjectiveSpec(), memo=False)
    names = space.coordinate_names
    shared = {names[j] for j in evaluator.prediction_coordinates}
    assert {"w_bits", "in_bits", "cell_bits", "adc_rule"} <= shared
    assert not any("crossbar" in n for n in shared)  # crossbar variants still share a prediction
    # the example: the 4-bit design alone and after its 8-bit variant
    a = space.encode(["imc:1x8x8:10:w4a4c4:reduced/stem0/-/-/-/flatten-256x128-x16"])
    b = space.encode(["imc:1x8x8:10:w8a4c4:lossless/stem0/-/-/-/flatten-256x128-x16"])
    alone = evaluator.columns(a)[1]["accuracy"][0]
    after = evaluator.columns(np.concatenate([b, a]))[1]["accuracy"][1]
    assert alone == after


@pytest.mark.parametrize("method", optimizer_names())
def test_every_printed_number_is_the_designs_own(method):
    """Each front point, the best design and the baselines, re-priced one at a time, give the
    numbers the result printed, for every method (packaged predictor, digits space)."""
    space = spaces.get("nb201") if method in ("exhaustive", "shgo") else SPACES["imc-digits"]
    budget = {"hierarchical": None, "exhaustive": None, "bo": 60}.get(method, 600)
    predictor = Smooth() if space.name == "nb201" else None
    result = run(space, optimizer=method, seed=2, budget=budget, predictor=predictor, dataset="digits"
                 if space.name == "imc" else None)
    model = resolve_accuracy_model(predictor, space, "digits" if space.name == "imc" else None)
    model.calibrate(space)
    evaluator = Evaluator(space, hwmodel.get_preset("puma-32nm"), model, ObjectiveSpec())
    for p in result.front + [result.best] + result.baselines:
        _, cols = evaluator.columns(space.encode([p["arch"]]))
        assert cols["accuracy"][0] == p["accuracy"] and cols["edap"][0] == p["edap"], p["arch"]


# --- clean vs under non-idealities ---------------------------------------------------------------

def test_packaged_predictor_states_its_target():
    space = SPACES["imc-digits"]
    model = _model("packaged", space)
    assert model.kind == "predictor" and model.target == "accuracy_noisy"
    assert model.quantity("auto") == ("accuracy_noisy", False)
    assert model.quantity("noisy") == ("accuracy_noisy", False)  # never subtracted twice


def test_noisy_prediction_is_not_penalised_again_nor_labelled_clean(tmp_path):
    auto = run("imc", space_options=DIGITS, dataset="digits", seed=0)
    noisy = run("imc", space_options=DIGITS, dataset="digits", seed=0, accuracy="noisy")
    assert [p["accuracy"] for p in auto.front] == [p["accuracy"] for p in noisy.front]
    assert auto.settings["accuracy_quantity"] == "accuracy_noisy"
    data = json.loads(auto.to_json(tmp_path / "result.json").read_text())
    for p in data["front"] + [data["best"]] + data["baselines"]:
        assert "accuracy_clean" not in p and "accuracy_noisy" in p


def test_clean_accuracy_from_a_noisy_predictor_is_refused():
    with pytest.raises(BoundsError) as info:
        run("imc", space_options=DIGITS, dataset="digits", accuracy="clean")
    assert "\n" not in str(info.value) and "accuracy_noisy" in str(info.value)


def test_penalty_applies_to_a_clean_prediction_only():
    space = spaces.get("nb201")
    clean = run(space, optimizer="random", budget=80, predictor=Smooth(), seed=1)
    noisy = run(space, optimizer="random", budget=80, predictor=Smooth(), seed=1, accuracy="noisy",
                noise_penalty=5.0)
    assert clean.settings["accuracy_quantity"] == "accuracy_clean"
    assert noisy.settings["accuracy_quantity"] == "accuracy_noisy_penalized"
    ev = noisy.evaluated
    np.testing.assert_array_equal(ev["accuracy_clean"], clean.evaluated["accuracy"])
    # nb201 scales the penalty per cell (SearchSpace.noise_drop: the robustness estimate)
    per_cell = space.noise_drop(ev["index"], ev["noise_sigma"], 5.0, 0.1)
    drop = np.minimum(per_cell, np.maximum(ev["accuracy_clean"] - 10.0, 0))
    np.testing.assert_allclose(ev["accuracy_clean"] - ev["accuracy"], drop, atol=1e-9)
    assert (drop > 0).any()


def test_default_noise_drop_is_the_uniform_penalty():
    space = spaces.get("imc", input_size=8, in_channels=1)
    sigma = np.array([0.0, 0.05, 0.1, 0.2])
    np.testing.assert_allclose(space.noise_drop(np.zeros((4, space.dim), dtype=np.int64), sigma, 3.0, 0.1),
                               3.0 * (sigma / 0.1) ** 2)


def test_cli_accuracy_defaults_to_the_predictors_target(capsys):
    from fastnax.cli import main

    assert main(["search", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["accuracy"] == "auto"
    assert data["settings"]["accuracy_quantity"] == "accuracy_noisy"
    assert all("accuracy_clean" not in p for p in data["front"])


# --- one reader of predictor files ---------------------------------------------------------------

def _copy_packaged(tmp_path, edit):
    shutil.copy(PACKAGED_PREDICTOR, tmp_path / "p.json")
    meta = json.loads(PACKAGED_PREDICTOR.with_name("predictor.meta.json").read_text())
    edit(meta)
    (tmp_path / "p.meta.json").write_text(json.dumps(meta))
    return tmp_path / "p.json"


@pytest.mark.parametrize("edit,match", [
    (lambda m: m.update(format_version=2), "format version"),
    (lambda m: m["feature_set"].update(n_features=43), "n_features"),
])
def test_both_loaders_refuse_the_same_files(tmp_path, edit, match):
    xgb = pytest.importorskip("xgboost")
    del xgb
    from fastnax.predictors import XGBPredictor

    path = _copy_packaged(tmp_path, edit)
    with pytest.raises(PredictorFileError, match=match):
        XGBPredictor.load(path)
    with pytest.raises(PredictorFileError, match=match):
        load_predictor(path)
    with pytest.raises(PredictorFileError):
        run("imc", space_options=DIGITS, predictor=path)


def test_a_predictor_that_does_not_name_its_space_cannot_score_a_search(tmp_path):
    path = _copy_packaged(tmp_path, lambda m: m.update(space=None))
    with pytest.raises(PredictorFileError, match="space: null"):
        run("nb201", predictor=path)
    with pytest.raises(PredictorFileError, match="imc"):
        run("nb201", predictor=_copy_packaged(tmp_path, lambda m: None))


def test_an_in_process_xgboost_predictor_reports_the_features_it_splits_on():
    pytest.importorskip("xgboost")
    from fastnax.predictors import XGBPredictor

    space = SPACES["imc-digits"]
    X = space.sample_vectors(120, seed=4)
    F = space.features(X)
    names = graph.feature_names()
    y = 50 + 10 * F[:, names.index("w_bits")] / 8 + F[:, names.index("log10_params")]
    model = XGBPredictor(n_estimators=20, max_depth=3, random_state=0).fit(F, y)
    wrapped = resolve_accuracy_model(model, space)
    mask = wrapped.feature_mask()
    assert mask[names.index("w_bits")] and not mask.all()
    evaluator = Evaluator(space, hwmodel.get_preset("puma-32nm"), wrapped, ObjectiveSpec(), memo=False)
    assert space.coordinate_names.index("w_bits") in evaluator.prediction_coordinates
    batch = _shared_batch(space, np.random.default_rng(0))
    _, cols = evaluator.columns(batch)
    for i in range(len(batch)):
        assert evaluator.columns(batch[i:i + 1])[1]["accuracy"][0] == cols["accuracy"][i]


def test_pricing_runs_blas_on_one_thread():
    """The batches' small matrix products run on one BLAS thread (the same wall time, less CPU)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from fastnax.search.evaluator import one_blas_thread

    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    if not blas:
        pytest.skip("numpy's BLAS is not one threadpoolctl controls")
    with one_blas_thread():
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    assert [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"] == [
        i["num_threads"] for i in blas]
