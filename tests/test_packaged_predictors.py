"""The packaged predictors: one per dataset, each used only for the space and options it was
fitted on (and by the spaces that decode to that space's architectures, ``nax`` -> ``imc``)."""

from __future__ import annotations

import json

import pytest

from fastnax import search, spaces
from fastnax.datasets import space_options_for
from fastnax.pipeline import PipelineConfig, packaged_records
from fastnax.search.accuracy import PACKAGED_PREDICTORS, resolve_accuracy_model


def _meta(name: str) -> dict:
    path = PACKAGED_PREDICTORS[name]
    return json.loads(path.with_name(path.stem + ".meta.json").read_text())


@pytest.mark.parametrize("dataset", ["digits", "cifar10"])
def test_each_dataset_gets_its_own_packaged_predictor(dataset):
    space = spaces.get("imc", **space_options_for(dataset))
    for given in (dataset, None):  # named, or found by the space's options
        model = resolve_accuracy_model(None, space, given)
        assert model.kind == "predictor", model.info
        assert model.info["file"] == str(PACKAGED_PREDICTORS[dataset])
        assert model.target == _meta(dataset)["target"] == "accuracy_noisy"


def test_nax_uses_the_imc_predictor_of_its_dataset():
    nax = spaces.get("nax", **space_options_for("cifar10"))
    model = resolve_accuracy_model(None, nax, "cifar10")
    assert model.kind == "predictor" and model.info["file"] == str(PACKAGED_PREDICTORS["cifar10"])
    result = search.run(nax, dataset="cifar10", seed=0)
    assert result.settings["accuracy_quantity"] == "accuracy_noisy"
    records = [r.accuracy_noisy for r in packaged_records(spaces.get("imc", **space_options_for("cifar10")),
                                                          "cifar10")]
    # every printed accuracy lies inside what the records measured
    for point in result.front:
        assert min(records) - 1e-9 <= point["accuracy_mean"] <= max(records) + 1e-9


def test_a_restriction_of_nax_is_scored_by_the_imc_predictor_too():
    """ResNet-20 with only its crossbar sizes free (NAX's hardware-only co-design): the restriction
    decodes to imc architectures, so the packaged predictor scores it (not the training-free
    score), and every front point is priced as ``search.predict`` prices it alone."""
    from fastnax.spaces.restriction import Restriction

    nax = spaces.get("nax", **space_options_for("cifar10"))
    free = [n for n in nax.coordinate_names if n.endswith("_crossbar")]
    sub = Restriction(nax, nax.baseline("resnet20"), free)
    model = resolve_accuracy_model(None, sub, "cifar10")
    assert model.kind == "predictor"
    result = search.run(sub, dataset="cifar10", seed=0)
    assert result.settings["accuracy_quantity"] == "accuracy_noisy"
    alone = search.predict([p["arch"] for p in result.front], None, dataset="cifar10")["predictions"]
    for point, single in zip(result.front, alone):
        assert point["accuracy"] == pytest.approx(single["accuracy"], abs=1e-9)
        assert "/res3w16:" in point["arch"] and "/res3w64:" in point["arch"]  # the network is ResNet-20's


def test_a_dataset_without_a_packaged_predictor_says_so():
    space = spaces.get("imc", **space_options_for("mnist"))
    model = resolve_accuracy_model(None, space, "mnist")
    assert model.kind == "training-free score"
    assert "no packaged predictor for dataset 'mnist'" in model.info["why"]
    # a packaged predictor is never used for another dataset's options
    model = resolve_accuracy_model(None, spaces.get("imc", **space_options_for("digits")), "cifar10")
    assert model.kind == "training-free score" and "cifar10" in model.info["why"]


def test_run_defaults_follow_the_dataset():
    digits = PipelineConfig().resolved()
    assert (digits.sample_epochs, digits.final_epochs, digits.max_train) == (5, 20, 0)
    cifar = PipelineConfig(dataset="cifar10").resolved()
    assert (cifar.sample_epochs, cifar.final_epochs, cifar.max_train, cifar.max_test) == (6, 4, 5000, 2000)
    mine = PipelineConfig(dataset="cifar10", final_epochs=9, max_train=0).resolved()
    assert (mine.final_epochs, mine.max_train) == (9, 0)


def test_packaged_records_of_another_budget_are_not_mixed_in():
    space = spaces.get("imc", **space_options_for("digits"))
    assert packaged_records(space, "digits", epochs=5)
    assert packaged_records(space, "digits", epochs=1) == []


def test_run_checks_the_nonideality_before_any_training():
    from fastnax.errors import FastnaxError

    PipelineConfig(nonideality="pcm-aihwkit").resolved().check()
    with pytest.raises(FastnaxError, match="unknown non-ideality 'bogus'"):
        PipelineConfig(nonideality="bogus").resolved().check()
