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


def test_default_sigma_comes_from_the_hardware_model():
    hwmodel = pytest.importorskip("fastnax.hwmodel")
    arch = spaces.get("imc", input_size=8, in_channels=1).sample(1, seed=3)[0]
    model = build_model(arch)
    expected = hwmodel.layer_noise_sigma(arch)
    np.testing.assert_allclose([m.sigma for m in model.weight_layers], expected)
    knobs = {"w_bits": model.weight_layers[0].w_bits, "in_bits": model.weight_layers[0].in_bits}
    from fastnax.arch import hardware_knobs

    assert knobs == {k: hardware_knobs(arch)[k] for k in knobs}


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


def test_adc_quantization_of_outputs():
    layer = NoisyLinear(4, 3, bias=False, sigma=0.0, adc_bits=3)
    x = torch.rand(5, 4)
    with nonideal(layer, True):
        out = layer(x)
    ref = x @ layer.weight.detach().T
    scale = ref.abs().max()
    step = scale / 3  # 3-bit signed: 3 levels per sign
    assert torch.allclose(out, torch.round(ref / step).clamp(-3, 3) * step, atol=1e-6)


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


def test_training_is_deterministic():
    data = datasets.load("digits", max_train=128, max_test=100)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(arch)
        train_model(model, data, TrainConfig(epochs=2, batch_size=32, lr=0.05, noise_aware=True),
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
    arch = spaces.get("imc", input_size=8, in_channels=1).sample(1, seed=2)[0]
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"best": {"arch": str(arch)}, "front": []}))
    run = _cli(["train", "--from-result", str(result), "--dataset", "digits", "--max-train", "64",
                "--epochs", "1", "--noise-trials", "0", "--out", str(tmp_path / "o"), "--json"], capsys)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["arch"] == str(arch) and report["accuracy_noisy"] is None
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    run = _cli(["train", "--from-result", str(bad)], capsys)
    assert run.returncode == 2 and "'best'" in run.stderr
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
