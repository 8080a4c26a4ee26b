"""The affordable evaluation and training paths: per-chip calibration, the cost of an evaluation
counted in images forwarded, the fused activation quantization, reduced-resolution proxies and
the CIFAR-10 batches built from the reference data."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import SHARED_DATA  # noqa: E402

from fastnax import datasets, spaces  # noqa: E402
from fastnax.errors import BoundsError, DatasetError  # noqa: E402
from fastnax.train.loop import (TensorSplit, TrainConfig, _calibration_subset, accuracy,  # noqa: E402
                                as_float, evaluate, recalibrate_batch_norm, to_tensors, train_model)
from fastnax.train.model import build_model  # noqa: E402
from fastnax.train.noise import NoisyLinear, frozen_noise, nonideal, quantize_activation  # noqa: E402
from fastnax.train.sample import at_input_size, run_sampling  # noqa: E402


def _trained(data, epochs=2):
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    torch.manual_seed(0)
    model = build_model(arch)
    train_model(model, data, TrainConfig(epochs=epochs, batch_size=32, lr=0.05), seed=0, device="cpu")
    return model


def test_activation_quantization_levels_gradient_and_reference():
    x = torch.linspace(-1.0, 2.0, 301)
    q = quantize_activation(x, 4)  # signed: 7 levels per sign over [-2, 2]
    step = 2.0 / 7
    torch.testing.assert_close(q, torch.clamp(torch.round(x / step), -7, 7) * step)
    r = torch.relu(x)
    qu = quantize_activation(r, 3)  # unsigned: 7 levels over [0, 2]
    torch.testing.assert_close(qu, torch.round(r / (2.0 / 7)) * (2.0 / 7))
    assert len(torch.unique(qu)) == 8 and qu.min() == 0
    leaf = x.clone().requires_grad_(True)
    (quantize_activation(leaf, 4) * torch.arange(301.0)).sum().backward()
    torch.testing.assert_close(leaf.grad, torch.arange(301.0))  # straight-through: identity
    assert quantize_activation(x, None) is x


def test_chip_accuracy_is_the_chip_calibrated_through_itself():
    data = datasets.load("digits", max_train=300, max_test=120)
    model = _trained(data)
    scores = evaluate(model, data, noise_trials=2, seed=5, chip_calibration_images=64)
    # by hand: program chip t, re-estimate batch norm on the same 64 training images through it
    train = to_tensors(data.x_train, data.y_train, "cpu")
    calib = _calibration_subset(train, 64, 5)
    test = to_tensors(data.x_test, data.y_test, "cpu")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    manual = []
    for t in range(2):
        gen = torch.Generator().manual_seed(5 * 1_000_003 + t)
        with frozen_noise(model, gen):
            recalibrate_batch_norm(model, calib, noisy=None)
            manual.append(accuracy(model, test, 128))
        model.load_state_dict(before)
    assert scores["accuracy_noisy_trials"] == manual
    # a different calibration set gives other statistics, hence (in general) other accuracies
    other = evaluate(model, data, noise_trials=2, seed=5, chip_calibration_images=None)
    assert other["accuracy_clean"] == scores["accuracy_clean"]
    assert all(torch.equal(before[k], model.state_dict()[k]) for k in before)


def test_calibration_subset_is_seeded_and_in_order():
    split = TensorSplit(torch.arange(100).reshape(100, 1, 1, 1).float(), torch.zeros(100, dtype=torch.int64))
    a = _calibration_subset(split, 10, 3)
    b = _calibration_subset(split, 10, 3)
    assert torch.equal(a.x, b.x) and len(a) == 10
    assert torch.all(a.x.flatten()[1:] > a.x.flatten()[:-1])
    assert not torch.equal(_calibration_subset(split, 10, 4).x, a.x)
    assert _calibration_subset(split, 1000, 3) is split
    with pytest.raises(BoundsError, match="at least 2"):
        _calibration_subset(split, 1, 0)


def test_evaluation_forwards_at_most_k_plus_2_test_splits():
    """The work of an evaluation with K chips, counted in images through the network: one clean
    test pass, K chip passes and the calibration passes, at most (K + 2) test splits."""
    x = np.random.default_rng(0).random((3000, 1, 8, 8), dtype=np.float32)
    y = np.random.default_rng(1).integers(0, 10, 3000)
    data = datasets.ImageDataset("digits", x[:2000], y[:2000], x[2000:], y[2000:], 10, 1, 8)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    model = build_model(arch)
    seen = []
    hook = model.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].shape[0]))
    try:
        for k in (1, 4):
            seen.clear()
            evaluate(model, data, noise_trials=k, seed=0, calibration_images=400, chip_calibration_images=100)
            assert sum(seen) == (k + 1) * 1000 + 400 + k * 100
            assert sum(seen) <= (k + 2) * 1000
    finally:
        hook.remove()


def test_reused_input_buffer_changes_no_value_and_is_released():
    """The non-ideal inference path writes every layer's input codes into one buffer shared by the
    model's layers (the shortcut of a residual block reads the block input after its first conv
    has quantized it): the outputs are bit-identical to fresh tensors, the buffer goes when the
    chip's block ends."""
    data = datasets.load("digits", max_train=64, max_test=64)
    arch = spaces.get("imc", **data.space_options).baseline("resnet20")
    torch.manual_seed(0)
    model = build_model(arch).eval()
    x = as_float(to_tensors(data.x_test, data.y_test, "cpu").x[:32])
    layers = [m for m in model.modules() if hasattr(m, "scratch")]
    with torch.no_grad(), frozen_noise(model, torch.Generator().manual_seed(3)):
        shared = {id(m.scratch) for m in layers}
        assert len(shared) == 1 and None not in {m.scratch for m in layers}
        reused = model(x)
        again = model(x)
        for m in layers:
            m.scratch = None
        fresh = model(x)
    assert torch.equal(reused, fresh) and torch.equal(again, fresh)
    assert all(m.scratch is None for m in layers)
    with torch.no_grad(), nonideal(model, False):
        assert all(m.scratch is None for m in layers)
        assert not torch.equal(model(x), fresh)  # the non-idealities were on above


def test_noise_aware_step_runs_every_nonideality_once_per_forward():
    layer = NoisyLinear(8, 4, bias=False, sigma=0.05, w_bits=8, in_bits=8, adc_bits=8)
    x = torch.rand(16, 8, requires_grad=True)
    with nonideal(layer, True, torch.Generator().manual_seed(0)):
        out = layer(x)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with nonideal(layer, True, torch.Generator().manual_seed(0)):
        again = layer(x)
    torch.testing.assert_close(out, again)  # seeded draw


def test_downsample_is_the_block_mean_and_keeps_labels():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.uint8).reshape(2, 3, 4, 4)
    y = np.array([0, 1])
    data = datasets.ImageDataset("cifar10", x, y, x.copy(), y.copy(), 10, 3, 4)
    half = data.downsample(2)
    assert half.input_size == 2 and half.x_train.dtype == np.uint8 and half.x_train.shape == (2, 3, 2, 2)
    expected = np.rint(x.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5))).astype(np.uint8)
    assert np.array_equal(half.x_train, expected) and np.array_equal(half.y_test, y)
    assert data.downsample(1) is data
    with pytest.raises(BoundsError, match="divisor"):
        data.downsample(3)


def test_reduced_resolution_network_of_a_full_size_architecture():
    space = spaces.get("imc", input_size=32, in_channels=3, num_classes=10)
    for arch in space.sample(6, 0, max_macs=2 * space.baseline("resnet20").macs):
        small = at_input_size(arch, 16)
        assert small.genotype == arch.genotype and small.option_dict["input_size"] == 16
        assert small.macs < arch.macs
        assert build_model(small)(torch.rand(2, 3, 16, 16)).shape == (2, 10)
    assert at_input_size(arch, 32) is arch


def test_sampling_at_half_resolution_records_full_size_strings(tmp_path):
    data = datasets.load("synthetic", n_train=96, n_test=32, input_size=16, seed=0)
    out = tmp_path / "r.jsonl"
    records = run_sampling("imc", data, 2, 1, out, seed=0, noise_trials=1, batch_size=32,
                           max_macs="auto", downsample=2)
    space = spaces.get("imc", **data.space_options)
    assert [r.arch for r in records] == [str(a) for a in space.sample(2, 0, max_macs=2 * space.baseline("resnet20").macs)]
    assert all(0 <= r.accuracy_clean <= 100 and 0 <= r.accuracy_noisy <= 100 for r in records)
    again = run_sampling("imc", data, 2, 1, out, seed=0, noise_trials=1, batch_size=32,
                         max_macs="auto", downsample=2)
    assert again == records  # resumed: nothing retrained


def test_ensure_cifar10_builds_the_batches_once(tmp_path):
    source = SHARED_DATA / "cifar10"
    if not (source / "cifar10_jpeg_q75.npz").is_file():
        pytest.skip(f"reference data not found: {source / 'cifar10_jpeg_q75.npz'}")
    root = datasets.ensure_cifar10()  # the shared cache (built once, ~10 s)
    data = datasets.load("cifar10", root=root, max_train=100, max_test=50)
    assert data.x_train.shape == (100, 3, 32, 32) and data.x_train.dtype == np.uint8
    assert data.input_size == 32 and set(np.unique(data.y_train)) <= set(range(10))
    assert datasets.ensure_cifar10() == root  # already there: nothing rebuilt
    with pytest.raises(DatasetError, match="missing"):
        datasets.ensure_cifar10(tmp_path / "empty", source=tmp_path / "nowhere")


def test_shared_calibration_is_the_former_evaluation():
    """chip_calibration='shared' with every training image: one clean and one noisy re-estimation
    (fresh draws every batch) shared by all chips, the evaluation of fastnax 0.1."""
    data = datasets.load("digits", max_train=200, max_test=90)
    model = _trained(data, epochs=1)
    got = evaluate(model, data, noise_trials=2, seed=4, calibration_images=None,
                   chip_calibration_images=None, chip_calibration="shared")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    recalibrate_batch_norm(model, data)
    test = to_tensors(data.x_test, data.y_test, "cpu")
    with nonideal(model, False):
        clean = accuracy(model, test, 128)
    recalibrate_batch_norm(model, data, noisy=True, seed=5)
    chips = []
    for t in range(2):
        with frozen_noise(model, torch.Generator().manual_seed(4 * 1_000_003 + t)):
            chips.append(accuracy(model, test, 128))
    model.load_state_dict(before)
    assert got["accuracy_clean"] == clean and got["accuracy_noisy_trials"] == chips
    with pytest.raises(BoundsError, match="'chip' or 'shared'"):
        evaluate(model, data, noise_trials=1, chip_calibration="each")
