"""Image datasets read straight from their published file layouts, as numpy arrays.

Nothing here downloads or imports torch. Every loader returns an :class:`ImageDataset` whose
images are laid out ``(n, channels, height, width)``: ``float32`` in [0, 1] for the small sets
(digits, synthetic) and ``uint8`` (0..255) for the file-based ones, which the training code scales
per batch (CIFAR-10 as float32 is 600 MB, Tiny ImageNet 4.9 GB; as uint8 a quarter of that).

A missing dataset raises :class:`~fastnax.errors.DatasetError` naming the files expected and the
folder searched. The default folder is ``$FASTNAX_DATA/<name>`` (or ``~/.fastnax/data/<name>``).

Why ~520 lines in one module: six published layouts (digits, MNIST IDX, CIFAR-10/100 pickles
through an allow-list unpickler, Tiny ImageNet folders, synthetic) share one dataset type, one
split/subset helper and one error style; split per format they would repeat those.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from fastnax.errors import BoundsError, DatasetError, unknown


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of an image classification set.

    Attributes
    ----------
    name : str
    x_train : ndarray of shape (n_train, in_channels, input_size, input_size)
        float32 in [0, 1], or uint8 in 0..255 (see the module docstring).
    y_train : int64 ndarray of shape (n_train,)
        Class labels in ``0 .. num_classes - 1``.
    x_test, y_test : the same for the test split.
    num_classes, in_channels, input_size : int
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    in_channels: int
    input_size: int

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4 or x.shape[0] != y.shape[0]:
                raise DatasetError(f"{self.name}: {split} images of shape {x.shape} do not match "
                                   f"{y.shape[0]} labels (expected (n, C, H, W))")
            if x.shape[0] and (y.min() < 0 or y.max() >= self.num_classes):
                raise DatasetError(f"{self.name}: {split} labels outside 0..{self.num_classes - 1}")

    @property
    def space_options(self) -> dict:
        """Options of a search space sized for this dataset (input_size, in_channels, num_classes)."""
        return {"input_size": self.input_size, "in_channels": self.in_channels,
                "num_classes": self.num_classes}

    def subset(self, max_train: int | None = None, max_test: int | None = None,
               seed: int = 0) -> ImageDataset:
        """A seeded random subset of at most ``max_train`` / ``max_test`` images per split."""
        rng = np.random.default_rng(seed)
        parts = {}
        for split, limit in (("train", max_train), ("test", max_test)):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if limit is not None and limit < len(y):
                keep = np.sort(rng.permutation(len(y))[:int(limit)])
                x, y = x[keep], y[keep]
            parts[f"x_{split}"], parts[f"y_{split}"] = x, y
        return ImageDataset(self.name, num_classes=self.num_classes, in_channels=self.in_channels,
                            input_size=self.input_size, **parts)

    def downsample(self, factor: int) -> ImageDataset:
        """The same images at ``1 / factor`` of the resolution (mean over ``factor x factor`` blocks).

        A low-fidelity proxy for short trainings: a network at half the input size costs about
        a quarter of the MACs. uint8 images stay uint8 (rounded block means).
        """
        f = int(factor)
        if f < 1 or self.input_size % f:
            raise BoundsError(f"downsample factor must be a positive divisor of the input size "
                              f"{self.input_size}, got {factor}")
        if f == 1:
            return self
        parts = {}
        for split in ("train", "test"):
            x = getattr(self, f"x_{split}")
            n, c, h, w = x.shape
            m = x.reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5), dtype=np.float32)
            if x.dtype == np.uint8:
                m = np.clip(np.rint(m), 0, 255).astype(np.uint8)
            parts[f"x_{split}"] = m.astype(x.dtype, copy=False)
            parts[f"y_{split}"] = getattr(self, f"y_{split}")
        return ImageDataset(self.name, num_classes=self.num_classes, in_channels=self.in_channels,
                            input_size=self.input_size // f, **parts)

    def describe(self) -> dict:
        return {"name": self.name, "n_train": int(len(self.y_train)), "n_test": int(len(self.y_test)),
                "num_classes": self.num_classes, "in_channels": self.in_channels,
                "input_size": self.input_size}


def default_root(name: str) -> Path:
    """Folder searched for dataset ``name`` when no root is given."""
    base = os.environ.get("FASTNAX_DATA")
    return (Path(base) if base else Path.home() / ".fastnax" / "data") / name


def _split_indices(n: int, n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n_train <= 0 or n_test <= 0 or n_train + n_test > n:
        raise BoundsError(f"split {n_train}/{n_test} needs positive sizes summing to at most the "
                          f"{n} images available")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:n_train + n_test])


def _parse_split(split) -> tuple[int, int] | None:
    if split is None:
        return None
    if isinstance(split, str):
        try:
            a, b = split.replace(":", "/").split("/")
            return int(a), int(b)
        except ValueError:
            raise BoundsError(f"split {split!r} must be 'N_TRAIN/N_TEST', e.g. '8000/2000'") from None
    try:
        a, b = split
        return int(a), int(b)
    except (TypeError, ValueError):
        raise BoundsError(f"split {split!r} must be a pair (n_train, n_test)") from None


def _resplit(name, x, y, split, seed, num_classes, ) -> ImageDataset:
    n_train, n_test = split
    tr, te = _split_indices(len(y), n_train, n_test, seed)
    return ImageDataset(name, x[tr], y[tr], x[te], y[te], num_classes, x.shape[1], x.shape[2])


# --- digits --------------------------------------------------------------------------------------

def load_digits(root=None, split=None, seed: int = 0, test_fraction: float = 0.2) -> ImageDataset:
    """scikit-learn's bundled 8×8 digits (1,797 images, 10 classes), scaled to [0, 1].

    The split is a fixed seeded permutation: ``test_fraction`` of the images (360) are the test set
    unless ``split=(n_train, n_test)`` is given.
    """
    from sklearn.datasets import load_digits as _sk_load

    bunch = _sk_load()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    parsed = _parse_split(split)
    if parsed is None:
        n_test = int(round(len(y) * float(test_fraction)))
        parsed = (len(y) - n_test, n_test)
    return _resplit("digits", x, y, parsed, seed, 10)


# --- synthetic -----------------------------------------------------------------------------------

def load_synthetic(root=None, n_train: int = 512, n_test: int = 128, num_classes: int = 10,
                   in_channels: int = 3, input_size: int = 8, seed: int = 0,
                   noise: float = 0.25, split=None) -> ImageDataset:
    """Seeded random images with a learnable signal: each class has its own mean image.

    Images are ``clip(class_mean + noise * N(0, 1), 0, 1)``; the class means are uniform in [0, 1].
    """
    for what, value in (("n_train", n_train), ("n_test", n_test), ("num_classes", num_classes),
                        ("in_channels", in_channels), ("input_size", input_size)):
        if int(value) <= 0:
            raise BoundsError(f"synthetic dataset {what} must be positive, got {value}")
    rng = np.random.default_rng(seed)
    shape = (int(in_channels), int(input_size), int(input_size))
    means = rng.random((int(num_classes),) + shape, dtype=np.float32)
    n = int(n_train) + int(n_test)
    y = rng.integers(0, int(num_classes), size=n).astype(np.int64)
    x = np.clip(means[y] + np.float32(noise) * rng.standard_normal((n,) + shape, dtype=np.float32), 0, 1)
    x = x.astype(np.float32)
    return ImageDataset("synthetic", x[:n_train], y[:n_train], x[n_train:], y[n_train:],
                        int(num_classes), shape[0], shape[1])


# --- MNIST (IDX files) ---------------------------------------------------------------------------

_MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzip-compressed) as a numpy array of its declared shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read IDX file {path}: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, ndim = data[2], data[3]
    if code not in dtypes:
        raise DatasetError(f"{path}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(dtypes[code])
    count = int(np.prod(shape)) if shape else 1
    if len(data) - header < count * dtype.itemsize:
        raise DatasetError(f"{path}: truncated IDX file: expected {count} values of shape {shape}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape).astype(
        dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(root=None, split=None, seed: int = 0) -> ImageDataset:
    """MNIST from its IDX files (``train-images-idx3-ubyte[.gz]``, ``t10k-...``), uint8 images.

    Parameters
    ----------
    root : path, optional
        Folder holding the IDX files (default ``default_root('mnist')``).
    split : (int, int) or 'N_TRAIN/N_TEST', optional
        Without it, the standard split (train files for training, t10k files for testing; both
        needed). With it, a seeded random disjoint split of every image found (train and/or t10k
        files), e.g. ``split=(8000, 2000)`` on the 10,000 test images alone.
    """
    folder = Path(root) if root is not None else default_root("mnist")
    found = {}
    for part, (images, labels) in _MNIST_FILES.items():
        pi, pl = _find(folder, images), _find(folder, labels)
        if pi and pl:
            found[part] = (pi, pl)
    parsed = _parse_split(split)
    need = ["train", "test"] if parsed is None else []
    missing = [p for p in need if p not in found] or ([] if found else ["train", "test"])
    if missing:
        names = ", ".join(f"{f}[.gz]" for p in missing for f in _MNIST_FILES[p])
        hints = (["pass --root DIR, or set FASTNAX_DATA"] if root is None else []) + \
            ([] if parsed is not None else ["pass split=N_TRAIN/N_TEST to split the files present"])
        hint = f" ({'; or '.join(hints)})" if hints else ""
        raise DatasetError(f"MNIST not found: expected {names} in {folder}{hint}")
    arrays = {}
    for part, (pi, pl) in found.items():
        x, y = read_idx(pi), read_idx(pl)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"MNIST files {pi.name} / {pl.name} have shapes {x.shape} / {y.shape}")
        arrays[part] = (x[:, None, :, :].astype(np.uint8), y.astype(np.int64))
    if parsed is None:
        (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
        return ImageDataset("mnist", xtr, ytr, xte, yte, 10, 1, xtr.shape[2])
    x = np.concatenate([arrays[p][0] for p in ("train", "test") if p in arrays])
    y = np.concatenate([arrays[p][1] for p in ("train", "test") if p in arrays])
    return _resplit("mnist", x, y, parsed, seed, 10)


# --- CIFAR (python pickle batches, read with a restricted unpickler) ---------------------------

class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a CIFAR batch cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("builtins", "list"), ("builtins", "dict"), ("builtins", "tuple"), ("builtins", "bytes"),
        ("builtins", "str"), ("builtins", "int"), ("builtins", "float"),
        ("__builtin__", "list"), ("__builtin__", "dict"),
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes (pure)
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DatasetError(f"refusing to unpickle {module}.{name}: a CIFAR batch holds only "
                           f"dicts, lists and numpy arrays")


def read_cifar_batch(path: Path) -> dict:
    """One CIFAR python batch file as a dict with str keys (restricted unpickling)."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(io.BytesIO(f.read()), encoding="bytes").load()
    except DatasetError:
        raise
    except Exception as exc:  # a malformed pickle raises many kinds of errors
        raise DatasetError(f"cannot read CIFAR batch {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"CIFAR batch {path} holds a {type(obj).__name__}, expected a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _cifar(name: str, root, folder_name: str, train_files: list[str], test_files: list[str],
           label_key: str, num_classes: int, split, seed: int) -> ImageDataset:
    base = Path(root) if root is not None else default_root(name)
    folder = base / folder_name if (base / folder_name).is_dir() else base
    missing = [f for f in train_files + test_files if not (folder / f).is_file()]
    if missing:
        raise DatasetError(f"{name} not found: expected {folder_name}/ with "
                           f"{', '.join(train_files + test_files)} (python version of the batches); "
                           f"missing {', '.join(missing)} in {folder}"
                           + ("" if root is not None else " (pass --root DIR, or set FASTNAX_DATA)"))

    def read(files):
        xs, ys = [], []
        for f in files:
            batch = read_cifar_batch(folder / f)
            if "data" not in batch or label_key not in batch:
                raise DatasetError(f"CIFAR batch {folder / f} lacks 'data' or '{label_key}'")
            data = np.asarray(batch["data"], dtype=np.uint8)
            labels = np.asarray(batch[label_key], dtype=np.int64)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
                raise DatasetError(f"CIFAR batch {folder / f}: data of shape {data.shape} and "
                                   f"{len(labels)} labels (expected (n, 3072))")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(labels)
        return np.concatenate(xs), np.concatenate(ys)

    xtr, ytr = read(train_files)
    xte, yte = read(test_files)
    parsed = _parse_split(split)
    if parsed is not None:
        return _resplit(name, np.concatenate([xtr, xte]), np.concatenate([ytr, yte]), parsed, seed,
                        num_classes)
    return ImageDataset(name, xtr, ytr, xte, yte, num_classes, 3, 32)


def shared_data_folder() -> Path:
    """``$FASTNAX_SHARED_DATA``, else ``../shared/data`` beside the repository holding this package."""
    env = os.environ.get("FASTNAX_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def ensure_cifar10(cache=None, source=None) -> Path:
    """A folder holding ``cifar-10-batches-py/``, built once from the reference data if missing.

    Parameters
    ----------
    cache : path, optional
        Where the batches live (default ``~/.cache/fastnax/cifar10``); never inside the repository.
    source : path, optional
        The folder with ``make_batches.py`` and ``cifar10_jpeg_q75.npz`` (default
        ``shared_data_folder() / "cifar10"``).

    Returns
    -------
    Path
        ``cache``, to pass as ``load("cifar10", root=...)``.

    Raises
    ------
    DatasetError
        Neither the batches nor the reference files are there (the message names the file), or
        building them failed.
    """
    import subprocess
    import sys

    cache = Path(cache).expanduser() if cache is not None else Path.home() / ".cache" / "fastnax" / "cifar10"
    files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if all((cache / "cifar-10-batches-py" / f).is_file() for f in files):
        return cache
    src = Path(source) if source is not None else shared_data_folder() / "cifar10"
    for need in ("make_batches.py", "cifar10_jpeg_q75.npz"):
        if not (src / need).is_file():
            raise DatasetError(f"CIFAR-10 batches not in {cache / 'cifar-10-batches-py'} and the "
                               f"reference file {src / need} is missing to build them")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, str(src / "make_batches.py"), str(cache)],
                          capture_output=True, text=True)
    if done.returncode != 0 or not all((cache / "cifar-10-batches-py" / f).is_file() for f in files):
        raise DatasetError(f"building CIFAR-10 batches in {cache} failed: "
                           f"{(done.stderr or done.stdout).strip()[-300:]}")
    return cache


def load_cifar10(root=None, split=None, seed: int = 0) -> ImageDataset:
    """CIFAR-10 from ``cifar-10-batches-py/`` (data_batch_1..5, test_batch), uint8 images."""
    return _cifar("cifar10", root, "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)],
                  ["test_batch"], "labels", 10, split, seed)


def load_cifar100(root=None, split=None, seed: int = 0) -> ImageDataset:
    """CIFAR-100 (fine labels) from ``cifar-100-python/`` (train, test), uint8 images."""
    return _cifar("cifar100", root, "cifar-100-python", ["train"], ["test"], "fine_labels", 100,
                  split, seed)


# --- Tiny ImageNet -------------------------------------------------------------------------------

def _plain_name(name: str, source: Path) -> str:
    """``name`` if it is a plain file name; a name read from a file never leaves its folder."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise DatasetError(f"{source}: {name[:80]!r} is not a plain file name (no '/', '\\' or "
                           f"'..'); names in a dataset's index files stay inside its folder")
    return name


def load_tinyimagenet(root=None, split=None, seed: int = 0) -> ImageDataset:
    """Tiny ImageNet (200 classes, 64×64) from the ``tiny-imagenet-200/`` layout, uint8 images.

    Training images: ``train/<wnid>/images/*.JPEG``; test split: the labelled validation images
    ``val/images/*.JPEG`` with labels from ``val/val_annotations.txt``. Classes are numbered in the
    order of ``wnids.txt``.
    """
    from PIL import Image  # pillow ships with matplotlib

    base = Path(root) if root is not None else default_root("tinyimagenet")
    folder = base / "tiny-imagenet-200" if (base / "tiny-imagenet-200").is_dir() else base
    wnids_file, ann = folder / "wnids.txt", folder / "val" / "val_annotations.txt"
    if not wnids_file.is_file() or not ann.is_file() or not (folder / "train").is_dir():
        raise DatasetError(f"tinyimagenet not found: expected tiny-imagenet-200/ with wnids.txt, "
                           f"train/<wnid>/images/*.JPEG, val/images/*.JPEG and "
                           f"val/val_annotations.txt in {folder}"
                           + ("" if root is not None else " (pass --root DIR, or set FASTNAX_DATA)"))
    wnids = [w.strip() for w in wnids_file.read_text().split() if w.strip()]
    for w in wnids:
        _plain_name(w, wnids_file)
    label_of = {w: i for i, w in enumerate(wnids)}

    def read_image(path: Path) -> np.ndarray:
        try:
            with Image.open(path) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except OSError as exc:
            raise DatasetError(f"cannot read image {path}: {exc}") from None
        if arr.shape[:2] != (64, 64):
            raise DatasetError(f"image {path} is {arr.shape[1]}x{arr.shape[0]}, expected 64x64")
        return arr.transpose(2, 0, 1)

    xtr, ytr = [], []
    for w in wnids:
        for path in sorted((folder / "train" / w / "images").glob("*.JPEG")):
            xtr.append(read_image(path))
            ytr.append(label_of[w])
    xte, yte = [], []
    for line in ann.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) < 2:
            continue
        if fields[1] not in label_of:
            raise DatasetError(f"{ann}: class {fields[1]!r} is not in wnids.txt")
        xte.append(read_image(folder / "val" / "images" / _plain_name(fields[0], ann)))
        yte.append(label_of[fields[1]])
    if not xtr or not xte:
        raise DatasetError(f"tinyimagenet in {folder} has {len(xtr)} training and {len(xte)} "
                           f"validation images; expected both")
    stack = lambda xs: np.stack(xs).astype(np.uint8)  # noqa: E731
    data = ImageDataset("tinyimagenet", stack(xtr), np.asarray(ytr, np.int64), stack(xte),
                        np.asarray(yte, np.int64), len(wnids), 3, 64)
    parsed = _parse_split(split)
    if parsed is not None:
        return _resplit("tinyimagenet", np.concatenate([data.x_train, data.x_test]),
                        np.concatenate([data.y_train, data.y_test]), parsed, seed, len(wnids))
    return data


#: (in_channels, input_size, num_classes) of each dataset, known without loading it: the shape a
#: search space must have for a dataset (``fastnax search --dataset``). ``synthetic`` is sized by
#: its arguments and has no fixed shape.
SHAPES = {"digits": (1, 8, 10), "mnist": (1, 28, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100),
          "tinyimagenet": (3, 64, 200)}


def space_options_for(name: str) -> dict:
    """Options of a search space sized for dataset ``name`` (without loading the dataset)."""
    if name not in SHAPES:
        raise unknown("dataset", name, SHAPES)
    channels, size, classes = SHAPES[name]
    return {"input_size": size, "in_channels": channels, "num_classes": classes}


DATASETS: dict[str, Callable[..., ImageDataset]] = {
    "digits": load_digits, "mnist": load_mnist, "cifar10": load_cifar10, "cifar100": load_cifar100,
    "tinyimagenet": load_tinyimagenet, "synthetic": load_synthetic,
}


def load(name: str, root=None, max_train: int | None = None, max_test: int | None = None,
         **options) -> ImageDataset:
    """Load the image dataset ``name`` from ``root`` (nothing is downloaded).

    Parameters
    ----------
    name : str
        One of ``digits`` (embedded), ``mnist``, ``cifar10``, ``cifar100``, ``tinyimagenet``,
        ``synthetic``.
    root : path, optional
        Folder holding the files; default ``$FASTNAX_DATA/<name>`` or ``~/.fastnax/data/<name>``.
    max_train, max_test : int, optional
        Keep a seeded random subset of at most this many images per split.
    **options
        Loader options: ``split`` ((n_train, n_test) or 'N/M': a seeded re-split of the images
        found), ``seed``, and for ``synthetic`` its sizes.

    Raises
    ------
    DatasetError
        The files are missing (the message names them and the folder searched) or malformed.
    """
    if name not in DATASETS:
        raise unknown("dataset", name, DATASETS)
    try:
        data = DATASETS[name](root=root, **options)
    except TypeError as exc:
        import inspect

        valid = [p for p in inspect.signature(DATASETS[name]).parameters if p != "root"]
        raise BoundsError(f"bad option for the {name} dataset ({exc}); valid options: "
                          f"{', '.join(valid)}, max_train, max_test") from None
    if max_train is not None or max_test is not None:
        data = data.subset(max_train, max_test, seed=int(options.get("seed", 0)))
    return data
