"""The one reader of predictor files: every loader of a saved predictor goes through here.

A predictor on disk is XGBoost's own JSON model (``PATH``) and a JSON sidecar (``PATH`` with
``.meta.json``, see ``XGBPredictor.save``). :func:`read_predictor_file` parses both as JSON only
(a pickle or archive payload is refused, never unpickled) and checks, in this order: the sidecar's
``format`` and ``format_version``; that ``model_file`` is a plain name beside the sidecar; the
model's sha256 against the sidecar's; the feature set (``fastnax.graph`` names equal to this
fastnax's, or a plain ``matrix``); ``n_features`` against the names and against the model's own
``num_feature``. :meth:`PredictorFile.check_for` then says whether the predictor may score a
search of a given space (its sidecar must name that space, its options and the dataset).

Both ``XGBPredictor.load`` and the search's accuracy models (``fastnax.search.accuracy``) call
these functions, so a file is accepted or refused alike wherever it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from fastnax.errors import PredictorFileError
from fastnax.predictors.hardware_features import KIND as HARDWARE_KIND

FORMAT = "fastnax-predictor"
FORMAT_VERSION = 1
TARGETS = ("accuracy_clean", "accuracy_noisy")


def sidecar_path(path: str | os.PathLike) -> Path:
    """The sidecar of a model path: ``model.json`` -> ``model.meta.json``."""
    path = Path(path)
    name = path.name[:-len(".json")] if path.name.endswith(".json") else path.name
    return path.with_name(name + ".meta.json")


def feature_set_id(names: list[str]) -> str:
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PredictorFile:
    """A checked predictor file: its sidecar (``meta``), model path and model bytes."""

    meta: dict
    meta_file: Path
    model_file: Path
    model_bytes: bytes
    model_json: dict

    @property
    def n_features(self) -> int:
        return int((self.meta.get("feature_set") or {}).get("n_features") or 0)

    @property
    def feature_names(self) -> list[str] | None:
        return (self.meta.get("feature_set") or {}).get("names")

    @property
    def target(self) -> str | None:
        return self.meta.get("target")

    @property
    def hardware_chips(self) -> str | None:
        """The chips of the hardware features the model reads (feature set
        ``fastnax.graph+hardware``), else None."""
        return (self.meta.get("feature_set") or {}).get("chips")

    def info(self) -> dict:
        """What the sidecar says about the fit (space, options, dataset, records, target)."""
        return {k: self.meta.get(k) for k in ("space", "space_options", "dataset", "records", "target")
                if self.meta.get(k) is not None}

    def check_for(self, space, dataset: str | None = None) -> None:
        """Raise :class:`PredictorFileError` unless the predictor was fitted for ``space``.

        The sidecar must name the space (``space: null`` is refused: a predictor that does not
        say what it was fitted on cannot score a search), options equal to the space's where
        both give one, and ``dataset`` when the caller gives one.
        """
        name = self.meta.get("space")
        where = str(self.model_file)
        if name is None:
            raise PredictorFileError(f"predictor {where!r} cannot score this search: its sidecar does not "
                                     f"say which space it was fitted on (space: null); refit it with "
                                     f"'fastnax fit' on records")
        own = getattr(space, "name", None)
        # a space that decodes to another space's architectures (nax -> imc) uses its predictors
        if name not in (own, getattr(space, "architectures_of", own)):
            raise PredictorFileError(f"predictor {where!r} cannot score this search: fitted on the "
                                     f"{name!r} space, not {own!r}")
        options = self.meta.get("space_options")
        if isinstance(options, dict) and options:
            mine = dict(getattr(space, "options", {}))
            differ = {k: v for k, v in options.items() if k in mine and mine[k] != v}
            if differ:
                raise PredictorFileError(f"predictor {where!r} cannot score this search: fitted for "
                                         f"space options {options}, not {mine}")
        fitted_on = self.meta.get("dataset")
        if dataset is not None and fitted_on is not None and not same_dataset(fitted_on, dataset):
            raise PredictorFileError(f"predictor {where!r} cannot score this search: fitted on dataset "
                                     f"{fitted_on!r}, not {dataset!r}")


def read_predictor_file(path: str | os.PathLike) -> PredictorFile:
    """Read and check a predictor saved by ``XGBPredictor.save`` (the model path or its sidecar).

    Raises
    ------
    PredictorFileError
        Missing files; a file that is not JSON (pickle payloads are refused, never unpickled);
        a sidecar of another format or format version; a ``model_file`` outside the sidecar's
        folder; a model whose sha256 differs from the sidecar's; another feature set; an
        ``n_features`` that disagrees with the feature names or with the model.
    """
    from fastnax import graph

    path = Path(path)
    if path.name.endswith(".meta.json"):
        meta_file, model_file = path, None
    else:
        meta_file, model_file = sidecar_path(path), path
    meta = read_json(meta_file, "predictor sidecar")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        hint = ""
        if found == "fastnax-multifidelity-predictor":
            hint = (f": it is a {found!r} file (fastnax fit --method multifidelity; load it with "
                    f"fastnax.predictors.MultiFidelityPredictor.load); a search reads files of fastnax fit "
                    f"--method xgb or prior-residual")
        raise PredictorFileError(f"{meta_file}: not a fastnax predictor sidecar (format {FORMAT!r} "
                                 f"expected){hint}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise PredictorFileError(f"{meta_file}: format version {meta.get('format_version')!r}; this "
                                 f"fastnax reads version {FORMAT_VERSION}")
    if model_file is None:
        model_file = model_path_beside(meta_file, meta.get("model_file"))
    try:
        raw = model_file.read_bytes()
    except OSError:
        raise PredictorFileError(f"predictor model {str(model_file)!r} is missing") from None
    if hashlib.sha256(raw).hexdigest() != meta.get("model_sha256"):
        raise PredictorFileError(f"{model_file}: sha256 differs from the sidecar's; the model was "
                                 f"changed or belongs to another sidecar")
    model_json = parse_json_bytes(raw, model_file, "XGBoost JSON model")
    fs = meta.get("feature_set") or {}
    names = fs.get("names")
    if fs.get("kind") == "fastnax.graph":
        expected = graph.feature_names()
        if names != expected:
            raise PredictorFileError(
                f"{meta_file}: fitted on feature set {fs.get('id')!r} ({len(names or [])} features); "
                f"this fastnax computes feature set {feature_set_id(expected)!r} "
                f"({len(expected)} features); refit with 'fastnax fit'")
    elif fs.get("kind") == HARDWARE_KIND:
        from fastnax.predictors.hardware_features import chips_models, feature_names

        expected = feature_names()
        if names != expected:
            raise PredictorFileError(
                f"{meta_file}: fitted on feature set {fs.get('id')!r} ({len(names or [])} features); "
                f"this fastnax computes feature set {feature_set_id(expected)!r} "
                f"({len(expected)} graph and hardware features); refit with 'fastnax fit --hardware-features'")
        chips_models(fs.get("chips"))  # names known chips, or PredictorFileError
    elif fs.get("kind") != "matrix":
        raise PredictorFileError(f"{meta_file}: unknown feature set kind {fs.get('kind')!r}")
    n_features = fs.get("n_features")
    if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
        raise PredictorFileError(f"{meta_file}: n_features must be a positive integer, got {n_features!r}")
    if names is not None and len(names) != n_features:
        raise PredictorFileError(f"{meta_file}: n_features says {n_features}, the feature set names "
                                 f"{len(names)}")
    try:
        in_model = int(model_json["learner"]["learner_model_param"]["num_feature"])
    except (KeyError, TypeError, ValueError):
        in_model = None  # not an XGBoost JSON layout this reader knows; XGBoost itself decides
    if in_model is not None and in_model != n_features:
        raise PredictorFileError(f"{model_file}: model has {in_model} features, the sidecar says {n_features}")
    target = meta.get("target")
    from fastnax.datasets.records import is_accuracy_name

    if target is not None and target not in TARGETS and not is_accuracy_name(target):
        raise PredictorFileError(f"{meta_file}: target {target!r} is not an accuracy name "
                                 f"({', '.join(TARGETS)} or accuracy_<name>)")
    return PredictorFile(meta, meta_file, model_file, raw, model_json if isinstance(model_json, dict) else {})


def model_path_beside(meta_file: Path, name) -> Path:
    """The model file a sidecar names: a plain file name in the sidecar's own folder."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name
            or "\0" in name):
        raise PredictorFileError(f"{meta_file}: model_file {str(name)[:80]!r} is not a plain file "
                                 f"name beside the sidecar; a sidecar never points outside its folder")
    return meta_file.with_name(name)


def read_sidecar(path, fmt: str, version: int, what: str) -> tuple[Path, dict]:
    """(sidecar path, its JSON) of a predictor file of format ``fmt``/``version`` (the model path
    or the sidecar itself); one-line PredictorFileError for anything else."""
    path = Path(path)
    meta_file = path if path.name.endswith(".meta.json") else sidecar_path(path)
    meta = read_json(meta_file, "predictor sidecar")
    if not isinstance(meta, dict) or meta.get("format") != fmt or meta.get("format_version") != version:
        raise PredictorFileError(f"{meta_file}: not a fastnax {what} sidecar (format {fmt!r} version "
                                 f"{version} expected)")
    return meta_file, meta


def read_booster(meta_file: Path, name, sha256, n_features: int):
    """The XGBoost booster a sidecar names beside it: JSON only (pickles refused), the sidecar's
    sha256, and ``n_features`` features."""
    import xgboost

    model_file = model_path_beside(meta_file, name)
    try:
        raw = model_file.read_bytes()
    except OSError:
        raise PredictorFileError(f"predictor model {str(model_file)!r} is missing or unreadable") from None
    parse_json_bytes(raw, model_file, "XGBoost JSON model")
    if hashlib.sha256(raw).hexdigest() != sha256:
        raise PredictorFileError(f"{model_file}: sha256 differs from the sidecar's (the model was changed)")
    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgboost.core.XGBoostError as exc:
        raise PredictorFileError(f"{model_file}: XGBoost cannot read the model ({str(exc).splitlines()[0]})") from None
    if booster.num_features() != n_features:
        raise PredictorFileError(f"{model_file}: model has {booster.num_features()} features, the sidecar "
                                 f"says {n_features}")
    return booster


def write_booster(file: Path, booster) -> dict:
    """Write an XGBoost booster as JSON to ``file``; returns the sidecar's entry for it
    (``{"file": name, "sha256": ...}``, what :func:`read_booster` checks)."""
    from fastnax.io import atomic_write_text

    raw = bytes(booster.save_raw(raw_format="json"))
    atomic_write_text(file, raw.decode("utf-8"))
    return {"file": Path(file).name, "sha256": hashlib.sha256(raw).hexdigest()}


def read_fit_records(records) -> tuple[list, dict]:
    """(Records, info) for a ``fit_records``: ``records`` is a records file (read; ``info`` names
    its path and sha256) or Record objects; ``info["count"]`` is left at 0 for the caller."""
    from fastnax.datasets.records import Record, read_records
    from fastnax.errors import RecordsError

    info = {"path": None, "sha256": None, "count": 0}
    if isinstance(records, (str, os.PathLike)):
        path = Path(records)
        records = read_records(path)
        info.update(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    records = list(records)
    if any(not isinstance(r, Record) for r in records):
        raise RecordsError("fit_records takes Record objects or the path of a records file")
    return records, info


#: Benchmarks whose records name their image dataset ``BENCH-DATASET`` (``nb201-cifar10``,
#: ``analognasbench-cifar10``: :mod:`fastnax.datasets.nb201`, :mod:`fastnax.datasets.analognasbench`).
BENCHMARK_PREFIXES = ("nb201-", "analognasbench-")


def same_dataset(fitted_on: str, dataset: str) -> bool:
    """Whether a predictor fitted on records of ``fitted_on`` scores a search of ``dataset``: the
    same name, or a benchmark's records of that image dataset (``analognasbench-cifar10`` for
    ``cifar10``)."""
    fitted_on = str(fitted_on)
    return fitted_on == dataset or any(fitted_on == p + str(dataset) for p in BENCHMARK_PREFIXES)


def read_json(path: Path, what: str):
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise PredictorFileError(f"{what} {str(path)!r} is missing or unreadable") from None
    return parse_json_bytes(data, path, what)


def parse_json_bytes(data: bytes, path: Path, what: str):
    """JSON of a file's bytes; a pickle or archive payload is refused, never unpickled."""
    if data[:1] == b"\x80" or data[:2] in (b"PK", b"\x1f\x8b"):
        raise PredictorFileError(f"{path}: is a binary (pickle or archive) payload, not a {what}; "
                                 f"fastnax never unpickles predictor files")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PredictorFileError(f"{path}: not a {what} (invalid JSON: {exc})") from None
