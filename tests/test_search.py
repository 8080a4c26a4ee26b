"""Search: objectives, optimizers, Pareto utilities, SearchResult and the ``fastnax search`` command.

The accuracy model in most tests is a small fixed stand-in (a smooth function of the graph
features) so that the tests exercise the search itself, independently of the predictors' fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax import graph, spaces
from fastnax.errors import BoundsError, FastnaxError, RecordsError, UnknownNameError
from fastnax.search import Restriction, SearchResult, hypervolume_2d, non_dominated_mask, run
from fastnax.search import rows as rows_module
from fastnax.search import objectives as obj
from fastnax.search.optimizers import enumerate_space
from fastnax.search.pareto import non_dominated_mask_bruteforce


class StandInPredictor:
    """Accuracy (percent) rising with parameters and depth, saturating; dead networks at chance."""

    def predict(self, F):
        F = np.asarray(F, dtype=float)
        names = graph.feature_names()
        p = F[:, names.index("log10_params")]
        depth = F[:, names.index("depth")]
        dead = F[:, names.index("dead")]
        k3 = F[:, names.index("n_conv3")] / np.maximum(F[:, names.index("n_conv")], 1)
        acc = 30 + 60 / (1 + np.exp(-(p - 4.5) * 1.5)) + 2 * np.tanh(depth / 8) + 1.5 * k3
        return np.where(dead > 0, 10.0, acc)


@pytest.fixture(autouse=True)
def default_model(monkeypatch):
    """Until the training-free score exists, the default accuracy model is the stand-in."""
    try:
        from fastnax.predictors import TrainingFreeScore  # noqa: F401
    except ImportError:
        monkeypatch.setattr(obj, "_training_free", lambda why: obj.AccuracyModel(
            StandInPredictor(), "training-free score", {"why": why}))


PRED = StandInPredictor()


def _small_imc():
    """ResNet-20 with per-stage block counts (0-3), the first kernel and the stem/classifier
    crossbars free."""
    base = spaces.get("imc")
    return Restriction(base, base.baseline("resnet20"),
                       ["s0_blocks", "s1_blocks", "s2_blocks", "stem_crossbar", "fc2_crossbar",
                        "s0_conv0_kernel"],
                       upper={"s0_blocks": 3, "s1_blocks": 3, "s2_blocks": 3})


# --- Pareto utilities ------------------------------------------------------------------------

@pytest.mark.parametrize("m", [2, 3])
def test_non_dominated_matches_bruteforce(m):
    rng = np.random.default_rng(m)
    for trial in range(20):
        F = rng.integers(0, 6, size=(int(rng.integers(1, 60)), m)).astype(float)  # many ties
        assert np.array_equal(non_dominated_mask(F), non_dominated_mask_bruteforce(F)), trial


def test_hypervolume_hand_computed():
    # points (1,3), (2,2), (3,1) with reference (4,4): 3 + 2 + 1 = 6 unit squares
    F = np.array([[1, 3], [2, 2], [3, 1], [3, 3]], dtype=float)
    assert hypervolume_2d(F, (4, 4)) == pytest.approx(6.0)
    assert hypervolume_2d(np.array([[5.0, 5.0]]), (4, 4)) == 0.0


def test_unique_rows_matches_numpy():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 3, size=(500, 4))
    first, inverse = obj.unique_rows(A)
    _, ref_first = np.unique(A, axis=0, return_index=True)
    assert np.array_equal(first, np.sort(ref_first))
    assert np.array_equal(A[first][inverse], A)


def test_unique_rows_survives_hash_collisions(monkeypatch):
    """With every row hashing alike the exact fallback must still separate different rows."""
    monkeypatch.setattr(rows_module, "_row_hash_weights", lambda d: np.zeros(d, dtype=np.int64))
    A = np.random.default_rng(1).integers(0, 3, size=(300, 4))
    first, inverse = obj.unique_rows(A)
    _, ref_first = np.unique(A, axis=0, return_index=True)
    assert np.array_equal(first, np.sort(ref_first))
    assert np.array_equal(A[first][inverse], A)


# --- objectives ---------------------------------------------------------------------------------

def test_scalar_objective_hand_computed():
    spec = obj.ObjectiveSpec("acc-edap", beta=0.3, max_area=2.0)
    cols = {"accuracy": np.array([90.0, 90.0]), "edap": np.array([8.0, 8.0]),
            "area_mm2": np.array([1.0, 3.0]), "latency_ns": np.ones(2), "energy_pj": np.ones(2)}
    J = spec.scalar(cols)
    expected = -np.log(0.9) + 0.3 * np.log(8.0) / 3
    assert J[0] == pytest.approx(expected)
    assert J[1] == pytest.approx(expected + 1e3 * 1.5)  # area 50 % over budget


def test_noisy_accuracy_penalty_grows_with_sigma():
    space = spaces.get("nb201")
    X = space.sample_vectors(50, seed=0)
    clean = run(space, method="random", budget=50, predictor=PRED, accuracy="clean", seed=1)
    noisy = run(space, method="random", budget=50, predictor=PRED, accuracy="noisy", seed=1,
                noise_penalty=5.0)
    a, b = clean.evaluated, noisy.evaluated
    assert np.array_equal(a["index"], b["index"])
    drop = b["accuracy_clean"] - b["accuracy"]
    # nb201 scales the uniform penalty per cell (SearchSpace.noise_drop, the robustness estimate)
    expected = np.minimum(space.noise_drop(b["index"], b["noise_sigma"], 5.0, 0.1),
                          np.maximum(b["accuracy_clean"] - 10.0, 0))
    np.testing.assert_allclose(drop, expected, atol=1e-9)
    assert X.shape[0] == 50


# --- methods -------------------------------------------------------------------------------------

def _check_front(result, space):
    front = result.front
    assert front, "empty front"
    F = np.array([[-p["accuracy"], p["edap"]] for p in front])
    assert non_dominated_mask(F).all()
    for p in front:
        arch = space.decode(space.encode([p["arch"]]))[0]
        assert str(arch) == p["arch"]
    # the front dominates every evaluated feasible candidate or equals it
    ev = result.evaluated
    allF = np.stack([-ev["accuracy"], ev["edap"]], axis=1)
    for row in allF[ev["feasible"]][:200]:
        assert ((F <= row).all(axis=1)).any()


@pytest.mark.parametrize("method", ["hierarchical", "de", "shgo", "random", "bo", "exhaustive"])
def test_every_method_returns_valid_front(method):
    space = spaces.get("nb201")
    budget = {"bo": 40, "exhaustive": None, "hierarchical": None}.get(method, 300)
    result = run(space, method=method, predictor=PRED, seed=3, budget=budget)
    _check_front(result, space)
    if budget is not None:
        assert result.n_evaluations <= budget
    assert result.best is not None


def test_same_seed_same_json(tmp_path):
    a = run("imc", predictor=PRED, seed=7)
    b = run("imc", predictor=PRED, seed=7)
    a.to_json(tmp_path / "a.json")
    b.to_json(tmp_path / "b.json")
    da, db = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    da.pop("timings"), db.pop("timings")
    assert json.dumps(da) == json.dumps(db)
    c = run("nb201", method="de", predictor=PRED, seed=7, budget=400).to_dict()
    d = run("nb201", method="de", predictor=PRED, seed=7, budget=400).to_dict()
    c.pop("timings"), d.pop("timings")
    assert c == d


def test_hierarchical_finds_exhaustive_optimum_nb201():
    space = spaces.get("nb201")
    exact = run(space, method="exhaustive", predictor=PRED)
    for seed in range(3):
        found = run(space, method="hierarchical", predictor=PRED, seed=seed)
        assert found.best["objective"] <= exact.best["objective"] + 0.01 * abs(exact.best["objective"])
        assert found.n_evaluations < space.size / 3


def test_hierarchical_finds_exhaustive_optimum_small_imc():
    space = _small_imc()
    # s0: no block (kernel inactive) or 1-3 blocks x 4 kernels; s1, s2: 0-3 blocks; two crossbars
    assert space.size == (1 + 3 * 4) * 4 * 4 * 5 * 5
    assert len(enumerate_space(space)) == space.size
    exact = run(space, method="exhaustive", predictor=PRED)
    found = run(space, method="hierarchical", predictor=PRED, seed=0)
    assert found.best["objective"] == pytest.approx(exact.best["objective"], rel=0.01)


def test_constraints_respected():
    result = run("nb201", method="exhaustive", predictor=PRED, max_area=25.0, min_accuracy=50)
    assert result.best["area_mm2"] <= 25.0 and result.best["accuracy"] >= 50
    assert all(p["area_mm2"] <= 25.0 and p["accuracy"] >= 50 for p in result.front)
    assert result.settings["constraints"]["max_area_mm2"] == 25.0


# --- bad options -----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,error", [
    ({"method": "annealing"}, UnknownNameError), ({"objective": "speed"}, UnknownNameError),
    ({"budget": 0}, BoundsError), ({"seed": -1}, BoundsError), ({"max_area": -1.0}, BoundsError),
    ({"min_accuracy": 140.0}, BoundsError), ({"accuracy": "dirty"}, UnknownNameError),
    ({"method": "shgo"}, BoundsError), ({"method": "exhaustive"}, BoundsError),
    ({"space": "cifar"}, UnknownNameError), ({"preset": "puma-23nm"}, UnknownNameError),
])
def test_bad_options_raise_one_line_errors(kwargs, error):
    args = {"space": "imc", "predictor": PRED, **kwargs}
    with pytest.raises(error) as info:
        run(**args)
    assert "\n" not in str(info.value)


def test_predictor_file_errors(tmp_path):
    with pytest.raises(FastnaxError):
        run("nb201", predictor=tmp_path / "missing.json")


# --- SearchResult ----------------------------------------------------------------------------

def test_result_json_round_trip_and_validation(tmp_path):
    result = run("nb201", predictor=PRED, method="random", budget=200)
    path = result.to_json(tmp_path / "r.json")
    back = SearchResult.from_json(path)
    assert back.front == result.front and back.best == result.best and back.seed == result.seed
    data = json.loads(path.read_text())
    data["front"][0]["edap"] = "lots"
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(RecordsError):
        SearchResult.from_json(tmp_path / "bad.json")
    (tmp_path / "worse.json").write_text("{not json")
    with pytest.raises(RecordsError):
        SearchResult.from_json(tmp_path / "worse.json")


def test_baseline_and_best_are_priced_the_same_way():
    result = run("imc", predictor=PRED)
    names = [b["name"] for b in result.baselines]
    assert "resnet20" in names
    space = spaces.get("imc")
    b = result.baselines[names.index("resnet20")]
    assert b["arch"] == str(space.baseline("resnet20"))
    from fastnax import hwmodel

    cost = hwmodel.get_preset("puma-32nm").evaluate(space.layer_table([space.baseline("resnet20")]))
    assert b["edap"] == pytest.approx(float(cost.edap[0]))
    assert result.accuracy_model["kind"] == "predictor"


# --- the command -------------------------------------------------------------------------------

def test_search_says_when_the_predictor_was_measured_on_other_chips():
    """The packaged digits predictor's accuracy_noisy is puma-32nm's own chips (rram-wan2022-1d): a
    search that prices pcm-aihwkit chips says its accuracy column is not on them; the default search
    says nothing."""
    from fastnax import hwmodel
    from fastnax.datasets import space_options_for

    opts = {"dataset": "digits", "space_options": space_options_for("digits"), "budget": 400}
    plain = run("imc", **opts)
    assert "accuracy_chips_note" not in plain.settings and "note:" not in plain.table()
    pcm = run("imc", preset=hwmodel.with_nonideality("puma-32nm", "pcm-aihwkit"), **opts)
    note = pcm.settings["accuracy_chips_note"]
    assert "puma-32nm+rram-wan2022-1d chips" in note and "not on puma-32nm+pcm-aihwkit's" in note
    assert "note: " + note in pcm.table()
    same = run("imc", nonideality=hwmodel.get_nonideality("pcm-aihwkit"), **opts)  # a separate argument
    assert same.settings["accuracy_chips_note"] == note


def test_fitted_noisy_predictor_names_its_chips():
    from fastnax.datasets.records import Record
    from fastnax.predictors import XGBPredictor

    space = spaces.get("imc", input_size=8, in_channels=1, num_classes=10)
    archs = [str(a) for a in space.sample(6, seed=2)]
    recs = [Record(arch=a, space="imc", dataset="digits", epochs=1, seed=0, accuracy_clean=50.0 + i,
                   accuracy_noisy=40.0 + i, train_seconds=1.0, fastnax_version="t",
                   hardware="puma-32nm+pcm-aihwkit") for i, a in enumerate(archs)]
    model = XGBPredictor(n_estimators=5).fit_records(recs, target="accuracy_noisy", cv=0)
    assert model.records_info_["hardware"] == ["puma-32nm+pcm-aihwkit"]
    clean = XGBPredictor(n_estimators=5).fit_records(recs, target="accuracy_clean", cv=0)
    assert "hardware" not in clean.records_info_


def test_default_chips_follow_the_predictors_records(tmp_path):
    """A predictor whose records were all measured on a preset under another named non-ideality
    prices that preset's chips under it by default (the accuracy column is then the accuracy on the
    chips priced); a non-ideality given, another preset or records on mixed chips change nothing.
    Records that name no chips, or a bare legacy preset, were measured under rram-fastnax-default."""
    from fastnax import hwmodel
    from fastnax.datasets import space_options_for
    from fastnax.datasets.records import Record, chips_name
    from fastnax.predictors import XGBPredictor
    from fastnax.search import predict

    assert chips_name(None) == chips_name("puma-32nm") == "puma-32nm+rram-fastnax-default"
    assert chips_name("mnsim2") == "mnsim2+rram-fastnax-default"
    assert chips_name("puma-32nm+pcm-aihwkit") == "puma-32nm+pcm-aihwkit"
    assert hwmodel.chips_name("puma-32nm") == "puma-32nm+rram-wan2022-1d"
    measured = hwmodel.measured_nonideality
    assert measured(["puma-32nm+rram-fastnax-default"], "puma-32nm") == "rram-fastnax-default"
    assert measured(["puma-32nm+rram-wan2022-1d"], "puma-32nm") is None  # the preset's own
    assert measured(["puma-32nm+pcm-aihwkit", "puma-32nm+rram-fastnax-default"], "puma-32nm") is None
    assert measured(["mnsim2+pcm-aihwkit"], "puma-32nm") is None and measured([], "puma-32nm") is None
    assert measured(["puma-32nm+chip.toml"], "puma-32nm") is None  # not a registered name
    space = spaces.get("imc", input_size=8, in_channels=1, num_classes=10)
    archs = [str(a) for a in space.sample(12, seed=2)]

    def fitted(hardware):
        recs = [Record(arch=a, space="imc", dataset="digits", epochs=1, seed=0, accuracy_clean=50.0 + i,
                       accuracy_noisy=40.0 + i, train_seconds=1.0, fastnax_version="t",
                       hardware=hardware[i % len(hardware)]) for i, a in enumerate(archs)]
        path = tmp_path / f"p{len(list(tmp_path.iterdir()))}.json"
        XGBPredictor(n_estimators=5).fit_records(recs, target="accuracy_noisy", cv=0).save(path)
        return str(path)

    opts = {"dataset": "digits", "space_options": space_options_for("digits"), "budget": 200}
    legacy = fitted([None])
    result = run("imc", predictor=legacy, **opts)
    assert result.settings["preset"] == "puma-32nm+rram-fastnax-default"
    assert result.settings["nonideality_from_records"] == "rram-fastnax-default"
    assert result.settings["hardware"]["nonideality"]["name"] == "rram-fastnax-default"
    assert "accuracy_chips_note" not in result.settings
    assert "chips: puma-32nm+rram-fastnax-default, the predictor's records'" in result.table()
    given = run("imc", predictor=legacy, nonideality=hwmodel.get_nonideality("pcm-aihwkit"), **opts)
    assert "nonideality_from_records" not in given.settings and "accuracy_chips_note" in given.settings
    other = run("imc", predictor=legacy, preset="neurosim-22nm-rram", **opts)
    assert other.settings["preset"] == "neurosim-22nm-rram" and "accuracy_chips_note" in other.settings
    mixed = run("imc", predictor=fitted(["puma-32nm+pcm-aihwkit", "puma-32nm+rram-fastnax-default"]), **opts)
    assert mixed.settings["preset"] == "puma-32nm" and "nonideality_from_records" not in mixed.settings
    own = run("imc", predictor=fitted(["puma-32nm+rram-wan2022-1d"]), **opts)
    assert own.settings["preset"] == "puma-32nm" and "accuracy_chips_note" not in own.settings
    # predict prices exactly as the search does
    arch = result.front[0]["arch"]
    assert predict([arch], predictor=legacy, dataset="digits")["predictions"][0]["accuracy"] == pytest.approx(
        result.front[0]["accuracy"])


def test_fit_command_prints_the_chips(tmp_path, capsys):
    from fastnax.cli import main

    out = tmp_path / "p.json"
    from pathlib import Path

    records = Path(__file__).resolve().parents[1] / "fastnax" / "data" / "digits_imc_records.jsonl"
    assert main(["fit", str(records), "--target", "accuracy_noisy", "--cv", "2", "--out", str(out)]) == 0
    assert "measured on puma-32nm+rram-wan2022-1d chips" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.meta.json").read_text())["records"]["hardware"] == [
        "puma-32nm+rram-wan2022-1d"]


def test_cli_json_and_out(tmp_path, capsys):
    from fastnax.cli import main

    assert main(["search", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["space"] == "imc" and data["front"]
    assert data["accuracy_model"]["kind"] in ("predictor", "training-free score")
    out = tmp_path / "run"
    assert main(["search", "--space", "nb201", "--out", str(out), "--budget", "3000"]) == 0
    text = capsys.readouterr().out
    assert "best design" in text
    assert (out / "result.json").exists()
    assert (out / "front.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    SearchResult.from_json(out / "result.json")


def test_cli_bad_options_exit_nonzero_one_line(capsys):
    from fastnax.cli import main

    with pytest.raises(SystemExit) as info:
        main(["search", "--method", "nope"])
    assert info.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope" in err
    assert main(["search", "--space-option", "input_size=-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1


def test_default_search_does_not_import_scipy_stats():
    """The default search finds the relaxation's minima with numpy: neither scipy.stats (SHGO's
    unconditional ``from scipy.stats import qmc``) nor scipy.optimize is imported, and nothing is
    swapped into ``sys.modules`` (scipy.stats imports normally afterwards)."""
    import subprocess
    import sys

    code = ("import sys; from fastnax import search; search.run('imc'); "
            "assert 'scipy.stats' not in sys.modules, 'scipy.stats imported'; "
            "assert 'scipy.optimize' not in sys.modules, 'scipy.optimize imported'; "
            "from scipy.stats import norm, qmc; print(norm.cdf(0.0), qmc.Sobol.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-500:]
    assert out.stdout.split() == ["0.5", "Sobol"]


def test_relaxation_minima_are_the_local_minima_of_the_interpolant():
    """The seeds are the grid points with no lower axis neighbour: every grid point that is a local
    minimum of the multilinear interpolant is among them, and every strict one is one."""
    from fastnax.search.optimizers.hierarchical import _Multilinear, relaxation_minima

    rng = np.random.default_rng(3)
    for trial in range(20):
        shape = tuple(int(v) for v in rng.integers(2, 5, size=int(rng.integers(2, 5))))
        values = rng.integers(0, 6, size=shape).astype(float)  # ties on purpose
        f = _Multilinear(values)
        found = relaxation_minima(values.reshape(-1), list(shape), limit=10**6)
        minima = {tuple(int(v) for v in z) for z in found}
        steps = np.vstack([np.eye(len(shape), dtype=int), -np.eye(len(shape), dtype=int)])
        for point in np.ndindex(*shape):
            neighbours = [tuple(p) for p in np.asarray(point) + steps
                          if np.all(p >= 0) and np.all(p < np.asarray(shape))]
            lowest = all(values[q] >= values[point] for q in neighbours)
            strict = all(values[q] > values[point] for q in neighbours)
            probes = np.vstack([rng.uniform(-0.05, 0.05, size=(64, len(shape))), 0.05 * steps])
            near = np.clip(np.asarray(point) + probes, 0, np.asarray(shape) - 1)
            local_min = all(f(x) >= values[point] - 1e-12 for x in near)
            assert (point in minima) == lowest, (trial, point)
            if local_min:
                assert point in minima, (trial, point)
            if strict:
                assert local_min, (trial, point)
        order = [values[tuple(z)] for z in found]
        assert order == sorted(order)


def test_hierarchical_shgo_level1_still_runs():
    from fastnax.search.optimizers.hierarchical import Hierarchical

    result = run("nb201", optimizer=Hierarchical(level1="shgo"), predictor=PRED, seed=0)
    assert result.settings["method_details"]["level1"] == "shgo" and result.best is not None


@pytest.mark.parametrize("name, options", [("imc", {}), ("imc", {"input_size": 8, "stages": 2}),
                                           ("nax", {}), ("nb201", {})])
def test_single_moves_equal_brute_force(name, options):
    """Skipping moves on inactive coordinates changes nothing: the moves equal every single-coordinate
    change, repaired and canonicalized, that changes the start (same rows, same order)."""
    from fastnax.search.hierarchical import _coordinate_values, family_of, single_moves

    space = spaces.get(name, **options)
    family = family_of(space)
    starts = space.to_index(space.sample_vectors(12, seed=5))
    cols, vals = _coordinate_values(space.bounds)
    n, m = len(starts), len(cols)
    base = np.repeat(starts, m, axis=0)
    brute = base.copy()
    brute[np.arange(n * m), np.tile(cols, n)] = np.tile(vals, n)
    brute = space.canonicalize(family.repair(base, brute))
    changed = (brute != base).any(axis=1)
    neighbours, owner, column = single_moves(space, family, starts)
    assert len(neighbours) < n * m  # the filter did remove something
    np.testing.assert_array_equal(neighbours, brute[changed])
    np.testing.assert_array_equal(owner, np.repeat(np.arange(n), m)[changed])
    np.testing.assert_array_equal(column, np.tile(cols, n)[changed])


@pytest.mark.parametrize("name, options", [("imc", {}), ("nax", {}), ("nb201", {})])
def test_knob_pair_moves_equal_brute_force(name, options):
    """The pair moves are every setting of two knob coordinates to two other levels, canonicalized,
    minus those canonicalization turns back into the start (in start, pair, level order); nothing
    but knobs changes; a space whose knobs are fixed by its options has none."""
    import itertools

    from fastnax.search.optimizers.hierarchical import knob_pair_moves

    space = spaces.get(name, **options)
    starts = space.to_index(space.sample_vectors(6, seed=3))
    moves = knob_pair_moves(space, starts)
    knobs = sorted({c for c in (space.knob_coordinates() or {}).values() if c is not None})
    if len(knobs) < 2:
        assert moves.shape == (0, starts.shape[1])
        return
    brute, owner = [], []
    for i, x in enumerate(starts):
        for a, b in itertools.combinations(knobs, 2):
            for u in range(int(space.bounds[a, 0]), int(space.bounds[a, 1]) + 1):
                for v in range(int(space.bounds[b, 0]), int(space.bounds[b, 1]) + 1):
                    if u != x[a] and v != x[b]:
                        y = x.copy()
                        y[a], y[b] = u, v
                        y = space.canonicalize(y[None])[0]
                        if (y != x).any():
                            brute.append(y)
                            owner.append(i)
    np.testing.assert_array_equal(moves, np.asarray(brute))
    others = np.setdiff1d(np.arange(starts.shape[1]), knobs)
    np.testing.assert_array_equal(moves[:, others], starts[owner][:, others])
    assert len(set(owner)) == len(starts)  # every start has two-knob moves


@pytest.mark.parametrize("name", ["nb201", "imc"])
def test_exchange_moves_equal_brute_force(name):
    """Exchange moves swap the values of two coordinates of a group (nb201: two edges' ops),
    canonicalized, minus the swaps that change nothing; a space without groups has none."""
    import itertools

    from fastnax.search.optimizers.hierarchical import exchange_moves

    space = spaces.get(name)
    starts = space.to_index(space.sample_vectors(7, seed=4))
    moves = exchange_moves(space, starts)
    groups = space.exchangeable_coordinates()
    brute, owner = [], []
    for i, x in enumerate(starts):
        for group in groups:
            for a, b in itertools.combinations(sorted(group), 2):
                y = x.copy()
                y[a], y[b] = x[b], x[a]
                y = space.canonicalize(y[None])[0]
                if (y != x).any():
                    brute.append(y)
                    owner.append(i)
    if not groups:
        assert moves.shape == (0, starts.shape[1])
        return
    np.testing.assert_array_equal(moves, np.asarray(brute))
    # an exchange keeps the multiset of a group's values (nb201: the op counts) and the rest
    group = sorted(groups[0])
    np.testing.assert_array_equal(np.sort(moves[:, group], axis=1), np.sort(starts[owner][:, group], axis=1))
    rest = np.setdiff1d(np.arange(starts.shape[1]), group)
    np.testing.assert_array_equal(moves[:, rest], starts[owner][:, rest])


def test_recombination_moves_mix_neighbours_along_the_front():
    """Every child takes each coordinate from one of two front members at most ``offsets`` apart by
    cost (nb201: canonicalize is the identity, so this is exact), differs from both, and the
    children are a function of the seed; on imc they are canonical."""
    from fastnax.search.optimizers.hierarchical import recombination_moves

    space = spaces.get("nb201")
    front = space.to_index(space.sample_vectors(9, seed=2))
    cost = np.random.default_rng(1).random(len(front))
    children = recombination_moves(space, front, cost, np.random.default_rng(0), offsets=2, per_pair=3)
    again = recombination_moves(space, front, cost, np.random.default_rng(0), offsets=2, per_pair=3)
    np.testing.assert_array_equal(children, again)
    assert 0 < len(children) <= 3 * (8 + 7)
    ordered = front[np.argsort(cost, kind="stable")]
    pairs = [(ordered[i], ordered[i + k]) for k in (1, 2) for i in range(len(ordered) - k)]
    for child in children:
        assert any(((child == a) | (child == b)).all() and (child != a).any() and (child != b).any()
                   for a, b in pairs)
    imc = spaces.get("imc")
    front = imc.to_index(imc.sample_vectors(12, seed=3))
    kids = recombination_moves(imc, front, np.arange(12.0), np.random.default_rng(4))
    assert len(kids)
    np.testing.assert_array_equal(imc.canonicalize(kids), kids)
    assert recombination_moves(imc, front[:1], np.zeros(1), np.random.default_rng(0)).shape == (0, front.shape[1])


def test_recombination_fills_gaps_of_the_cifar_sized_front():
    """On the CIFAR-sized imc space (training-free score) the recombination rounds add front
    designs that the moves from single front members do not reach: a larger hypervolume from the
    same seed, and nothing of the front without them lost."""
    from fastnax.search.optimizers.hierarchical import Hierarchical

    runs = {0: run("imc", optimizer=Hierarchical(recombine_before=0, recombine_after=0), seed=0),
            3: run("imc", seed=0)}  # the default: three rounds after the local search
    F = {r: np.column_stack([-res.arrays()["accuracy"], np.log10(res.arrays()["edap"])])
         for r, res in runs.items()}
    ref = np.max(np.concatenate(list(F.values())), axis=0) + 1.0
    hv0, hv3 = hypervolume_2d(F[0], ref), hypervolume_2d(F[3], ref)
    assert hv3 > hv0 * 1.001
    assert runs[3].settings["method_details"]["front_search"]["recombination_rounds_after"] >= 1
    # rounds after the local search only add: every point of the plain front is on or behind the
    # recombined one
    for f in F[0]:
        assert ((F[3] <= f + 1e-12).all(axis=1)).any()


def test_restriction_keeps_exchangeable_groups_of_free_coordinates():
    from fastnax.spaces.restriction import Restriction as SpaceRestriction

    base = spaces.get("nb201")
    fixed = base.to_index(base.sample_vectors(1, seed=0))[0]
    sub = SpaceRestriction(base, fixed, free=[0, 2, 3, 6])
    assert sub.exchangeable_coordinates() == [[0, 1, 2]]


def test_active_coordinates_are_exactly_those_canonicalize_keeps():
    space = spaces.get("imc")
    starts = space.to_index(space.sample_vectors(50, seed=2))
    active = space.active(starts)
    hi = space.bounds[:, 1].astype(np.int64)
    for j in range(space.dim):  # moving coordinate j alone survives canonicalize iff it is active
        moved = starts.copy()
        moved[:, j] = np.where(starts[:, j] == hi[j], 0, starts[:, j] + 1)
        survives = (space.canonicalize(moved) != starts).any(axis=1)
        np.testing.assert_array_equal(survives, active[:, j], err_msg=space.coordinate_names[j])


def test_multilinear_relaxation_and_gradient():
    from scipy.interpolate import RegularGridInterpolator

    from fastnax.search.hierarchical import _Multilinear

    rng = np.random.default_rng(0)
    shape = (3, 4, 2, 5)
    values = rng.random(shape)
    f = _Multilinear(values)
    reference = RegularGridInterpolator([np.arange(n) for n in shape], values)
    for _ in range(50):
        z = rng.random(len(shape)) * (np.asarray(shape) - 1)
        assert f(z) == pytest.approx(reference(z[None])[0], rel=1e-12)
        numeric = [(f(z + 1e-6 * e) - f(z - 1e-6 * e)) / 2e-6 for e in np.eye(len(shape))]
        np.testing.assert_allclose(f.gradient(z), numeric, atol=1e-6)
    assert f(np.asarray([2.0, 3.0, 1.0, 4.0])) == pytest.approx(values[2, 3, 1, 4])
    assert f(np.asarray([-1.0, 9.0, 0.0, 0.0])) == pytest.approx(values[0, 3, 0, 0])  # clipped to the box


@pytest.mark.parametrize("kind", ["predictor", "training-free score"])
def test_dead_networks_are_predicted_at_chance(kind):
    """A cell with no input-output path cannot beat chance, whatever the predictor extrapolates."""

    class Optimist:  # a fitted predictor that has never seen a dead network
        def predict(self, F):
            return np.full(len(F), 88.0)

    space = spaces.get("nb201")
    X = space.all_vectors()[::5]
    F = graph.features_from_vectors(space, X)
    dead = F[:, graph.feature_names().index("dead")] > 0
    assert 0 < dead.sum() < len(dead)
    model = obj.AccuracyModel(Optimist() if kind == "predictor" else obj.resolve_accuracy_model(None, space).model,
                              kind, {})
    model.calibrate(space)
    acc = model.predict(space, X)
    np.testing.assert_array_equal(acc[dead], 10.0)  # 10 classes
    assert np.all(acc[~dead] > 10.0) if kind == "predictor" else np.all(acc[~dead] >= 10.0)


@pytest.mark.parametrize("method", ["random", "de", "bo"])
def test_a_budget_smaller_than_the_records_is_not_an_error(method):
    """The packaged predictor's records (204 digits designs, 202 distinct) are priced first and
    count against the budget: a budget they spent leaves the optimizer nothing, never an error."""
    from fastnax.datasets import space_options_for

    from fastnax.search import make_evaluator

    options = space_options_for("digits")
    n_records = len(make_evaluator("imc", dataset="digits", space_options=options).accuracy_model.measured_index())
    assert n_records > 100
    result = run("imc", budget=100, method=method, dataset="digits", space_options=options)
    assert result.front and result.n_evaluations == n_records


@pytest.mark.parametrize("method", ["hierarchical", "de", "shgo", "random", "bo"])
def test_optimizers_never_change_the_budget(method):
    """The caller's budget is the evaluator's; an optimizer reads it and never overwrites it."""
    from fastnax import hwmodel
    from fastnax.search.evaluator import Evaluator
    from fastnax.search.optimizers import get_optimizer
    from fastnax.search.spec import ObjectiveSpec

    space = spaces.get("nb201")
    model = obj.resolve_accuracy_model(PRED, space)
    model.calibrate(space)
    evaluator = Evaluator(space, hwmodel.get_preset("puma-32nm"), model, ObjectiveSpec(), budget=123)
    get_optimizer(method).optimize(evaluator, np.random.default_rng(0), 123)
    assert evaluator.budget == 123
    if method != "hierarchical":  # hierarchical always prices its macro grid and restart pool
        assert evaluator.n_evaluations <= 123


def test_optimizer_given_once():
    with pytest.raises(BoundsError):
        run("nb201", optimizer="de", method="random", predictor=PRED)
    assert run("nb201", method="random", budget=30, predictor=PRED).settings["method"] == "random"


def test_halve_start_drops_the_worse_half_of_each_weight_before_the_first_sweep():
    """With ``halve_start`` the starts of each weight are halved by their starting J before any
    move is priced: the dropped ones come back unmoved with their own J, the kept ones descend
    as they do without it, and the first sweep prices only the kept starts' moves."""
    from fastnax.search.api import make_evaluator
    from fastnax.search.optimizers.hierarchical import descend, single_moves

    ev = make_evaluator("nb201", predictor=None)
    space = ev.space
    family = space.macro_family()
    starts = space.to_index(space.sample_vectors(12, seed=3))
    betas = np.repeat([0.0, 0.2], 6)
    _, cols = ev(starts.astype(float), limit=False)
    J0 = ev.spec.scalar(cols, betas)
    kept = np.zeros(12, dtype=bool)
    for b in (0.0, 0.2):
        group = np.flatnonzero(betas == b)
        kept[group[np.argsort(J0[group], kind="stable")[:4]]] = True  # ceil(0.5 * 6) = 3 < min_keep 4

    before = ev.n_evaluations
    final, J = descend(ev, family, starts, betas, keep=0.5, min_keep=4, halve_start=True, max_sweeps=1)
    np.testing.assert_array_equal(final[~kept], starts[~kept])
    np.testing.assert_allclose(J[~kept], J0[~kept])
    assert (J[kept] <= J0[kept]).all() and (J[kept] < J0[kept]).any()
    first_sweep = len(single_moves(space, family, starts[kept])[0])
    # the starts (re-priced from the archive), the kept starts' moves and their Jacobi points
    assert ev.n_evaluations - before <= len(starts) + first_sweep + int(kept.sum())

    ev2 = make_evaluator("nb201", predictor=None)
    full, J_full = descend(ev2, family, starts, betas, keep=0.5, min_keep=4, max_sweeps=1)
    np.testing.assert_allclose(J[kept], J_full[kept])
    assert ev2.n_evaluations > ev.n_evaluations
