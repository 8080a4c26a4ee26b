"""Image datasets: every loader against files written here in the published layouts."""

from __future__ import annotations

import gzip
import pickle
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastnax import datasets
from fastnax.datasets.images import read_cifar_batch, read_idx
from fastnax.errors import BoundsError, DatasetError, UnknownNameError
from tests.conftest import shared_file


def write_idx(path, array: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def test_import_is_torch_free():
    code = ("import sys, fastnax.datasets as d; d.load('digits'); "
            "print('torch' in sys.modules, 'fastnax.datasets.records' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_digits_embedded_split_is_fixed_and_disjoint():
    from sklearn.datasets import load_digits

    a, b = datasets.load("digits"), datasets.load("digits")
    assert a.x_train.shape == (1438, 1, 8, 8) and a.x_test.shape == (359, 1, 8, 8)
    assert a.num_classes == 10 and a.in_channels == 1 and a.input_size == 8
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.dtype == np.float32 and a.x_train.min() == 0 and a.x_train.max() == 1
    # every sklearn image appears exactly once across the two splits
    ref = load_digits().images.reshape(len(load_digits().images), -1) / 16.0
    ours = np.concatenate([a.x_train, a.x_test]).reshape(len(ref), -1)
    assert sorted(map(bytes, ref.astype(np.float32))) == sorted(map(bytes, ours.astype(np.float32)))
    other = datasets.load("digits", seed=1)
    assert not np.array_equal(other.y_test, a.y_test)


def test_mnist_idx_gz_and_plain_and_split(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=50).astype(np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, gz=False)
    np.testing.assert_array_equal(read_idx(tmp_path / "t10k-images-idx3-ubyte.gz"), images)
    # the standard split needs the train files too: the error names them and the folder
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*" + str(tmp_path).replace("/", ".")):
        datasets.load("mnist", root=tmp_path)
    data = datasets.load("mnist", root=tmp_path, split=(40, 10))
    assert data.x_train.shape == (40, 1, 28, 28) and data.x_test.shape == (10, 1, 28, 28)
    # the split is a disjoint partition of the images
    rows = {bytes(x) for x in images}
    got = [bytes(x[0]) for x in np.concatenate([data.x_train, data.x_test])]
    assert len(set(got)) == 50 and set(got) == rows
    assert datasets.load("mnist", root=tmp_path, split="40/10").y_test.tolist() == data.y_test.tolist()
    with pytest.raises(BoundsError):
        datasets.load("mnist", root=tmp_path, split=(45, 10))


def test_mnist_reference_test_images_split_8000_2000():
    folder = shared_file("mnist/t10k-images-idx3-ubyte.gz").parent
    data = datasets.load("mnist", root=folder, split=(8000, 2000))
    assert data.x_train.shape == (8000, 1, 28, 28) and len(data.y_test) == 2000
    assert np.bincount(np.concatenate([data.y_train, data.y_test]), minlength=10).min() > 800


def _cifar_dict(n, label_key, rng):
    return {b"data": rng.integers(0, 256, size=(n, 3072)).astype(np.uint8),
            label_key: list(rng.integers(0, 10, size=n).tolist()), b"batch_label": b"x"}


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = _cifar_dict(4, b"labels", rng)
        with open(folder / name, "wb") as f:
            pickle.dump(batches[name], f, protocol=2)
    data = datasets.load("cifar10", root=tmp_path)
    assert data.x_train.shape == (20, 3, 32, 32) and data.x_test.shape == (4, 3, 32, 32)
    # channel-major rows: the first 1024 bytes are the red plane
    np.testing.assert_array_equal(data.x_train[0, 0].ravel(), batches["data_batch_1"][b"data"][0, :1024])
    np.testing.assert_array_equal(data.y_test, batches["test_batch"][b"labels"])


def test_cifar100_fine_labels_and_missing_message(tmp_path):
    with pytest.raises(DatasetError, match="cifar-100-python.*train, test"):
        datasets.load("cifar100", root=tmp_path)
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test"):
        d = _cifar_dict(3, b"fine_labels", rng)
        d[b"fine_labels"] = [99, 0, 57]
        with open(folder / name, "wb") as f:
            pickle.dump(d, f)
    data = datasets.load("cifar100", root=folder)
    assert data.num_classes == 100 and data.y_train.tolist() == [99, 0, 57]


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_unpickler_refuses_code(tmp_path):
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [1]}, f)
    with pytest.raises(DatasetError, match="refusing to unpickle builtins.print"):
        read_cifar_batch(path)


def test_tinyimagenet_layout(tmp_path):
    from PIL import Image

    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01", "n02"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(3)
    for w in wnids:
        (root / "train" / w / "images").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
                root / "train" / w / "images" / f"{w}_{i}.JPEG", format="PNG")
    lines = []
    for i, w in enumerate(["n02", "n01", "n02"]):
        colour = np.full((64, 64, 3), 40 * i, dtype=np.uint8)
        Image.fromarray(colour).save(root / "val" / "images" / f"val_{i}.JPEG", format="PNG")
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    data = datasets.load("tinyimagenet", root=tmp_path)
    assert data.x_train.shape == (4, 3, 64, 64) and data.num_classes == 2
    assert data.y_train.tolist() == [0, 0, 1, 1] and data.y_test.tolist() == [1, 0, 1]
    assert data.x_test[2].max() == 80 and data.x_test[2].min() == 80
    with pytest.raises(DatasetError, match="val_annotations.txt"):
        datasets.load("tinyimagenet", root=tmp_path / "nowhere")


def test_synthetic_is_seeded_and_learnable():
    a = datasets.load("synthetic", seed=5, n_train=200, n_test=50, num_classes=4, in_channels=2)
    b = datasets.load("synthetic", seed=5, n_train=200, n_test=50, num_classes=4, in_channels=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.x_train.shape == (200, 2, 8, 8)
    # nearest class mean (from train) classifies the test set far above chance
    means = np.stack([a.x_train[a.y_train == k].mean(0) for k in range(4)])
    pred = ((a.x_test[:, None] - means[None]) ** 2).sum(axis=(2, 3, 4)).argmin(1)
    assert (pred == a.y_test).mean() > 0.9


def test_unknown_dataset_and_option():
    with pytest.raises(UnknownNameError, match="cifar10, cifar100, digits"):
        datasets.load("imagenet")
    with pytest.raises(BoundsError, match="valid options"):
        datasets.load("digits", colour=True)


def test_subset_limits():
    data = datasets.load("digits", max_train=100, max_test=30)
    assert len(data.y_train) == 100 and len(data.y_test) == 30
