"""Untrusted files: loading never executes code, and paths read from files stay in their folder.

A pickle payload (whose ``__reduce__`` runs ``touch MARKER``) is planted under every file name
fastnax reads: predictor model and sidecar, search result, records (.jsonl, .csv), the training
checkpoint, CIFAR batches. Each load must raise a FastnaxError and the marker must not exist.
Names read from files (a sidecar's ``model_file``, Tiny ImageNet's ``wnids.txt`` and
``val_annotations.txt``) must be plain names inside the folder the file describes.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastnax.errors import DatasetError, FastnaxError, PredictorFileError, RecordsError
from test_cli_errors import nb201_records, pickle_payload, run_main, write_jsonl

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory) -> Path:
    """A real fitted predictor (20 trees on 24 nb201 records) saved as p.json + p.meta.json."""
    from fastnax.predictors import XGBPredictor

    d = tmp_path_factory.mktemp("predictor")
    records = write_jsonl(d / "records.jsonl", nb201_records(24))
    XGBPredictor(n_estimators=20, random_state=0).fit_records(records, cv=0).save(d / "p.json")
    return d


@pytest.fixture
def marker(tmp_path) -> Path:
    m = tmp_path / "MARKER"
    yield m
    assert not m.exists(), "a pickle payload was executed"


def test_payload_really_runs_when_unpickled(tmp_path):
    """The planted payload is live: plain ``pickle.loads`` does create the marker."""
    import pickle

    m = tmp_path / "MARKER"
    pickle.loads(pickle_payload(m))
    assert m.exists()


# --- predictor files ---------------------------------------------------------------------------

def _loaders():
    from fastnax.predictors import XGBPredictor
    from fastnax.search.objectives import _load_predictor

    return {"XGBPredictor.load": XGBPredictor.load, "search loader": _load_predictor}


@pytest.mark.parametrize("loader", ["XGBPredictor.load", "search loader"])
def test_pickle_model_with_matching_sidecar_is_refused(predictor_dir, tmp_path, marker, loader):
    """The sidecar's sha256 matches the payload, so only 'never unpickle' stops it."""
    payload = pickle_payload(marker)
    (tmp_path / "p.json").write_bytes(payload)
    meta = json.loads((predictor_dir / "p.meta.json").read_text())
    meta["model_sha256"] = hashlib.sha256(payload).hexdigest()
    (tmp_path / "p.meta.json").write_text(json.dumps(meta))
    with pytest.raises(PredictorFileError):
        _loaders()[loader](tmp_path / "p.json")


@pytest.mark.parametrize("loader", ["XGBPredictor.load", "search loader"])
@pytest.mark.parametrize("entry", ["p.json", "p.meta.json"])
def test_pickle_sidecar_is_refused(predictor_dir, tmp_path, marker, loader, entry):
    shutil.copy(predictor_dir / "p.json", tmp_path / "p.json")
    (tmp_path / "p.meta.json").write_bytes(pickle_payload(marker))
    with pytest.raises(PredictorFileError):
        _loaders()[loader](tmp_path / entry)


def test_good_predictor_loads(predictor_dir):
    """The fixtures are sound: the untouched predictor loads through both loaders."""
    for load in _loaders().values():
        model = load(predictor_dir / "p.json")
        assert model is not None


@pytest.mark.parametrize("model_file", ["../outside/p.json", "/etc/passwd", "..", "sub/p.json", ""])
def test_sidecar_model_file_never_leaves_its_folder(predictor_dir, tmp_path, model_file):
    """A sidecar naming a model outside its folder is refused, even when that model is valid."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(predictor_dir / "p.json", outside / "p.json")  # a valid model, sha matches
    (tmp_path / "sub").mkdir()
    shutil.copy(predictor_dir / "p.json", tmp_path / "sub" / "p.json")
    here = tmp_path / "here"
    here.mkdir()
    meta = json.loads((predictor_dir / "p.meta.json").read_text())
    meta["model_file"] = model_file
    (here / "p.meta.json").write_text(json.dumps(meta))
    from fastnax.predictors import XGBPredictor

    with pytest.raises(PredictorFileError, match="model_file|missing"):
        XGBPredictor.load(here / "p.meta.json")


def test_search_refuses_pickled_predictor_on_cli(predictor_dir, tmp_path, marker, capsys):
    payload = pickle_payload(marker)
    (tmp_path / "p.json").write_bytes(payload)
    meta = json.loads((predictor_dir / "p.meta.json").read_text())
    meta["model_sha256"] = hashlib.sha256(payload).hexdigest()
    (tmp_path / "p.meta.json").write_text(json.dumps(meta))
    code, _, err = run_main(["search", "--space", "nb201", "--method", "random", "--budget", "20",
                             "--predictor", str(tmp_path / "p.json")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- search results -------------------------------------------------------------------------------

def test_pickle_result_is_refused(tmp_path, marker):
    from fastnax.search import SearchResult

    (tmp_path / "result.json").write_bytes(pickle_payload(marker))
    with pytest.raises(FastnaxError):
        SearchResult.from_json(tmp_path / "result.json")


def test_result_round_trip_and_malformed_fields(tmp_path):
    from fastnax import search
    from fastnax.search import SearchResult

    result = search.run("nb201", method="random", budget=50, seed=1)
    path = result.to_json(tmp_path / "result.json")
    assert SearchResult.from_json(path).front == result.front
    data = json.loads(path.read_text())
    data["front"][0]["edap"] = "__import__('os').system('touch X')"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordsError):
        SearchResult.from_json(path)
    data["front"][0]["edap"] = 1.0
    data["front"][0]["arch"] = "nb201:../../etc/passwd"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordsError):
        SearchResult.from_json(path)


# --- records ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["records.jsonl", "records.csv", "records.json"])
def test_pickle_records_are_refused(tmp_path, marker, name, capsys):
    from fastnax.datasets.records import read_records

    path = tmp_path / name
    path.write_bytes(pickle_payload(marker))
    with pytest.raises(RecordsError):
        read_records(path)
    code, _, err = run_main(["fit", str(path), "--out", str(tmp_path / "p.json")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.json").exists()


def test_records_fields_are_data_not_code(tmp_path, marker):
    """An expression in a numeric field is a malformed value, never evaluated."""
    from fastnax.datasets.records import read_records

    rows = nb201_records(3)
    rows[1]["accuracy_clean"] = f"__import__('os').system('touch {marker}')"
    with pytest.raises(RecordsError, match="accuracy_clean"):
        read_records(write_jsonl(tmp_path / "r.jsonl", rows))


# --- datasets, checkpoints -------------------------------------------------------------------------

def test_pickle_cifar_batches_are_refused(tmp_path, marker):
    from fastnax.datasets import load

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle_payload(marker))
    with pytest.raises(DatasetError, match="refusing to unpickle"):
        load("cifar10", root=tmp_path)


def _jpeg(path: Path, value: int = 128) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 64, 3), value, dtype=np.uint8)).save(path, format="JPEG")


def _tiny_imagenet(root: Path, val_name: str, wnid: str = "n01443537") -> Path:
    folder = root / "tiny-imagenet-200"
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text(wnid + "\n")
    _jpeg(folder / "train" / wnid / "images" / "a_0.JPEG")
    _jpeg(folder / "val" / "images" / "val_0.JPEG")
    (folder / "val" / "val_annotations.txt").write_text(f"{val_name}\t{wnid}\t0\t0\t63\t63\n")
    return folder


def test_tinyimagenet_reads_plain_names(tmp_path):
    from fastnax.datasets import load

    _tiny_imagenet(tmp_path, "val_0.JPEG")
    data = load("tinyimagenet", root=tmp_path)
    assert len(data.y_train) == 1 and len(data.y_test) == 1


@pytest.mark.parametrize("val_name", ["../../../outside.JPEG", "/ABS/outside.JPEG", ".."])
def test_tinyimagenet_annotations_never_leave_the_folder(tmp_path, val_name):
    """``val_annotations.txt`` naming an image outside ``val/images`` is refused, even if it exists."""
    from fastnax.datasets import load

    _tiny_imagenet(tmp_path, val_name.replace("/ABS", str(tmp_path)))
    _jpeg(tmp_path / "outside.JPEG")  # exists: only the check stops it
    with pytest.raises(DatasetError, match="plain file name"):
        load("tinyimagenet", root=tmp_path)


def test_tinyimagenet_wnid_never_leaves_the_folder(tmp_path):
    from fastnax.datasets import load

    _tiny_imagenet(tmp_path, "val_0.JPEG", wnid="..")
    with pytest.raises(DatasetError, match="plain file name"):
        load("tinyimagenet", root=tmp_path)


def test_pickle_checkpoint_is_refused(tmp_path, marker, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(pickle_payload(marker))
    code, _, err = run_main(["train", "--baseline", "resnet20", "--dataset", "synthetic", "--epochs", "1",
                             "--out", str(out), "--resume"], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "checkpoint" in err and "Traceback" not in err


def test_pickle_result_is_refused_by_train(tmp_path, marker, capsys):
    (tmp_path / "result.json").write_bytes(pickle_payload(marker))
    code, _, err = run_main(["train", "--from-result", str(tmp_path / "result.json"), "--dataset",
                             "synthetic", "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


# --- static guard: no code path that could execute a file ---------------------------------------

UNSAFE = [
    (re.compile(r"\bpickle\.loads?\("), "pickle.load"),
    (re.compile(r"(?<![\w.])eval\("), "eval("),
    (re.compile(r"(?<![\w.])exec\("), "exec("),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"yaml\.load\("), "yaml.load"),
    (re.compile(r"joblib\.load\("), "joblib.load"),
    (re.compile(r"marshal\.loads?\("), "marshal.load"),
]


def test_no_unsafe_loader_in_the_package():
    """No pickle/eval/exec loader anywhere in fastnax; torch.load only with weights_only=True."""
    offenders = []
    for path in sorted((REPO / "fastnax").rglob("*.py")):
        text = path.read_text()
        for pattern, what in UNSAFE:
            for m in pattern.finditer(text):
                offenders.append(f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {what}")
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.relative_to(REPO)}: torch.load without weights_only=True")
    assert not offenders, "\n".join(offenders)
