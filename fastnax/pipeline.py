"""The whole fastnax pipeline, end to end: sample-train, fit, search, train the finalists, report.

``fastnax run`` with no arguments runs it on the embedded default (scikit-learn's 8×8 digits and the
``imc`` space sized for them) in a few minutes on a laptop CPU:

1. train ``n`` sampled candidates for a few epochs each (the records the predictor learns from);
2. fit the XGBoost predictor of the accuracy under non-idealities on those records, together with
   the records packaged with fastnax when they were made for the same space and dataset (more
   data is the cheapest predictor improvement; ``use_packaged_records=False`` fits on the new
   records alone); the cross-validated quality is reported;
3. search the co-design space with it: the design must keep the predicted accuracy of the
   reference baseline (``resnet20``) within ``accuracy_margin`` points, at the lowest cost;
4. noise-aware-train ``finalists`` designs of the front (the objective's best and points spread
   along the feasible front) and the baseline, the same way, on the training images less a 20 %
   validation part; choose the cheapest finalist within ``accuracy_margin`` points of the baseline
   on that validation part (accuracy under non-idealities), so the choice never sees the test split;
5. report accuracy (test split, clean and under non-idealities), energy, latency, area and EDAP.

Every artifact lands in ``out`` when one is given (records, predictor, search result and PNG,
trained weights, report) and is written atomically; a killed run restarted with the same
arguments resumes the sampling where it stopped.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastnax.errors import BoundsError, FastnaxError
from fastnax.finalists import feasible_points, pick_finalists  # noqa: F401 (pick_finalists: public here too)

log = logging.getLogger(__name__)


@dataclass
class PipelineConfig:
    """Settings of :func:`run_pipeline` (defaults: the embedded digits run, under 5 minutes)."""

    dataset: str = "digits"
    root: str | None = None
    space: str = "imc"
    objective: str = "acc-edap"
    preset: str = "puma-32nm"
    nonideality: str | None = None
    n: int = 25
    sample_epochs: int | None = None
    final_epochs: int | None = None
    max_train: int | None = None
    max_test: int | None = None
    finalists: int = 3
    use_packaged_records: bool = True
    baseline: str = "resnet20"
    accuracy_margin: float = 1.0
    noise_trials: int = 5
    seed: int = 0
    jobs: int = 2
    out: str | None = None

    def resolved(self) -> "PipelineConfig":
        """A copy with every ``None`` default made concrete for the dataset (:data:`RUN_DEFAULTS`):
        ``sample_epochs`` from the packaged records' protocol, so the run's records can be fitted
        together with them; ``final_epochs``, ``max_train`` and ``max_test`` of the final trainings
        (CIFAR-10 on a CPU: 4 epochs on 5,000 training images, tested on 2,000)."""
        import dataclasses

        from fastnax.train.sample import PACKAGED_PROTOCOLS

        base = {**RUN_DEFAULTS["*"], **RUN_DEFAULTS.get(self.dataset, {})}
        protocol = PACKAGED_PROTOCOLS.get(self.dataset)
        if protocol is not None:
            base["sample_epochs"] = protocol["epochs"]
        return dataclasses.replace(self, **{k: v for k, v in base.items() if getattr(self, k) is None})

    def check(self) -> None:
        for name in ("n", "sample_epochs", "final_epochs", "finalists", "noise_trials", "jobs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "noise_trials" else 1):
                raise BoundsError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_train", "max_test"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise BoundsError(f"{name} must be a number of images >= 0 (0: all), got {value!r}")
        if self.n < 5:
            raise BoundsError(f"n must be at least 5 records to fit a predictor, got {self.n}")
        if not (self.accuracy_margin >= 0):
            raise BoundsError(f"accuracy_margin must be >= 0 points, got {self.accuracy_margin!r}")
        # names are checked before any training starts, so a typo fails in a second, not minutes
        from fastnax import hwmodel, spaces
        from fastnax.datasets import DATASETS
        from fastnax.errors import unknown
        from fastnax.search import OBJECTIVES

        if self.objective not in OBJECTIVES:
            raise unknown("objective", self.objective, OBJECTIVES)
        hwmodel.with_nonideality(self.preset, self.nonideality)
        if self.space not in spaces.names():
            raise unknown("space", self.space, spaces.names())
        if self.dataset not in DATASETS:
            raise unknown("dataset", self.dataset, DATASETS)


#: Defaults of :class:`PipelineConfig` fields left ``None``, by dataset ("*": every dataset).
RUN_DEFAULTS = {
    "*": {"sample_epochs": 5, "final_epochs": 20, "max_train": 0, "max_test": 0},
    "cifar10": {"final_epochs": 4, "max_train": 5000, "max_test": 2000},
}


@dataclass
class PipelineReport:
    config: dict
    records: int
    predictor_quality: dict
    search: dict
    designs: list[dict] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"config": self.config, "records": self.records,
                "predictor_quality": self.predictor_quality, "search": self.search,
                "designs": self.designs, "timings": self.timings, "artifacts": self.artifacts}

    def table(self) -> str:
        lines = [f"{'design':<12} {'predicted':>17} {'acc clean':>9} {'acc noisy':>14} {'energy uJ':>10} "
                 f"{'latency us':>11} {'area mm2':>9} {'EDAP':>10}  architecture"]
        for d in self.designs:
            noisy = "-" if d["accuracy_noisy"] is None else f"{d['accuracy_noisy']:.2f}±{d['accuracy_noisy_std']:.2f}"
            role = d["role"] + ("*" if d.get("chosen") else "")
            lines.append(f"{role:<12} {_predicted_text(d):>17} {d['accuracy_clean']:>9.2f} {noisy:>14} "
                         f"{d['energy_pj'] / 1e6:>10.3f} {d['latency_ns'] / 1e3:>11.1f} {d['area_mm2']:>9.3f} "
                         f"{d['edap']:>10.3e}  {d['arch']}")
        lines.append("predicted: the accuracy the search scored (its 80 % interval), on the records' protocol; "
                     "= a record's measurement, ? outside the records' support")
        return "\n".join(lines)


def _predicted_text(d: dict) -> str:
    """The search's value for a design: ``96.59 (82-100)``, ``97.54=`` for a record's measurement."""
    value = d.get("accuracy_predicted")
    if value is None:
        return "-"
    if d.get("predicted_is_measured"):
        return f"{value:.2f}="
    lower, upper = d.get("accuracy_predicted_lower"), d.get("accuracy_predicted_upper")
    mark = "" if d.get("in_support", True) else "?"
    if lower is None or upper is None:
        return f"{value:.2f}{mark}"
    return f"{value:.2f} ({lower:.0f}-{upper:.0f}){mark}"


def _progress(msg: str) -> None:
    sys.stderr.write(f"[run] {msg}\n")
    sys.stderr.flush()


def validation_split(data, fraction: float = 0.2, seed: int = 0):
    """(fit, val): the training images split in two; ``val`` holds the held-out part as its test
    split, so finalists are chosen on images that neither trained them nor score the final report."""
    from fastnax.datasets import ImageDataset

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.y_train))
    n_val = max(1, int(round(fraction * len(order))))
    val_rows, fit_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    shape = dict(num_classes=data.num_classes, in_channels=data.in_channels, input_size=data.input_size)
    fit = ImageDataset(data.name, data.x_train[fit_rows], data.y_train[fit_rows], data.x_test,
                       data.y_test, **shape)
    val = ImageDataset(data.name, data.x_train[fit_rows], data.y_train[fit_rows],
                       data.x_train[val_rows], data.y_train[val_rows], **shape)
    return fit, val


def train_final(arch, data, epochs: int, seed: int, preset: str, noise_trials: int,
                noise_aware: bool = True, weights_path: Path | None = None, val_data=None,
                nonideality=None) -> dict:
    """Noise-aware training of one final architecture; returns accuracies (test split, and the
    validation split of ``val_data`` when given) and the hardware cost, under ``preset`` and
    ``nonideality`` (default: the preset's own). ``arch``: an Architecture or its string."""
    import torch

    from fastnax.arch import Architecture

    if isinstance(arch, str):
        arch = Architecture.from_string(arch)

    from fastnax.train.loop import TrainConfig, evaluate, train_model
    from fastnax.train.model import build_model, hardware_cost

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(arch, preset=preset, nonideality=nonideality)
    cfg = TrainConfig(epochs=epochs, noise_aware=noise_aware)
    result = train_model(model, data, cfg, seed=seed)
    scores = evaluate(model, data, noise_trials=noise_trials, seed=seed)
    cost = hardware_cost(arch, preset, nonideality)
    if weights_path is not None:
        from fastnax.io import atomic_torch_save

        atomic_torch_save(model.state_dict(), weights_path)
    noisy = scores["accuracy_noisy_mean"] if noise_trials else None
    row = {"arch": str(arch), "params": arch.params, "accuracy_clean": scores["accuracy_clean"],
           "accuracy_noisy": noisy, "accuracy_noisy_std": scores["accuracy_noisy_std"] if noise_trials else None,
           "train_seconds": round(result["train_seconds"], 3),
           **{k: cost[k] for k in ("energy_pj", "latency_ns", "area_mm2", "edap")}}
    if val_data is not None:
        val = evaluate(model, val_data, noise_trials=noise_trials, seed=seed)
        row["val_accuracy_clean"] = val["accuracy_clean"]
        row["val_accuracy_noisy"] = val["accuracy_noisy_mean"] if noise_trials else val["accuracy_clean"]
    return row


#: Records shipped with fastnax, by dataset (those of the packaged predictors).
PACKAGED_RECORD_FILES = {name: Path(__file__).resolve().parent / "data" / f"{name}_imc_records.jsonl"
                         for name in ("digits", "cifar10")}
PACKAGED_RECORDS = PACKAGED_RECORD_FILES["digits"]


def packaged_records(space, dataset: str, epochs: int | None = None, chips: str | None = None) -> list:
    """The records shipped with fastnax for this space (same name and options) and dataset (and
    ``epochs`` when given: records of another training budget measure something else; ``chips``,
    ``PRESET+NONIDEALITY``, when given: an accuracy on other chips is another quantity)."""
    from fastnax.datasets.records import read_records

    path = PACKAGED_RECORD_FILES.get(dataset)
    if path is None or not path.exists():
        return []
    from fastnax.arch import Architecture

    own = dict(space.options)
    out = []
    for record in read_records(path):
        if record.space != space.name or record.dataset != dataset or record.accuracy_noisy is None:
            continue
        if epochs is not None and record.epochs != int(epochs):
            continue
        if chips is not None and record.chips != chips:
            continue
        if Architecture.from_string(record.arch).option_dict == own:
            out.append(record)
    return out


def run_pipeline(config: PipelineConfig | None = None, progress=_progress) -> PipelineReport:
    """Run the whole pipeline (see the module docstring)."""
    from fastnax import hwmodel, search, spaces
    from fastnax.datasets import load
    from fastnax.datasets.records import read_records
    from fastnax.predictors import XGBPredictor
    from fastnax.train.sample import run_sampling

    from fastnax.train.sample import PACKAGED_PROTOCOLS

    cfg = (config or PipelineConfig()).resolved()
    cfg.check()
    t0 = time.perf_counter()
    timings = {}
    out = Path(cfg.out) if cfg.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        work = out
    else:
        tmp = tempfile.TemporaryDirectory(prefix="fastnax-run-")
        work = Path(tmp.name)
    full = load(cfg.dataset, root=cfg.root, seed=cfg.seed)
    space = spaces.get(cfg.space, **full.space_options)
    # the final trainings' images (CIFAR-10 on a CPU: a seeded subset) ...
    data = full.subset(cfg.max_train or None, cfg.max_test or None, seed=cfg.seed) \
        if (cfg.max_train or cfg.max_test) else full
    # ... and the sampling's: the packaged records' protocol when the run samples with its budget
    protocol = PACKAGED_PROTOCOLS.get(data.name)
    nonideality = cfg.nonideality
    if nonideality is None and isinstance(cfg.preset, str) and cfg.use_packaged_records:
        # the packaged records' chips when they were all measured on this preset under another
        # named non-ideality (e.g. records measured before 2026-12: rram-fastnax-default), so that the run can fit on them
        nonideality = hwmodel.measured_nonideality({r.chips for r in packaged_records(space, data.name)},
                                                   cfg.preset)
        if nonideality is not None:
            progress(f"chips: {cfg.preset}+{nonideality}, the packaged {data.name} records' non-ideality "
                     f"(--nonideality NAME for others)")
    hw = hwmodel.with_nonideality(cfg.preset, nonideality)
    # packaged records are used only where they were measured on this run's chips
    chips_name = hwmodel.chips_name(hw)
    same_protocol = protocol is not None and cfg.sample_epochs == protocol["epochs"]
    sample_data, batch_size, lr, downsample, chips = data, 32, 0.05, 1, 1
    if same_protocol:
        batch_size, lr, downsample = protocol["batch_size"], protocol["lr"], protocol["downsample"]
        chips = protocol["noise_trials"]  # the packaged records' chips per record
    if same_protocol and (protocol["max_train"] or protocol["max_test"]):  # downsample: run_sampling's
        sample_data = load(cfg.dataset, root=cfg.root, max_train=protocol["max_train"],
                           max_test=protocol["max_test"])
    if cfg.baseline not in space.baselines():
        raise BoundsError(f"baseline {cfg.baseline!r} is not in the {space.name} space; valid: "
                          f"{', '.join(space.baselines())}")

    # 1. sample-train
    records_path = work / "records.jsonl"
    progress(f"sample-training {cfg.n} candidates of the {space.name} space on {data.name} "
             f"({cfg.sample_epochs} epochs each) -> {records_path}")
    t = time.perf_counter()
    run_sampling(space, sample_data, cfg.n, cfg.sample_epochs, records_path, seed=cfg.seed, jobs=cfg.jobs,
                 max_macs="auto", batch_size=batch_size, lr=lr, noise_trials=chips, downsample=downsample,
                 preset=cfg.preset, nonideality=nonideality,
                 progress=lambda done, total, rec: progress(
                     f"  {done}/{total} " + ("(resumed)" if rec is None else
                                              f"{rec.accuracy_clean:.1f}% in {rec.train_seconds:.1f}s")))
    records = [r for r in read_records(records_path)
               if r.space == space.name and r.dataset == data.name and r.epochs == cfg.sample_epochs
               and r.seed == cfg.seed]
    timings["sample_s"] = time.perf_counter() - t

    # 2. fit (on the accuracy under non-idealities: bit widths and ADC precision matter there)
    t = time.perf_counter()
    fit_records = list(records)
    packaged = []
    if cfg.use_packaged_records and same_protocol:
        packaged = packaged_records(space, data.name, epochs=cfg.sample_epochs, chips=chips_name)
    if cfg.use_packaged_records and not packaged and packaged_records(space, data.name):
        measured = sorted({r.chips for r in packaged_records(space, data.name)})
        why = (f"they were trained {protocol['epochs']} epoch(s) each, this run samples {cfg.sample_epochs}"
               if not same_protocol else f"they were measured on {', '.join(measured)} chips, not {chips_name}")
        progress(f"packaged {data.name} records not used: {why}")
    fit_records += packaged
    # the feature set of the dataset's packaged predictor (CIFAR-10's reads the hardware features)
    hardware = _packaged_reads_hardware(data.name)
    predictor = XGBPredictor(random_state=cfg.seed).fit_records(fit_records, target="accuracy_noisy",
                                                                hardware=hardware)
    quality = dict(getattr(predictor, "cv_metrics_", {}) or {})
    predictor_path = work / "predictor.json"
    if out is not None:
        predictor.save(predictor_path)
    timings["fit_s"] = time.perf_counter() - t
    progress(f"predictor fitted on {len(records)} new + {len(packaged)} packaged records; cross-validated "
             + ", ".join(f"{k} {v:.3f}" for k, v in quality.items() if isinstance(v, float)))

    # 3. search: keep the baseline's predicted accuracy (within the margin) at the lowest cost
    t = time.perf_counter()
    baseline_arch = space.baseline(cfg.baseline)

    def as_searched(archs) -> list[dict]:
        """What the search scores and prints for architectures (a record's measurement for one
        that is a record: the baseline usually is)."""
        return search.predict(archs, predictor, preset=hw)["predictions"]

    baseline_scored = as_searched([baseline_arch])[0]
    predicted_baseline = baseline_scored["accuracy"]
    min_accuracy = predicted_baseline - cfg.accuracy_margin
    result = search.run(space, objective=cfg.objective, predictor=predictor, preset=hw,
                        seed=cfg.seed, min_accuracy=min_accuracy)
    timings["search_s"] = time.perf_counter() - t
    if out is not None:
        result.to_json(out / "result.json")
        try:
            result.plot(out / "front.png")
        except Exception as exc:  # a plot must never lose the run's results
            log.warning("front plot failed: %s", exc)
    if result.best is None:
        raise BoundsError(f"no design in the {space.name} space reaches the predicted accuracy "
                          f"{min_accuracy:.2f}% (baseline {predicted_baseline:.2f}% minus "
                          f"{cfg.accuracy_margin}); lower the margin or raise n")
    progress(f"search: {result.n_evaluations} candidates priced in {timings['search_s']:.2f}s; best "
             f"predicted {result.best['accuracy']:.2f}% at EDAP {result.best['edap']:.3e}")
    finalists = pick_finalists(result.front, result.best, min_accuracy, cfg.finalists,
                               others=feasible_points(result, space))

    # 4. train finalists and the baseline the same way, on the training images less a validation
    # part; the design is chosen on the validation part, the report is on the test split
    t = time.perf_counter()
    designs = []
    from fastnax.arch import Architecture

    fit_data, val_data = validation_split(data, 0.2, cfg.seed)
    to_train = [(f"finalist-{i + 1}", Architecture.from_string(a)) for i, a in enumerate(finalists)]
    to_train.append((cfg.baseline, baseline_arch))
    # the value the search printed beside each design, and its interval: one pricing for all
    searched = as_searched([a for _, a in to_train[:-1]]) + [baseline_scored]
    for (role, arch), scored in zip(to_train, searched):
        progress(f"noise-aware training of {role} ({arch.params:,} weights, {cfg.final_epochs} epochs)")
        weights = out / f"weights-{role}.pt" if out is not None else None
        row = train_final(arch, fit_data, cfg.final_epochs, cfg.seed, cfg.preset, cfg.noise_trials,
                          nonideality=nonideality,
                          weights_path=weights, val_data=val_data)
        row["role"] = role
        row.update(accuracy_predicted=scored["accuracy"], accuracy_predicted_mean=scored["mean"],
                   accuracy_predicted_lower=scored["lower"], accuracy_predicted_upper=scored["upper"],
                   in_support=scored["in_support"], predicted_is_measured=scored["measured"])
        designs.append(row)
        progress(f"  {role}: validation {row['val_accuracy_noisy']:.2f}% under non-idealities; test clean "
                 f"{row['accuracy_clean']:.2f}%, under non-idealities "
                 f"{row['accuracy_noisy'] if row['accuracy_noisy'] is not None else float('nan'):.2f}%")
    timings["train_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    base = designs[-1]
    # the cheapest finalist within accuracy_margin of the baseline on validation, else the most
    # accurate one; never chosen on the test split
    close = [d for d in designs[:-1] if d["val_accuracy_noisy"] >= base["val_accuracy_noisy"] - cfg.accuracy_margin]
    best = (min(close, key=lambda d: d["edap"]) if close
            else max(designs[:-1], key=lambda d: d["val_accuracy_noisy"]))
    best["chosen"] = True
    cheaper = [d for d in close if d["edap"] < base["edap"]]
    if not close:
        verdict = (f"no finalist came within {cfg.accuracy_margin} point(s) of {cfg.baseline} on validation; "
                   f"the most accurate is reported")
    elif not cheaper:
        verdict = (f"no finalist within {cfg.accuracy_margin} point(s) of {cfg.baseline} on validation has a lower "
                   f"EDAP than it: the co-design found nothing cheaper at its accuracy")
    else:
        verdict = f"a finalist within {cfg.accuracy_margin} point(s) of {cfg.baseline} at a lower EDAP"
    comparison = {
        "chosen": best["role"],
        "verdict": verdict,
        "cheaper_than_baseline": bool(best["edap"] < base["edap"]),
        "rule": f"cheapest finalist within {cfg.accuracy_margin} point(s) of {cfg.baseline} on validation "
                f"(accuracy under non-idealities), else the most accurate",
        "accuracy_noisy_delta": (None if best["accuracy_noisy"] is None or base["accuracy_noisy"] is None
                                 else best["accuracy_noisy"] - base["accuracy_noisy"]),
        "accuracy_clean_delta": best["accuracy_clean"] - base["accuracy_clean"],
        "edap_ratio": best["edap"] / base["edap"],
        "energy_ratio": best["energy_pj"] / base["energy_pj"],
        "latency_ratio": best["latency_ns"] / base["latency_ns"],
        "area_ratio": best["area_mm2"] / base["area_mm2"],
    }
    artifacts = {}
    if out is not None:
        artifacts = {"records": str(records_path), "predictor": str(predictor_path),
                     "result": str(out / "result.json"), "front_png": str(out / "front.png"),
                     "weights": [str(out / f"weights-{d['role']}.pt") for d in designs],
                     "report": str(out / "report.json")}
    report = PipelineReport(
        config={k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        records=len(records), predictor_quality={**quality, "new_records": len(records),
                                                 "packaged_records": len(packaged),
                                                 "target": "accuracy_noisy"},
        search={"chips": chips_name, "best": result.best, "front_size": len(result.front),
                "n_evaluations": result.n_evaluations,
                "min_accuracy": min_accuracy, "baseline_predicted_accuracy": predicted_baseline,
                "baseline_predicted_is_measured": baseline_scored["measured"],
                "accuracy_model": result.accuracy_model, "comparison_with_baseline": comparison},
        designs=designs, timings={k: round(v, 3) for k, v in timings.items()}, artifacts=artifacts)
    if out is not None:
        from fastnax.io import atomic_write_json, atomic_write_text

        atomic_write_json(out / "report.json", report.to_dict())
        atomic_write_text(out / "report.txt", report.table() + "\n")
    else:
        tmp.cleanup()
    return report


def _packaged_reads_hardware(dataset: str) -> bool:
    """Whether the packaged predictor of ``dataset`` reads the hardware model's noise figures
    (:mod:`fastnax.predictors.hardware_features`): a run's refit then does too."""
    from fastnax.predictors.files import read_predictor_file
    from fastnax.search.accuracy import PACKAGED_PREDICTORS

    path = PACKAGED_PREDICTORS.get(dataset)
    if path is None or not path.exists():
        return False
    try:
        return read_predictor_file(path).hardware_chips is not None
    except FastnaxError:
        return False
