"""Datasets: image sets for training (``images``) and architecture-record files (``records``).

>>> from fastnax import datasets
>>> data = datasets.load("digits")            # scikit-learn's bundled 8x8 digits, no download
>>> data.x_train.shape, data.num_classes
((1437, 1, 8, 8), 10)

The image loaders are numpy-only (no torch); the training code converts them to tensors. The
submodules ``records`` and ``nb201`` are imported on use, not here.
"""

from __future__ import annotations

from fastnax.datasets.images import (DATASETS, SHAPES, ImageDataset, default_root, ensure_cifar10, load,
                                     shared_data_folder, space_options_for)

__all__ = ["DATASETS", "SHAPES", "ImageDataset", "default_root", "ensure_cifar10", "load", "shared_data_folder",
           "space_options_for"]
