"""``fastnax run`` end to end on a tiny budget: every artifact, a coherent report, the choice rule."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastnax.pipeline import PipelineConfig, pick_finalists, run_pipeline, validation_split


@pytest.mark.slow
def test_pipeline_end_to_end_tiny(tmp_path):
    cfg = PipelineConfig(n=6, sample_epochs=1, final_epochs=1, finalists=2, noise_trials=1, jobs=1,
                         out=str(tmp_path / "run"), use_packaged_records=False)
    report = run_pipeline(cfg, progress=lambda msg: None)
    out = tmp_path / "run"
    for name in ("records.jsonl", "predictor.json", "predictor.meta.json", "result.json", "front.png",
                 "report.json", "report.txt"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "report.json").read_text())
    assert saved["records"] == 6 and saved["predictor_quality"]["packaged_records"] == 0
    roles = [d["role"] for d in report.designs]
    # up to 2 finalists: fewer when the feasible part of the front is smaller (it depends on the
    # 6 records, whose training depends on torch's thread count)
    assert roles[-1] == "resnet20" and 2 <= len(roles) <= 3
    chosen = [d for d in report.designs if d.get("chosen")]
    assert len(chosen) == 1 and chosen[0]["role"] != "resnet20"
    c = report.search["comparison_with_baseline"]
    assert c["edap_ratio"] == pytest.approx(chosen[0]["edap"] / report.designs[-1]["edap"])
    # the verdict says whether the chosen design is cheaper than the baseline
    assert c["cheaper_than_baseline"] == (c["edap_ratio"] < 1)
    base = report.designs[-1]
    close = [d for d in report.designs[:-1] if d["val_accuracy_noisy"] >= base["val_accuracy_noisy"] - 1.0]
    if not close:
        assert c["verdict"].startswith("no finalist came within")
    elif not any(d["edap"] < base["edap"] for d in close):
        assert "found nothing cheaper" in c["verdict"]
    else:
        assert c["verdict"].startswith("a finalist within") and c["cheaper_than_baseline"]
    for d in report.designs:
        assert 0 <= d["accuracy_clean"] <= 100 and 0 <= d["val_accuracy_noisy"] <= 100
        assert (out / f"weights-{d['role']}.pt").exists()
    # the predicted accuracy reported beside each design is the value the search printed for it
    result = json.loads((out / "result.json").read_text())
    printed = {p["arch"]: p["accuracy"] for p in result["front"]}
    finalists = [d for d in report.designs if d["role"].startswith("finalist")]
    assert finalists and all(d["accuracy_predicted"] == printed[d["arch"]] for d in finalists)
    for d in report.designs:
        assert d["accuracy_predicted_lower"] <= d["accuracy_predicted"] <= d["accuracy_predicted_upper"]
    assert report.search["baseline_predicted_accuracy"] == report.designs[-1]["accuracy_predicted"]
    assert "predicted" in report.table().splitlines()[0]


def test_validation_split_is_disjoint_and_seeded():
    from fastnax.datasets import load

    data = load("digits")
    fit, val = validation_split(data, 0.2, seed=3)
    assert len(fit.y_train) + len(val.y_test) == len(data.y_train)
    assert np.array_equal(fit.x_test, data.x_test)  # the test split is untouched
    rows = {row.tobytes() for row in val.x_test}
    assert not any(row.tobytes() in rows for row in fit.x_train)
    again, _ = validation_split(data, 0.2, seed=3)
    assert np.array_equal(again.y_train, fit.y_train)


def test_pick_finalists_spreads_along_the_front():
    front = [{"arch": f"a{i}", "accuracy": 50 + i, "edap": 10.0 ** i} for i in range(9)]
    best = front[2]
    chosen = pick_finalists(front, best, min_accuracy=51, k=3)
    assert chosen[0] == "a2" and len(chosen) == 3
    assert "a1" in chosen and "a8" in chosen  # the cheapest and the most accurate feasible points
    assert "a0" not in chosen  # infeasible: below the accuracy constraint


def test_a_short_front_leaves_no_finalist_place_empty():
    """Two feasible front designs and three places: the third goes to the feasible, supported
    candidate the predictor is surest of (highest lower end of its interval), never to one
    outside the support or under the constraint."""
    front = [{"arch": "cheap", "accuracy": 98.9, "edap": 1e7}, {"arch": "cheap2", "accuracy": 96.6, "edap": 5e7}]
    others = [{"arch": "cheap", "accuracy": 98.9, "accuracy_lower": 88.0, "edap": 1e7},
              {"arch": "far", "accuracy": 98.0, "accuracy_lower": 97.5, "edap": 1e9, "in_support": False},
              {"arch": "low", "accuracy": 90.0, "accuracy_lower": 96.0, "edap": 1e9},
              {"arch": "record", "accuracy": 98.8, "accuracy_lower": 98.8, "edap": 1e13},
              {"arch": "wide", "accuracy": 97.0, "accuracy_lower": 80.0, "edap": 1e8}]
    chosen = pick_finalists(front, front[0], min_accuracy=96.5, k=3, others=others)
    assert chosen == ["cheap", "cheap2", "record"]
    assert pick_finalists(front, front[0], min_accuracy=96.5, k=3) == ["cheap", "cheap2"]  # no others: two
    assert len(pick_finalists(front, front[0], 96.5, k=4, others=others)) == 4  # then "wide"


@pytest.mark.slow
def test_pipeline_on_cifar10_samples_with_the_packaged_protocol(tmp_path):
    """``fastnax run --dataset cifar10``: new records trained like the packaged ones (6 epochs on
    10,000 images at 16x16) and fitted together with them; a tiny final training."""
    from pathlib import Path

    from fastnax import datasets
    from fastnax.datasets.records import read_records

    source = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10_jpeg_q75.npz"
    if not source.is_file():
        pytest.skip(f"reference data not found: {source}")
    root = datasets.ensure_cifar10()
    cfg = PipelineConfig(dataset="cifar10", root=str(root), n=5, final_epochs=1, max_train=300,
                         max_test=100, finalists=1, noise_trials=1, jobs=1, out=str(tmp_path / "run"))
    report = run_pipeline(cfg, progress=lambda msg: None)
    q = report.predictor_quality
    assert q["new_records"] == 5 and q["packaged_records"] >= 150
    new = read_records(tmp_path / "run" / "records.jsonl")
    assert {r.epochs for r in new} == {6} and {r.dataset for r in new} == {"cifar10"}
    # the packaged CIFAR-10 records' chips (puma-32nm's own, rram-wan2022-1d), which the run samples on
    assert {r.chips for r in new} == {"puma-32nm+rram-wan2022-1d"}
    assert report.search["chips"] == "puma-32nm+rram-wan2022-1d"
    assert report.config["sample_epochs"] == 6 and report.config["max_test"] == 100
    assert [d["role"] for d in report.designs] == ["finalist-1", "resnet20"]


def test_packaged_records_are_taken_only_on_their_own_chips():
    """The packaged digits records were measured on puma-32nm's own chips (rram-wan2022-1d): a run
    on other chips (rram-fastnax-default, or pcm-aihwkit) leaves them out."""
    from fastnax import hwmodel, spaces
    from fastnax.datasets import space_options_for
    from fastnax.pipeline import packaged_records

    space = spaces.get("imc", **space_options_for("digits"))
    every = packaged_records(space, "digits")
    assert len(every) >= 200 and {r.chips for r in every} == {hwmodel.chips_name("puma-32nm")}
    assert len(packaged_records(space, "digits", chips="puma-32nm+rram-wan2022-1d")) == len(every)
    for other in ("puma-32nm+rram-fastnax-default", "puma-32nm+pcm-aihwkit"):
        assert packaged_records(space, "digits", chips=other) == []
