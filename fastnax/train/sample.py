"""The sample-training runner: short trainings of sampled candidates, appended as records.

``run_sampling`` draws ``n`` candidates (``space.sample(n, seed)``), trains each for a short budget
and appends its :class:`~fastnax.datasets.records.Record` to the records file the moment it
finishes (one whole line, fsynced). Killed at any moment and started again with the same
arguments, it reads the file back, skips the candidates already recorded and trains the rest: no
record is lost (at most the one in training is redone), none is duplicated, and a torn last line
is skipped by the reader and terminated by the next append.

Candidates train in parallel through joblib (``jobs``; backend ``loky`` on one machine, ``dask``
on a dask.distributed cluster given by its scheduler address). Results come back to this process,
which is the only writer of the file. Every candidate is seeded from ``(seed, candidate index)``,
so the same command gives the same records on CPU (``train_seconds`` aside).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from fastnax.errors import BoundsError, unknown

BACKENDS = ("loky", "threading", "dask")

#: The sampling protocol of each dataset's packaged records (``fastnax/data/<dataset>_imc_records``),
#: i.e. what their accuracies mean: records of another protocol are not mixed with them.
#: ``max_train`` / ``max_test``: seeded subsets (None: all images); ``downsample``: the training
#: resolution divisor (CIFAR-10 at 16x16, chosen by ``benchmarks/cifar10_protocol.py``).
PACKAGED_PROTOCOLS = {
    "digits": {"epochs": 5, "batch_size": 32, "lr": 0.05, "max_train": None, "max_test": None,
               "downsample": 1, "noise_trials": 3},
    "cifar10": {"epochs": 6, "batch_size": 64, "lr": 0.05, "max_train": 10000, "max_test": 2000,
                "downsample": 2, "noise_trials": 2},
}


def candidate_seed(seed: int, index: int) -> int:
    """The training seed of candidate ``index`` of a run seeded ``seed`` (a 31-bit int)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def at_input_size(arch, size: int):
    """The same architecture (genotype and knobs) built for ``size x size`` inputs.

    Layer shapes are re-derived by the space (a flatten head reads the smaller feature map), so a
    network of a 32x32 space trains on 16x16 images: the reduced-resolution proxy of a sampling
    protocol. Returns an :class:`~fastnax.arch.Architecture`.
    """
    import dataclasses

    from fastnax.arch import Architecture

    if isinstance(arch, str):
        arch = Architecture.from_string(arch)
    opts = arch.option_dict
    if "input_size" not in opts:
        raise BoundsError(f"the {arch.space} space has no input_size option to change")
    if int(size) == int(opts["input_size"]):
        return arch
    return dataclasses.replace(arch, options=tuple({**opts, "input_size": int(size)}.items()))


def train_candidate(arch: str, data, epochs: int, seed: int, index: int, noise_trials: int = 2,
                    batch_size: int = 64, lr: float = 0.05, threads: int | None = None,
                    device=None, preset=None, nonideality=None) -> dict:
    """Train one candidate and measure it; returns the record fields (without space/dataset).

    Parameters
    ----------
    arch : str
        Canonical architecture string.
    data : ImageDataset
        When its ``input_size`` differs from the architecture's, the network is built for the
        data's size (:func:`at_input_size`; the record keeps ``arch``).
    epochs : int
    seed, index : int
        Run seed and candidate index; the candidate trains with ``candidate_seed(seed, index)``
        (initial weights, shuffling, augmentation, evaluation noise).
    noise_trials : int
        Noise draws for ``accuracy_noisy`` (mean over draws).
    threads : int, optional
        torch intra-op threads for this training (restored afterwards).
    preset, nonideality : optional
        Hardware preset (default ``puma-32nm``) and non-ideality configuration (default the
        preset's own) the chips of ``accuracy_noisy`` are simulated with.

    Returns
    -------
    dict
        ``arch``, ``epochs``, ``seed``, ``accuracy_clean``, ``accuracy_noisy``, ``train_seconds``.
    """
    import torch

    from fastnax.arch import Architecture
    from fastnax.train.loop import TrainConfig, evaluate, train_model
    from fastnax.train.model import build_model

    cseed = candidate_seed(seed, index)
    saved_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cseed)
            built = Architecture.from_string(arch)
            if "input_size" in built.option_dict and built.option_dict["input_size"] != data.input_size:
                built = at_input_size(built, data.input_size)
            model = build_model(built, preset=preset, nonideality=nonideality)
        cfg = TrainConfig(epochs=int(epochs), batch_size=int(batch_size), lr=float(lr))
        result = train_model(model, data, cfg, seed=cseed, device=device)
        # evaluate re-estimates the batch-norm statistics (a few dozen steps leave the running
        # averages far from the weights'): clean on training images, then through each chip
        scores = evaluate(model, data, noise_trials=noise_trials, seed=cseed)
    finally:
        torch.set_num_threads(saved_threads)
    noisy = scores["accuracy_noisy_mean"] if noise_trials else None
    return {"arch": arch, "epochs": int(epochs), "seed": int(seed), "index": int(index),
            "accuracy_clean": float(scores["accuracy_clean"]),
            "accuracy_noisy": None if noisy is None else float(noisy),
            "train_seconds": float(result["train_seconds"])}


def _existing(path: Path) -> list:
    """Records already in ``path`` ([] for a missing file or one with no complete record)."""
    from fastnax.datasets.records import read_records

    if not path.exists():
        return []
    text = path.read_bytes()
    complete_lines = text.count(b"\n") - (1 if path.suffix == ".csv" else 0)
    if complete_lines <= 0:
        return []
    return read_records(path)


def _resolve(space, dataset, root, dataset_options):
    from fastnax import spaces
    from fastnax.datasets import ImageDataset, load

    data = dataset if isinstance(dataset, ImageDataset) else load(dataset, root=root,
                                                                   **(dataset_options or {}))
    if isinstance(space, str):
        space = spaces.get(space, **data.space_options)
    opts = getattr(space, "options", {})
    for key, value in data.space_options.items():
        if key in opts and opts[key] != value:
            raise BoundsError(f"the {space.name} space has {key}={opts[key]} but the {data.name} "
                              f"dataset has {key}={value}; build the space with the dataset's options")
    return space, data


def run_sampling(space, dataset, n: int, epochs: int, out_path, seed: int = 0, jobs: int = 1,
                 backend: str = "loky", scheduler: str | None = None, root=None,
                 dataset_options: dict | None = None, noise_trials: int = 2, batch_size: int = 64,
                 lr: float = 0.05, device=None,
                 progress: Callable[[int, int, object], None] | None = None,
                 max_macs: float | str | None = None, downsample: int = 1, preset=None,
                 nonideality=None) -> list:
    """Train ``n`` sampled candidates and append one record per candidate to ``out_path``.

    Parameters
    ----------
    space : str or SearchSpace
        A space name is built with the dataset's options (input size, channels, classes).
    dataset : str or ImageDataset
        Dataset name (loaded with ``root`` and ``dataset_options``) or a loaded dataset.
    n, epochs : int
        Number of candidates (``space.sample(n, seed)``) and training epochs per candidate.
    out_path : path
        Records file (``.jsonl`` or ``.csv``); appended to, never truncated.
    seed : int
        Sampling seed; candidate ``i`` trains with ``candidate_seed(seed, i)``.
    jobs : int
        Candidates trained at once (joblib ``n_jobs``; -1: one per core).
    backend : {'loky', 'threading', 'dask'}
        joblib backend; ``dask`` connects to ``scheduler`` (a dask.distributed address) or, without
        one, starts a local cluster.
    progress : callable(done, total, record), optional
        Called after each record is written (and once with ``record=None`` for skipped ones).
    max_macs : float or "auto", optional
        Sample only networks of at most this many multiply-accumulates per image; ``"auto"``:
        twice the space's ``resnet20`` baseline (no cap when the space has none). Uniform draws of
        the imc macro space are mostly networks far too large to train in a sampling budget.
    downsample : int
        Train and test every candidate on the images at ``1 / downsample`` of their resolution
        (:meth:`~fastnax.datasets.images.ImageDataset.downsample`), each network built for that
        size (:func:`at_input_size`); candidates are still drawn from the full-size space and
        recorded under their full-size string. 1: full resolution.
    preset, nonideality : optional
        The hardware preset and non-ideality configuration of ``accuracy_noisy``
        (:func:`train_candidate`; default ``puma-32nm`` and its own). Each record names the
        resulting hardware model (``Record.hardware``, e.g. ``puma-32nm+pcm-aihwkit``); a record
        of the file measured on other chips is not resumed from.

    Returns
    -------
    list of Record
        The records of this run's candidates (resumed ones included), in candidate order.
    """
    from fastnax import __version__
    from fastnax.datasets.records import Record, append_record

    if backend not in BACKENDS:
        raise unknown("backend", backend, BACKENDS)
    if int(n) < 0 or int(epochs) < 0:
        raise BoundsError(f"n and epochs must be >= 0, got n={n}, epochs={epochs}")
    if int(jobs) == 0 or int(jobs) < -1:
        raise BoundsError(f"jobs must be a positive number or -1 (all cores), got {jobs}")
    if scheduler and backend != "dask":
        raise BoundsError("a scheduler address needs --backend dask")
    from fastnax import hwmodel

    # the chips of accuracy_noisy, resolved (and a bad name refused) before anything trains
    hardware = hwmodel.chips_name(hwmodel.with_nonideality(preset if preset is not None else "puma-32nm",
                                                           nonideality))
    space, data = _resolve(space, dataset, root, dataset_options)
    data = data.downsample(int(downsample))
    out_path = Path(out_path)
    archs = [str(a) for a in space.sample(int(n), seed, max_macs=resolve_max_macs(space, max_macs))]

    def key(arch: str):
        return (arch, space.name, data.name, int(epochs), int(seed), hardware)

    done = {}
    for record in _existing(out_path):
        # a record measured on other chips is another measurement: not this run's
        k = (record.arch, record.space, record.dataset, record.epochs, record.seed, record.chips)
        done.setdefault(k, record)
    results = {i: done[key(a)] for i, a in enumerate(archs) if key(a) in done}
    # a candidate drawn twice trains once
    pending, seen = [], set(done)
    for i, a in enumerate(archs):
        if key(a) not in seen:
            seen.add(key(a))
            pending.append((i, a))
    total = len(archs)
    if progress is not None and results:
        progress(len(results), total, None)

    def write(fields: dict):
        record = Record(arch=fields["arch"], space=space.name, dataset=data.name,
                        epochs=fields["epochs"], seed=fields["seed"],
                        accuracy_clean=fields["accuracy_clean"], accuracy_noisy=fields["accuracy_noisy"],
                        train_seconds=fields["train_seconds"], fastnax_version=__version__,
                        hardware=hardware)
        append_record(out_path, record)
        for i, a in enumerate(archs):
            if a == record.arch:
                results[i] = record
        if progress is not None:
            progress(len(results), total, record)

    common = dict(epochs=int(epochs), seed=int(seed), noise_trials=int(noise_trials),
                  batch_size=int(batch_size), lr=float(lr), device=device, preset=preset,
                  nonideality=nonideality)
    if not pending:
        pass
    elif int(jobs) == 1 and backend != "dask":
        for i, a in pending:
            write(train_candidate(a, data, index=i, **common))
    else:
        from joblib import Parallel, delayed, parallel_config

        n_workers = (os.cpu_count() or 1) if int(jobs) == -1 else int(jobs)
        threads = max(1, (os.cpu_count() or 1) // max(n_workers, 1)) if backend != "dask" else None
        tasks = (delayed(train_candidate)(a, data, index=i, threads=threads, **common) for i, a in pending)
        if backend == "dask":
            client = _dask_client(scheduler)
            try:
                with parallel_config(backend="dask"):
                    for fields in Parallel(n_jobs=int(jobs), return_as="generator_unordered")(tasks):
                        write(fields)
            finally:
                if client is not None:
                    client.close()
        else:
            for fields in Parallel(n_jobs=int(jobs), backend=backend,
                                   return_as="generator_unordered")(tasks):
                write(fields)
    return [results[i] for i in sorted(results)]


def resolve_max_macs(space, max_macs):
    """The MACs cap of a sampling run (``"auto"``: twice the space's resnet20 baseline)."""
    if max_macs is None:
        return None
    if isinstance(max_macs, str):
        if max_macs != "auto":
            try:
                max_macs = float(max_macs)
            except ValueError:
                raise BoundsError(f"max_macs must be a positive number or 'auto', got {max_macs!r}") from None
        elif "resnet20" in space.baselines():
            return 2.0 * float(space.baseline("resnet20").macs)
        else:
            return None
    if not float(max_macs) > 0:
        raise BoundsError(f"max_macs must be a positive number or 'auto', got {max_macs!r}")
    return float(max_macs)


def _dask_client(scheduler: str | None):
    try:
        from dask.distributed import Client
    except ImportError:
        raise BoundsError("--backend dask needs dask.distributed: pip install 'fastnax[dask]'") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s")
        except OSError as exc:
            raise BoundsError(f"cannot reach the dask scheduler at {scheduler!r}: {exc}") from None
    return Client(processes=False)


def summarize(records) -> dict:
    """Counts and accuracy spread of a list of records (for the command's report)."""
    acc = np.asarray([r.accuracy_clean for r in records], dtype=float)
    noisy = np.asarray([r.accuracy_noisy for r in records if r.accuracy_noisy is not None], dtype=float)
    out = {"records": len(records),
           "accuracy_clean_min": float(acc.min()) if len(acc) else None,
           "accuracy_clean_median": float(np.median(acc)) if len(acc) else None,
           "accuracy_clean_max": float(acc.max()) if len(acc) else None,
           "accuracy_noisy_median": float(np.median(noisy)) if len(noisy) else None,
           "train_seconds_total": float(sum(r.train_seconds for r in records))}
    return out
