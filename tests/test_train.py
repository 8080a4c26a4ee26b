"""The torch builder, the noise-aware layers and the training/evaluation loops."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastnax import datasets, spaces  # noqa: E402
from fastnax.errors import BoundsError  # noqa: E402
from fastnax.train import (TrainConfig, build_model, convert_to_noisy, count_weights,  # noqa: E402
                           evaluate, nonideal, train_model)
from fastnax.train.loop import augment_batch  # noqa: E402
from fastnax.train.noise import NoisyConv2d, NoisyLinear, quantize_symmetric  # noqa: E402

SPACES = [("imc", dict(input_size=8, in_channels=1)), ("nax", {}), ("nb201", dict(input_size=16))]


def _members(name, options, n=3, seed=0):
    space = spaces.get(name, **options)
    return [space.baseline(b) for b in space.baselines()] + space.sample(n, seed=seed)


@pytest.mark.parametrize("name,options", SPACES, ids=[s[0] for s in SPACES])
def test_build_forward_backward_every_space(name, options):
    for arch in _members(name, options):
        model = build_model(arch, noise_sigma=0.05)
        assert count_weights(model) == arch.params  # conv/linear weights only, biases excluded
        assert [tuple(m.weight.shape[:2]) for m in model.weight_layers] == \
            [(l.c_out, l.c_in) for l in arch.weight_layers]
        opts = arch.option_dict
        x = torch.rand(2, opts["in_channels"], opts["input_size"], opts["input_size"])
        for noisy in (False, True):
            model.zero_grad()
            with nonideal(model, noisy):
                out = model(x)
            assert out.shape == (2, opts["num_classes"])
            assert torch.isfinite(out).all()
            out.square().mean().backward()
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            assert grads and all(torch.isfinite(g).all() for g in grads)


def test_cifar_sized_baselines_shapes():
    for arch in _members("imc", {}, n=0):
        model = build_model(arch, noise_sigma=0.0)
        out = model(torch.rand(2, 3, 32, 32))
        assert out.shape == (2, 10) and count_weights(model) == arch.params


def test_default_noise_comes_from_the_hardware_model():
    hwmodel = pytest.importorskip("fastnax.hwmodel")
    from fastnax.arch import hardware_knobs
    from fastnax.train import hardware_settings

    arch = spaces.get("imc", input_size=8, in_channels=1).sample(1, seed=3)[0]
    model = build_model(arch)
    settings = hardware_settings(arch)
    np.testing.assert_allclose(settings["sigmas"], hwmodel.layer_noise_sigma(arch))  # folded API kept
    # explicit cells: the layers carry the cell terms of the preset's NonIdeality (puma-32nm's
    # rram-wan2022-1d) and only the column-level Gaussian sigma, which is what the folded sigma is
    # with every cell term zeroed
    import dataclasses

    ni = hwmodel.get_preset("puma-32nm").nonideality
    assert ni.name == "rram-wan2022-1d"
    column = hwmodel.layer_noise_sigma(arch, nonideality=dataclasses.replace(
        ni, conductance_sigma=0, conductance_sigma_lin=0, conductance_sigma_quad=0, conductance_sigma_cubic=0,
        conductance_sigma_quartic=0, stuck_at_gmin_rate=0, stuck_at_gmax_rate=0, drift_nu_sigma=0))
    np.testing.assert_allclose([m.sigma for m in model.weight_layers], column)
    assert np.all(column < settings["sigmas"])
    knobs = hardware_knobs(arch)
    for m in model.weight_layers:
        # NeuRRAM's fit stores a signed weight as a differential pair (aihwkit's converter)
        assert m.cells.cell_bits == knobs["cell_bits"] and m.cells.differential is True
        assert m.cells.conductance_sigma == ni.conductance_sigma
        assert m.cells.stuck_at_gmax_rate == ni.stuck_at_gmax_rate == 0.0
        assert m.cells.drift_sigma == 0.0  # a snapshot: no drift law
        assert (m.w_bits, m.in_bits) == (knobs["w_bits"], knobs["in_bits"])
    folded = build_model(arch, explicit_cells=False)
    assert all(m.cells is None for m in folded.weight_layers)
    np.testing.assert_allclose([m.sigma for m in folded.weight_layers], settings["sigmas"])


def _int_weights(shape, w_bits, seed=0):
    """Weights on the exact levels of a w_bits quantizer with max|w| = 1."""
    levels = 2 ** (w_bits - 1) - 1
    q = torch.randint(-levels, levels + 1, shape, generator=torch.Generator().manual_seed(seed))
    q.view(-1)[0] = levels
    return q.float() / levels, levels


@pytest.mark.parametrize("differential", [False, True])
def test_cells_without_noise_give_back_the_quantized_weights(differential):
    from fastnax.train.noise import CellNoise, program_cells

    w, _ = _int_weights((64, 9), 8)
    for cell_bits in (1, 2, 3, 4):
        out = program_cells(w, torch.tensor(1.0), 8, CellNoise(cell_bits, differential))
        torch.testing.assert_close(out, w)


def test_every_cell_stuck_at_gmax_or_gmin_reads_the_extreme_codes():
    from fastnax.train.noise import CellNoise, program_cells

    w, levels = _int_weights((50,), 8)
    one = torch.tensor(1.0)
    # offset code: all cells at G_max -> code 255 -> level 255 - 128 = 127 (= +max|w|);
    # all at G_min -> code 0 -> level -128
    hi = program_cells(w, one, 8, CellNoise(2, False, stuck_at_gmax_rate=1.0))
    lo = program_cells(w, one, 8, CellNoise(2, False, stuck_at_gmin_rate=1.0))
    torch.testing.assert_close(hi, torch.full_like(w, 127 / levels))
    torch.testing.assert_close(lo, torch.full_like(w, -128 / levels))
    # differential: both sides stuck the same way cancel
    both = program_cells(w, one, 8, CellNoise(2, True, stuck_at_gmax_rate=1.0))
    torch.testing.assert_close(both, torch.zeros_like(w))


def test_cell_variation_reaches_the_weight_through_the_slice_weights():
    from fastnax.hwmodel.nonideal import slice_factor
    from fastnax.train.noise import CellNoise, program_cells

    w, levels = _int_weights((200, 50), 8)
    gen = torch.Generator().manual_seed(1)
    err = program_cells(w, torch.tensor(1.0), 8, CellNoise(2, False, conductance_sigma=0.05), gen) - w
    # hand computation: cell error 0.05 * 3 levels on slices weighted 1, 4, 16, 64 -> weight error
    # 0.15 * sqrt(1 + 16 + 256 + 4096) levels of 1/127
    expected = 0.05 * 3 * np.sqrt(1 + 16 + 256 + 4096) / levels
    assert abs(err.std().item() / expected - 1) < 0.03
    # the same as the hardware model's slice factor over the 255-level code range, in units of max|w|
    assert expected == pytest.approx(0.05 * float(slice_factor(8, 2)) * 255 / levels)


def test_stuck_at_faults_are_sparse_and_large():
    from fastnax.train.noise import CellNoise, program_cells

    w, _ = _int_weights((400, 100), 8)
    gen = torch.Generator().manual_seed(2)
    rate = 0.01
    err = (program_cells(w, torch.tensor(1.0), 8, CellNoise(2, False, stuck_at_gmin_rate=rate,
                                                           stuck_at_gmax_rate=rate), gen) - w).abs()
    hit = (err > 1e-6).float().mean().item()
    # a weight is hit when one of its 4 cells is stuck at a level other than its own: at most
    # 1 - (1 - 2 rate)^4, at least 1 - (1 - rate)^4 (each cell differs from at least one extreme)
    assert 1 - (1 - rate) ** 4 - 0.005 < hit < 1 - (1 - 2 * rate) ** 4 + 0.005
    assert err.max().item() > 0.9  # a most-significant cell stuck: an error of the order of max|w|


def test_frozen_noise_is_one_chip_for_the_whole_split():
    from fastnax.train.noise import frozen_noise

    layer = NoisyLinear(16, 4, bias=False, sigma=0.1, w_bits=8)
    x = torch.rand(3, 16)
    with frozen_noise(layer, torch.Generator().manual_seed(0)):
        a, b = layer(x), layer(x)
    torch.testing.assert_close(a, b)  # the same draw for every batch
    with frozen_noise(layer, torch.Generator().manual_seed(0)):
        torch.testing.assert_close(layer(x), a)  # same seed, same chip
    with frozen_noise(layer, torch.Generator().manual_seed(1)):
        assert not torch.allclose(layer(x), a)
    assert layer.frozen_weight is None and not layer.nonideal


def test_overrides_and_zero_add_node():
    nb = spaces.get("nb201")
    # every edge 'none' but the last: node 1 and 2 are zero tensors, node 3 reads node 2 only
    from fastnax.spaces.nb201 import from_nb201_string

    arch = from_nb201_string("|none~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert nb.contains(arch)
    model = build_model(arch, num_classes=7, in_channels=1, noise_sigma=0.0)
    out = model(torch.rand(2, 1, 32, 32))
    assert out.shape == (2, 7)
    # the first cell's node 3 reads a zero node, so every later feature map is input-independent:
    # two different images give the same logits
    torch.testing.assert_close(out[0], out[1])
    live = build_model(nb.baseline("best-c10"), num_classes=7, in_channels=1, noise_sigma=0.0)
    out = live(torch.rand(2, 1, 32, 32))
    assert not torch.allclose(out[0], out[1])


def test_weight_noise_statistics_match_sigma():
    layer = NoisyConv2d(8, 16, 3, padding=1, bias=False, sigma=0.1)
    torch.nn.init.uniform_(layer.weight, -0.5, 0.5)
    w = layer.weight.detach()
    gen = torch.Generator().manual_seed(0)
    layer.nonideal, layer.generator = True, gen
    draws = torch.stack([layer.effective_weight().detach() - w for _ in range(200)])
    # N(0, sigma * max|w|) per weight, independent draws
    expected = 0.1 * w.abs().max()
    assert abs(draws.std().item() - expected.item()) / expected.item() < 0.02
    assert abs(draws.mean().item()) < 0.01 * expected.item()
    layer.nonideal = False
    assert torch.equal(layer.effective_weight(), layer.weight)


def test_weight_quantization_levels_and_straight_through_gradient():
    w = torch.linspace(-1, 1, 101, requires_grad=True)
    q = quantize_symmetric(w, 4, w.detach().abs().max())
    # 4 bits symmetric: 15 levels, multiples of 1/7
    assert len(torch.unique(q.detach())) == 15
    torch.testing.assert_close(q.detach() * 7, torch.round(q.detach() * 7))
    q.sum().backward()
    torch.testing.assert_close(w.grad, torch.ones_like(w))


@pytest.mark.parametrize("signed", [True, False])
def test_adc_quantization_of_outputs(signed):
    """3-bit ADC: outputs of both signs get 3 levels per sign over max|y|; outputs that are all
    >= 0 get 2^3 - 1 = 7 levels over [0, max y] (seeded inputs and weights: the regime is fixed)."""
    gen = torch.Generator().manual_seed(11)
    layer = NoisyLinear(4, 3, bias=False, sigma=0.0, adc_bits=3)
    with torch.no_grad():
        w = torch.rand(3, 4, generator=gen) + 0.1
        if signed:
            w[1] = -w[1]  # one output negative for every input, the others positive
        layer.weight.copy_(w)
    x = torch.rand(5, 4, generator=gen) + 0.05
    with nonideal(layer, True):
        out = layer(x)
    ref = x @ layer.weight.detach().T
    assert (ref.min() < 0) == signed
    levels = 3 if signed else 7
    step = ref.abs().max() / levels
    expected = torch.round(ref / step).clamp(-levels if signed else 0, levels) * step
    assert torch.allclose(out, expected, atol=1e-6)
    assert len(torch.unique(torch.round(out / step))) <= (2 * levels + 1 if signed else levels + 1)


def test_convert_to_noisy_keeps_weights_and_signature():
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 8 * 8, 3))
    x = torch.rand(2, 1, 8, 8)
    before = net(x)
    convert_to_noisy(net, sigmas=[0.02, 0.03], w_bits=8)
    assert isinstance(net[0], NoisyConv2d) and isinstance(net[0], torch.nn.Conv2d)
    assert [net[0].sigma, net[3].sigma] == [0.02, 0.03]
    torch.testing.assert_close(net(x), before)  # non-idealities off: identical
    with pytest.raises(BoundsError, match="2 weight layers"):
        convert_to_noisy(net, sigmas=[0.1, 0.1, 0.1])


def test_evaluate_is_seeded_and_noise_lowers_accuracy():
    data = datasets.load("synthetic", n_train=256, n_test=128, num_classes=4, in_channels=1, seed=0)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    model = build_model(arch, noise_sigma=0.0)
    train_model(model, data, TrainConfig(epochs=3, batch_size=64, lr=0.05), seed=0, device="cpu")
    a = evaluate(model, data, noise_trials=3, seed=7)
    b = evaluate(model, data, noise_trials=3, seed=7)
    assert a == b and len(a["accuracy_noisy_trials"]) == 3
    assert a["accuracy_clean"] > 80
    for layer in model.weight_layers:
        layer.sigma = 2.0  # noise twice the largest weight: the network is destroyed
    c = evaluate(model, data, noise_trials=3, seed=7)
    assert c["accuracy_clean"] == a["accuracy_clean"]
    assert c["accuracy_noisy_mean"] < a["accuracy_clean"] - 30


def test_noise_aware_training_options_clip_and_scale():
    from fastnax.train.loop import clip_weights
    from fastnax.train.noise import noise_scale

    layer = NoisyConv2d(8, 16, 3, bias=False, sigma=0.1)
    torch.nn.init.normal_(layer.weight)
    std = layer.weight.detach().std().item()
    clip_weights(layer, 2.0)
    assert layer.weight.detach().abs().max().item() <= 2.0 * std + 1e-6
    w = layer.weight.detach().clone()
    draws = {}
    for factor in (1.0, 2.0):
        with noise_scale(layer, factor):
            draws[factor] = (layer.draw_weight(torch.Generator().manual_seed(0), layer.noise_scale) - w).std()
    assert draws[2.0].item() == pytest.approx(2 * draws[1.0].item(), rel=1e-5)
    assert layer.noise_scale == 1.0


def test_evaluate_recalibrates_batch_norm_and_restores_it():
    data = datasets.load("digits", max_train=128, max_test=64)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    torch.manual_seed(0)
    model = build_model(arch)
    model.set_normalization([0.3], [0.4])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = evaluate(model, data, noise_trials=2, seed=3)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing left changed
    # the clean accuracy is the one with the exact training statistics (recalibrated by hand)
    from fastnax.train.loop import recalibrate_batch_norm

    b = evaluate(model, data, noise_trials=0, recalibrate=False)
    recalibrate_batch_norm(model, data)
    c = evaluate(model, data, noise_trials=0, recalibrate=False)
    assert a["accuracy_clean"] == c["accuracy_clean"]
    model.load_state_dict(before)
    assert evaluate(model, data, noise_trials=0, recalibrate=False)["accuracy_clean"] == b["accuracy_clean"]
    assert evaluate(model, data, noise_trials=2, seed=3) == a  # deterministic


def test_training_is_deterministic():
    data = datasets.load("digits", max_train=128, max_test=100)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(arch)
        train_model(model, data, TrainConfig(epochs=2, batch_size=32, lr=0.05, noise_aware=True,
                                             train_noise_scale=1.5, weight_clip_sigma=2.5),
                    seed=1, device="cpu")
        results.append((evaluate(model, data, noise_trials=1, seed=0), model.state_dict()))
    (r1, s1), (r2, s2) = results
    assert r1 == r2
    assert all(torch.equal(s1[k], s2[k]) for k in s1)
    assert s1["mean"].abs().sum() > 0  # the input normalization was set from the data


def test_augment_crop_is_a_shift_and_flip_mirrors():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4) + 1
    gen = torch.Generator().manual_seed(0)
    out = augment_batch(x, 1, False, gen)
    for i in range(2):
        nz = out[i, 0][out[i, 0] > 0]
        # a crop of the zero-padded image: the surviving pixels are a contiguous block of the original
        assert set(nz.tolist()) <= set(x[i, 0].flatten().tolist()) and len(nz) >= 9
    flipped = augment_batch(x, 0, True, torch.Generator().manual_seed(1))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(2))


def _cli(argv, capsys):
    from fastnax.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, captured.out, captured.err)


def test_fastnax_train_command_checkpoints_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--space", "imc", "--baseline", "resnet20",
            "--dataset", "digits", "--max-train", "256", "--batch-size", "64", "--lr", "0.05",
            "--noise-aware", "--noise-trials", "2", "--out", str(out), "--json"]
    first = _cli(base + ["--epochs", "1"], capsys)
    assert first.returncode == 0, first.stderr
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    # same settings but more epochs is another run: refused with --resume
    bad = _cli(base + ["--epochs", "2", "--resume"], capsys)
    assert bad.returncode == 2 and "other settings" in bad.stderr
    second = _cli(base + ["--epochs", "1", "--resume"], capsys)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["resumed_from_epoch"] == 1 and report["epochs"] == 1
    for key in ("accuracy_clean", "accuracy_noisy", "accuracy_noisy_std", "train_seconds",
                "energy_pj", "latency_ns", "area_mm2", "edap"):
        assert key in report
    assert json.loads((out / "report.json").read_text())["accuracy_clean"] == report["accuracy_clean"]
    assert "epoch 1/1" in first.stderr


def test_fastnax_train_from_result(tmp_path, capsys):
    from fastnax.search.result import SearchResult

    arch = spaces.get("imc", input_size=8, in_channels=1).sample(1, seed=2)[0]
    point = {"arch": str(arch), "accuracy": 50.0, "energy_pj": 1.0, "latency_ns": 1.0, "area_mm2": 1.0,
             "edap": 1.0}
    found = SearchResult(front=[point], best={**point, "objective": 0.5}, baselines=[], n_evaluations=1,
                         timings={}, seed=0, settings={}, accuracy_model={})
    result = found.to_json(tmp_path / "result.json")
    run = _cli(["train", "--from-result", str(result), "--dataset", "digits", "--max-train", "64",
                "--epochs", "1", "--noise-trials", "0", "--out", str(tmp_path / "o"), "--json"], capsys)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["arch"] == str(arch) and report["accuracy_noisy"] is None
    # what the search printed for the design travels into the training report beside the measurement
    assert report["search_prediction"]["accuracy"] == 50.0
    assert report["search_prediction"]["result"] == str(result)
    text = _cli(["train", "--from-result", str(result), "--dataset", "digits", "--max-train", "64",
                 "--epochs", "1", "--noise-trials", "0", "--out", str(tmp_path / "o2")], capsys)
    assert text.returncode == 0 and "the search predicted 50.00%" in text.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = _cli(["train", "--from-result", str(bad)], capsys)
    assert run.returncode == 2 and "not a fastnax search result" in run.stderr
    empty = SearchResult(**{**found.__dict__, "front": [], "best": None}).to_json(tmp_path / "empty.json")
    run = _cli(["train", "--from-result", str(empty)], capsys)
    assert run.returncode == 2 and "'best'" in run.stderr and run.stderr.count("\n") == 1
    wrong = _cli(["train", "--baseline", "resnet20", "--dataset", "mnist", "--root", str(tmp_path)], capsys)
    assert wrong.returncode == 2 and "MNIST not found" in wrong.stderr and str(tmp_path) in wrong.stderr


def test_batch_norm_recalibration_gives_the_exact_training_statistics():
    from fastnax.train.loop import recalibrate_batch_norm

    data = datasets.load("digits", max_train=100, max_test=10)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    model = build_model(arch, noise_sigma=0.0)
    model.set_normalization([0.3], [0.4])
    stem_conv, stem_bn = model.nodes[1][0], model.nodes[1][1]
    model.eval()
    recalibrate_batch_norm(model, data, batch_size=32)
    with torch.no_grad():
        x = (torch.as_tensor(data.x_train) - 0.3) / 0.4
        conv_out = stem_conv(x)
    # cumulative average of per-batch means over equal batches (100 = 32+32+32+4) is the mean of
    # the batch means; batch norm's running mean is exactly that
    batches = torch.arange(100).split(32)
    expected = torch.stack([conv_out[b].mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(stem_bn.running_mean, expected, rtol=1e-4, atol=1e-5)
    assert not model.training and stem_bn.momentum == 0.1  # mode and momentum restored


def test_read_only_images_become_tensors_without_sharing_them():
    """Parallel sampling workers get memory-mapped, read-only images: they are copied, not shared
    (torch warns that a tensor over read-only memory is undefined behaviour)."""
    import warnings

    from fastnax.train.loop import to_tensors

    x = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    x.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = to_tensors(x, np.array([0, 1]), "cpu")
    assert np.array_equal(split.x.numpy(), x) and not np.shares_memory(split.x.numpy(), x)
