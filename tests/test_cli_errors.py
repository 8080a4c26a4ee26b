"""Bad input on the command line: non-zero exit, exactly one line on stderr, never a traceback.

Every case runs the real command in a subprocess (``python -m fastnax.cli ...``) and checks:
the exit status is non-zero, stderr is exactly one line, it holds no ``Traceback``, and it names
what was wrong (an expected fragment of the message). The same inputs through the Python API raise
a :class:`fastnax.errors.FastnaxError` (a ``ValueError``) with the same message.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastnax.errors import FastnaxError

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# helpers shared with the other reliability test files
# --------------------------------------------------------------------------------------------

def run_cli(*argv, cwd=None, timeout=120, env=None) -> subprocess.CompletedProcess:
    """Run ``python -m fastnax.cli ARGV`` and return the completed process (text mode).

    The child runs in its own process group with its output in temporary files (not pipes), and
    the group is killed afterwards: a worker process it leaves behind (joblib/loky) can neither
    hang the test by holding a pipe open nor outlive it.
    """
    import tempfile

    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fastnax.cli", *map(str, argv)], cwd=cwd or REPO,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        finally:
            kill_group(proc)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, code, out.read(), err.read())


def kill_group(proc) -> None:
    """SIGKILL the process group of a child started with ``start_new_session=True``."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def nb201_records(n: int = 24, seed: int = 0, **override) -> list[dict]:
    """``n`` records of nb201 cells with made-up accuracies (a fixed function of the cell)."""
    from fastnax import spaces

    archs = spaces.get("nb201").sample(n, seed=seed)
    rows = []
    for i, arch in enumerate(archs):
        text = str(arch)
        acc = 60.0 + 3.0 * text.count("nor_conv_3x3") + 1.5 * text.count("nor_conv_1x1") - 2.0 * text.count("none")
        row = {"arch": text, "space": "nb201", "dataset": "cifar10", "epochs": 12, "seed": i,
               "accuracy_clean": round(acc, 3), "accuracy_noisy": round(acc - 2.5, 3),
               "train_seconds": 1.0 + i, "fastnax_version": "0.1.0"}
        row.update(override)
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


class Payload:
    """Unpickling this runs ``touch MARKER``: the test checks the marker never appears."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def pickle_payload(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


# --------------------------------------------------------------------------------------------
# the cases
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Bad (and a few good) input files, built once for all the cases."""
    d = tmp_path_factory.mktemp("bad")
    f = {"dir": d}
    f["good"] = write_jsonl(d / "good.jsonl", nb201_records())
    f["empty"] = d / "empty.jsonl"
    f["empty"].write_text("")
    f["blank_csv"] = d / "blank.csv"
    f["blank_csv"].write_text("arch,space,dataset,epochs,seed,accuracy_clean,accuracy_noisy,train_seconds,fastnax_version\n")
    f["malformed"] = d / "malformed.jsonl"
    f["malformed"].write_text('{"arch": "nb201:x", \n{not json}\n{"a": 1}\n')
    rows = nb201_records(6)
    rows[2]["accuracy_clean"] = float("nan")
    f["nan"] = d / "nan.jsonl"
    f["nan"].write_text("".join(json.dumps(r) + "\n" for r in rows))  # json writes NaN
    rows = nb201_records(6)
    rows[3]["accuracy_clean"] = -4.0
    f["negative"] = write_jsonl(d / "negative.jsonl", rows)
    rows = nb201_records(6)
    rows[1]["arch"] = "nb201:3x32x32:10:w8a8c2:preset:x16:|bogus_op~0|+|"
    f["bad_arch"] = write_jsonl(d / "bad_arch.jsonl", rows)
    from fastnax import spaces

    imc = spaces.get("imc").sample(3, seed=0)
    rows = nb201_records(6)
    for r, a in zip(rows, imc):
        r["arch"], r["space"] = str(a), "imc"
    f["mixed"] = write_jsonl(d / "mixed.jsonl", rows)
    f["other_space"] = write_jsonl(d / "other_space.jsonl", nb201_records(6, space="imc"))
    f["one"] = write_jsonl(d / "one.jsonl", nb201_records(1))
    f["wrong_ext"] = d / "records.txt"
    f["wrong_ext"].write_text(f["good"].read_text())
    f["csv_header"] = d / "header.csv"
    f["csv_header"].write_text("arch,accuracy\nnb201:x,50\n")
    f["binary"] = d / "binary.jsonl"
    f["binary"].write_bytes(b"\xff\xfe\x00garbage\n")
    f["a_file"] = d / "a_file.txt"
    f["a_file"].write_text("not a folder\n")
    # hardware configs
    for name, text in {"bits0": "[adc]\nrule = 'fixed'\nbits = 0\n",
                       "nan": "[crossbar]\nenergy_pj_at_128 = nan\n",
                       "negative": "[crossbar]\nenergy_pj_at_128 = -3.0\n",
                       "inf": "[buffer]\nbandwidth_bits_per_ns = inf\n",
                       "rows": "[crossbar]\nrows_parallel = -3\n",
                       "unknown_field": "[adc]\nbitz = 4\n",
                       "unknown_table": "[flux]\nx = 1\n",
                       "base": "base = 'puma-23nm'\n",
                       "malformed": "[adc\nbits = 4\n",
                       "replication": "[schedule]\nreplication = 0.5\n",
                       "rule": "[adc]\nrule = 'magic'\n",
                       "string": "[adc]\nbits = 'eight'\n",
                       "bool": "[crossbar]\ndifferential = 3\n",
                       "techno": "technology_nm = 0\n"}.items():
        f[f"hw_{name}"] = d / f"hw_{name}.toml"
        f[f"hw_{name}"].write_text(text)
    f["hw_json_list"] = d / "hw_list.json"
    f["hw_json_list"].write_text("[1, 2]\n")
    # predictor files: a pickle under the predictor's name, and a sidecar of another feature set
    marker = d / "MARKER"
    f["marker"] = marker
    f["pickle_predictor"] = d / "pickled.json"
    f["pickle_predictor"].write_bytes(pickle_payload(marker))
    (d / "pickled.meta.json").write_bytes(pickle_payload(marker))
    f["other_features"] = d / "other.json"
    f["other_features"].write_text('{"learner": {}}\n')
    import hashlib

    sha = hashlib.sha256(f["other_features"].read_bytes()).hexdigest()
    (d / "other.meta.json").write_text(json.dumps({
        "format": "fastnax-predictor", "format_version": 1, "model_file": "other.json",
        "model_sha256": sha, "space": "nb201",
        "feature_set": {"kind": "fastnax.graph", "id": "old", "names": ["params", "flops"], "n_features": 2}}))
    # cost CSVs for rank
    f["cost_nan"] = d / "cost_nan.csv"
    f["cost_nan"].write_text("arch_str,lat_ms_a,lat_ms_b\nx1,1,2\nx2,nan,3\nx3,2,1\nx4,3,3\n")
    f["cost_text"] = d / "cost_text.csv"
    f["cost_text"].write_text("arch_str,lat_ms_a,lat_ms_b\nx1,1,2\nx2,fast,3\nx3,2,1\n")
    f["cost_ok"] = d / "cost_ok.csv"
    f["cost_ok"].write_text("arch_str,lat_ms_a,lat_ms_b\nx1,1,2\nx2,2,3\nx3,2,1\nx4,3,3\n")
    f["cost_noprefix"] = d / "cost_noprefix.csv"
    f["cost_noprefix"].write_text("arch_str,a,b\nx1,1,2\n")
    f["acc_ok"] = d / "acc.csv"
    f["acc_ok"].write_text("arch_str,acc\nx1,50\nx2,60\n")
    return f


NB201 = "nb201:3x32x32:10:w8a8c2:preset:x16:|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"

# (id, argv with {name} placeholders for the files above, fragment the message must contain)
CASES = [
    # spaces
    ("spaces-unknown-option", ["spaces", "--bogus"], "--bogus"),
    # hw: names
    ("hw-unknown-space", ["hw", "--space", "imc2"], "imc2"),
    ("hw-unknown-preset", ["hw", "--preset", "puma-23nm"], "puma-23nm"),
    ("hw-unknown-baseline", ["hw", "--baseline", "resnet21"], "resnet21"),
    ("hw-bad-space-option", ["hw", "--space-option", "input_size=abc"], "input_size"),
    ("hw-unknown-space-option", ["hw", "--space-option", "colour=3"], "colour"),
    ("hw-negative-space-option", ["hw", "--space-option", "input_size=-3"], "input_size"),
    ("hw-space-option-no-equals", ["hw", "--space-option", "input_size"], "KEY=VALUE"),
    # hw: malformed architecture strings
    ("hw-arch-no-space", ["hw", "--arch", "resnet20"], "resnet20"),
    ("hw-arch-unknown-space", ["hw", "--arch", "vgg:3x32x32"], "vgg"),
    ("hw-arch-truncated", ["hw", "--arch", "imc:3x32x32:10"], "imc:3x32x32:10"),
    ("hw-arch-nb201-bad-op", ["hw", "--arch", NB201.replace("nor_conv_1x1", "conv_9x9")], "conv_9x9"),
    ("hw-arch-nb201-crossbar-neg", ["hw", "--arch", NB201.replace(":x16:", ":x-3:")], "-3"),
    ("hw-arch-nb201-crossbar-zero", ["hw", "--arch", NB201.replace(":x16:", ":x0:")], "0"),
    ("hw-arch-nb201-bits-zero", ["hw", "--arch", NB201.replace("w8a8c2", "w0a8c2")], "w_bits"),
    ("hw-arch-imc-crossbar-neg", ["hw", "--arch",
                                  "imc:3x32x32:10:w8a8c2:preset/stem16k3x-3/res3w16:3x64,3x64,3x64,3x64,3x64,3x64/"
                                  "res3w32:3x64,3x64,3x64,3x64,3x64,3x64/res3w64:3x64,3x64,3x64,3x64,3x64,3x64/gap-x64"],
     "-3"),
    ("hw-arch-imc-kernel-4", ["hw", "--arch",
                              "imc:3x32x32:10:w8a8c2:preset/stem16k4x64/res3w16:3x64,3x64,3x64,3x64,3x64,3x64/"
                              "res3w32:3x64,3x64,3x64,3x64,3x64,3x64/res3w64:3x64,3x64,3x64,3x64,3x64,3x64/gap-x64"],
     "4"),
    # hw: out-of-range hardware fields
    ("hw-config-adc-bits-0", ["hw", "--config", "{hw_bits0}"], "bits"),
    ("hw-config-nan", ["hw", "--config", "{hw_nan}"], "energy_pj_at_128"),
    ("hw-config-negative", ["hw", "--config", "{hw_negative}"], "energy_pj_at_128"),
    ("hw-config-inf", ["hw", "--config", "{hw_inf}"], "bandwidth_bits_per_ns"),
    ("hw-config-rows-neg", ["hw", "--config", "{hw_rows}"], "rows_parallel"),
    ("hw-config-unknown-field", ["hw", "--config", "{hw_unknown_field}"], "bitz"),
    ("hw-config-unknown-table", ["hw", "--config", "{hw_unknown_table}"], "flux"),
    ("hw-config-unknown-base", ["hw", "--config", "{hw_base}"], "puma-23nm"),
    ("hw-config-malformed", ["hw", "--config", "{hw_malformed}"], "TOML"),
    ("hw-config-replication", ["hw", "--config", "{hw_replication}"], "replication"),
    ("hw-config-rule", ["hw", "--config", "{hw_rule}"], "magic"),
    ("hw-config-string", ["hw", "--config", "{hw_string}"], "bits"),
    ("hw-config-bool", ["hw", "--config", "{hw_bool}"], "differential"),
    ("hw-config-technology", ["hw", "--config", "{hw_techno}"], "technology_nm"),
    ("hw-config-json-list", ["hw", "--config", "{hw_json_list}"], "hw_list.json"),
    ("hw-config-missing", ["hw", "--config", "{dir}/nope.toml"], "nope.toml"),
    ("hw-config-is-dir", ["hw", "--config", "{dir}"], ""),
    # hw: unwritable outputs
    ("hw-export-proc", ["hw", "--export-neurosim", "/proc/fastnax/x.csv"], "/proc/fastnax"),
    ("hw-export-under-file", ["hw", "--export-neurosim", "{a_file}/x.csv"], "a_file.txt"),
    # search
    ("search-unknown-space", ["search", "--space", "imc2", "--budget", "10"], "imc2"),
    ("search-unknown-objective", ["search", "--objective", "speed"], "speed"),
    ("search-unknown-method", ["search", "--method", "annealing"], "annealing"),
    ("search-unknown-preset", ["search", "--preset", "puma-23nm", "--budget", "10"], "puma-23nm"),
    ("search-budget-zero", ["search", "--method", "random", "--budget", "0"], "budget"),
    ("search-budget-negative", ["search", "--method", "random", "--budget", "-5"], "budget"),
    ("search-budget-text", ["search", "--budget", "many"], "many"),
    ("search-seed-negative", ["search", "--method", "random", "--budget", "10", "--seed", "-1"], "seed"),
    ("search-max-area-negative", ["search", "--method", "random", "--budget", "10", "--max-area", "-1"], "max_area"),
    ("search-max-area-nan", ["search", "--method", "random", "--budget", "10", "--max-area", "nan"], "max_area"),
    ("search-max-latency-inf", ["search", "--method", "random", "--budget", "10", "--max-latency", "inf"], "max_latency"),
    ("search-min-accuracy-200", ["search", "--method", "random", "--budget", "10", "--min-accuracy", "200"], "min_accuracy"),
    ("search-min-accuracy-nan", ["search", "--method", "random", "--budget", "10", "--min-accuracy", "nan"], "min_accuracy"),
    ("search-space-option", ["search", "--space-option", "colour=3", "--budget", "10"], "colour"),
    ("search-predictor-missing", ["search", "--space", "nb201", "--predictor", "{dir}/nope.json"], "nope.json"),
    ("search-predictor-pickle", ["search", "--space", "nb201", "--predictor", "{pickle_predictor}"], "pickled"),
    ("search-predictor-other-features", ["search", "--space", "nb201", "--predictor", "{other_features}"], "feature set"),
    ("search-out-proc", ["search", "--space", "nb201", "--method", "random", "--budget", "10", "--out", "/proc/fastnax"], "/proc/fastnax"),
    ("search-out-under-file", ["search", "--space", "nb201", "--method", "random", "--budget", "10", "--out", "{a_file}/res"], "a_file.txt"),
    ("search-out-is-file", ["search", "--space", "nb201", "--method", "random", "--budget", "10", "--out", "{a_file}"], "a_file.txt"),
    ("search-shgo-big-space", ["search", "--space", "imc", "--method", "shgo", "--budget", "10"], "shgo"),
    # fit
    ("fit-missing", ["fit", "{dir}/nope.jsonl", "--out", "{dir}/p.json"], "nope.jsonl"),
    ("fit-empty", ["fit", "{empty}", "--out", "{dir}/p.json"], "empty.jsonl"),
    ("fit-empty-csv", ["fit", "{blank_csv}", "--out", "{dir}/p.json"], "blank.csv"),
    ("fit-malformed", ["fit", "{malformed}", "--out", "{dir}/p.json"], "malformed.jsonl"),
    ("fit-binary", ["fit", "{binary}", "--out", "{dir}/p.json"], "UTF-8"),
    ("fit-nan-accuracy", ["fit", "{nan}", "--out", "{dir}/p.json"], "accuracy_clean"),
    ("fit-negative-accuracy", ["fit", "{negative}", "--out", "{dir}/p.json"], "accuracy_clean"),
    ("fit-bad-arch", ["fit", "{bad_arch}", "--out", "{dir}/p.json"], "bogus_op"),
    ("fit-mixed-spaces", ["fit", "{mixed}", "--out", "{dir}/p.json"], "spaces"),
    ("fit-records-of-another-space", ["fit", "{other_space}", "--out", "{dir}/p.json"], "imc"),
    ("fit-one-record", ["fit", "{one}", "--out", "{dir}/p.json"], "2 records"),
    ("fit-wrong-extension", ["fit", "{wrong_ext}", "--out", "{dir}/p.json"], ".txt"),
    ("fit-csv-header", ["fit", "{csv_header}", "--out", "{dir}/p.json"], "header"),
    ("fit-records-is-dir", ["fit", "{dir}", "--out", "{dir}/p.json"], ""),
    ("fit-cv-1", ["fit", "{good}", "--cv", "1", "--out", "{dir}/p.json"], "--cv"),
    ("fit-unknown-target", ["fit", "{good}", "--target", "accuracy_dirty", "--out", "{dir}/p.json"], "accuracy_dirty"),
    ("fit-out-proc", ["fit", "{good}", "--cv", "2", "--out", "/proc/fastnax/p.json"], "/proc/fastnax"),
    ("fit-out-under-file", ["fit", "{good}", "--cv", "2", "--out", "{a_file}/p.json"], "a_file.txt"),
    # rank
    ("rank-neither", ["rank"], "--csv"),
    ("rank-csv-missing", ["rank", "--csv", "{dir}/nope.csv"], "nope.csv"),
    ("rank-csv-nan", ["rank", "--csv", "{cost_nan}"], "cost_nan.csv"),
    ("rank-csv-text", ["rank", "--csv", "{cost_text}"], "cost_text.csv"),
    ("rank-csv-no-prefix", ["rank", "--csv", "{cost_noprefix}"], "lat_ms_"),
    ("rank-csv-empty", ["rank", "--csv", "{empty}"], "empty"),
    ("rank-unknown-target", ["rank", "--csv", "{cost_ok}", "--targets", "a,zzz"], "zzz"),
    ("rank-unknown-accuracy-column", ["rank", "--csv", "{cost_ok}", "--accuracy-csv", "{acc_ok}",
                                      "--accuracy-column", "top1"], "top1"),
    ("rank-accuracy-missing-arch", ["rank", "--csv", "{cost_ok}", "--accuracy-csv", "{acc_ok}",
                                    "--accuracy-column", "acc"], "x3"),
    ("rank-unknown-preset", ["rank", "--presets", "puma-32nm,puma-23nm", "--n", "20"], "puma-23nm"),
    ("rank-unknown-metric", ["rank", "--presets", "puma-32nm,neurosim-22nm-rram", "--metric", "speed", "--n", "20"], "speed"),
    ("rank-unknown-space", ["rank", "--presets", "puma-32nm,neurosim-22nm-rram", "--space", "imc2", "--n", "20"], "imc2"),
    ("rank-n-too-small", ["rank", "--presets", "puma-32nm,neurosim-22nm-rram", "--n", "1"], "--n"),
    ("rank-crossbar-negative", ["rank", "--presets", "puma-32nm", "--crossbar-sizes", "64,-3", "--n", "20"], "-3"),
    ("rank-crossbar-text", ["rank", "--presets", "puma-32nm", "--crossbar-sizes", "64,big", "--n", "20"], "big"),
    ("rank-plot-proc", ["rank", "--csv", "{cost_ok}", "--plot", "/proc/fastnax/k.png"], "/proc/fastnax"),
]

SAMPLE_TRAIN_CASES = [
    ("sample-unknown-space", ["sample", "--space", "imc2", "--out", "{dir}/s.jsonl", "--n", "1"], "imc2"),
    ("sample-unknown-dataset", ["sample", "--dataset", "imagenet-22k", "--out", "{dir}/s.jsonl", "--n", "1"], "imagenet-22k"),
    ("sample-dataset-missing-files", ["sample", "--dataset", "mnist", "--root", "{dir}/no_mnist", "--out",
                                      "{dir}/s.jsonl", "--n", "1"], "no_mnist"),
    ("sample-dataset-folder-empty", ["sample", "--dataset", "cifar10", "--root", "{dir}", "--out",
                                     "{dir}/s.jsonl", "--n", "1"], "cifar"),
    ("sample-n-negative", ["sample", "--n", "-1", "--out", "{dir}/s.jsonl"], "n=-1"),
    ("sample-epochs-negative", ["sample", "--epochs", "-1", "--n", "1", "--out", "{dir}/s.jsonl"], "epochs"),
    ("sample-out-wrong-extension", ["sample", "--n", "1", "--out", "{dir}/s.txt"], ".txt"),
    ("sample-out-proc", ["sample", "--n", "1", "--dataset", "synthetic", "--out", "/proc/fastnax/s.jsonl"], "/proc/fastnax"),
    ("sample-out-corrupt", ["sample", "--n", "1", "--dataset", "synthetic", "--out", "{malformed}"], "malformed.jsonl"),
    ("train-unknown-space", ["train", "--space", "imc2", "--baseline", "resnet20", "--out", "{dir}/t"], "imc2"),
    ("train-unknown-baseline", ["train", "--baseline", "resnet21", "--out", "{dir}/t"], "resnet21"),
    ("train-malformed-arch", ["train", "--arch", "imc:nonsense", "--out", "{dir}/t"], "imc:nonsense"),
    ("train-unknown-dataset", ["train", "--baseline", "resnet20", "--dataset", "imagenet-22k", "--out", "{dir}/t"], "imagenet-22k"),
    ("train-dataset-missing-files", ["train", "--baseline", "resnet20", "--dataset", "mnist", "--root",
                                     "{dir}/no_mnist", "--out", "{dir}/t"], "no_mnist"),
    ("train-epochs-zero", ["train", "--baseline", "resnet20", "--epochs", "0", "--out", "{dir}/t"], "epochs"),
    ("train-result-missing", ["train", "--from-result", "{dir}/nope.json", "--out", "{dir}/t"], "nope.json"),
    ("train-result-pickle", ["train", "--from-result", "{pickle_predictor}", "--out", "{dir}/t"], "pickled.json"),
    ("train-unknown-preset", ["train", "--baseline", "resnet20", "--dataset", "synthetic", "--epochs", "1",
                              "--preset", "puma-23nm", "--out", "{dir}/t"], "puma-23nm"),
    ("train-out-proc", ["train", "--baseline", "resnet20", "--dataset", "synthetic", "--out", "/proc/fastnax/t"], "/proc/fastnax"),
    ("train-out-is-file", ["train", "--baseline", "resnet20", "--dataset", "synthetic", "--out", "{a_file}"], "a_file.txt"),
    ("run-unknown-space", ["run", "--space", "imc2"], "imc2"),
    ("run-unknown-dataset", ["run", "--dataset", "imagenet-22k"], "imagenet-22k"),
    ("run-dataset-missing-files", ["run", "--dataset", "mnist", "--root", "{dir}/no_mnist"], "no_mnist"),
    ("run-out-proc", ["run", "--out", "/proc/fastnax/run"], "/proc/fastnax"),
    ("run-n-negative", ["run", "--n", "-1"], "-1"),
    ("run-finalists-zero", ["run", "--finalists", "0"], "finalists"),
    ("run-unknown-baseline", ["run", "--baseline", "resnet21"], "resnet21"),
    ("run-epochs-zero", ["run", "--epochs", "0"], "epochs"),
    ("run-margin-nan", ["run", "--accuracy-margin", "nan"], "accuracy_margin"),
]


def _fill(argv, files) -> list[str]:
    return [a.format(**files) for a in argv]


def _check_one_line(returncode, stderr: str, fragment: str, argv, stdout: str = "") -> None:
    assert returncode not in (0, None), f"{argv}: exit 0 on bad input; stdout={stdout[-300:]!r}"
    assert "Traceback" not in stderr, f"{argv}: traceback on stderr:\n{stderr}"
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].strip(), f"{argv}: expected one line on stderr, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith("fastnax"), f"{argv}: stderr line does not name the command: {lines[0]!r}"
    assert fragment in lines[0], f"{argv}: stderr does not name {fragment!r}: {lines[0]!r}"


def run_main(argv, capsys):
    """``fastnax.cli.main(argv)`` in this process: (exit status, stdout, stderr).

    ``python -m fastnax.cli`` is ``raise SystemExit(main())``, so an exception escaping ``main``
    here is exactly a traceback there: it fails the test with that traceback.
    """
    from fastnax.cli import main

    capsys.readouterr()
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


ALL_CASES = CASES + SAMPLE_TRAIN_CASES


@pytest.mark.parametrize("argv,fragment", [c[1:] for c in ALL_CASES], ids=[c[0] for c in ALL_CASES])
def test_bad_input_is_one_line(files, argv, fragment, capsys):
    """Every case through ``cli.main`` (fast: imports are shared)."""
    argv = _fill(argv, files)
    code, out, err = run_main(argv, capsys)
    _check_one_line(code, err, fragment, argv, out)
    assert not files["marker"].exists(), "a pickle payload was executed"


#: One case per command and kind of fault, run as real subprocesses (``python -m fastnax.cli``).
SUBPROCESS_IDS = (
    "spaces-unknown-option", "hw-unknown-preset", "hw-arch-imc-crossbar-neg", "hw-config-nan",
    "hw-config-adc-bits-0", "hw-export-proc", "search-unknown-method", "search-predictor-pickle",
    "search-predictor-other-features", "search-out-proc", "fit-nan-accuracy", "fit-empty",
    "fit-mixed-spaces", "fit-out-under-file", "rank-csv-missing", "rank-crossbar-text",
    "sample-dataset-missing-files", "sample-out-proc", "train-malformed-arch", "train-result-pickle",
)


@pytest.fixture(scope="module")
def subprocess_results(files):
    """Run the subprocess cases two at a time (waiting on a child releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    chosen = [c for c in ALL_CASES if c[0] in SUBPROCESS_IDS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(lambda c: run_cli(*_fill(c[1], files)), chosen))
    return {c[0]: (c, p) for c, p in zip(chosen, procs)}


@pytest.mark.parametrize("case_id", SUBPROCESS_IDS)
def test_bad_input_subprocess(files, subprocess_results, case_id):
    """The real command line: non-zero exit, one line on stderr, no traceback."""
    assert case_id in subprocess_results
    (_, argv, fragment), proc = subprocess_results[case_id]
    _check_one_line(proc.returncode, proc.stderr, fragment, argv, proc.stdout)
    assert not files["marker"].exists(), "a pickle payload was executed"


def test_good_input_still_works(files, capsys):
    """The harness is not vacuous: the same commands on good input exit 0 with nothing on stderr."""
    code, out, err = run_main(["hw", "--arch", NB201, "--json"], capsys)
    assert code == 0 and not err, err
    assert json.loads(out)["arch"] == NB201
    code, out, err = run_main(["rank", "--csv", str(files["cost_ok"]), "--json"], capsys)
    assert code == 0, err
    code, out, err = run_main(["hw", "--config", str(files["hw_bits0"]).replace("bits0", "rule")], capsys)
    assert code == 2 and "magic" in err


# --------------------------------------------------------------------------------------------
# the Python API raises the same FastnaxError (a ValueError) with the same message
# --------------------------------------------------------------------------------------------

def _api_cases(files):
    from fastnax import search, spaces
    from fastnax.arch import Architecture
    from fastnax.datasets.records import read_records
    from fastnax.hwmodel import HardwareModel, get_preset
    from fastnax.predictors import XGBPredictor

    return [
        (["hw", "--space", "imc2"], lambda: spaces.get("imc2")),
        (["hw", "--preset", "puma-23nm"], lambda: get_preset("puma-23nm")),
        (["hw", "--arch", "resnet20"], lambda: Architecture.from_string("resnet20")),
        (["hw", "--arch", NB201.replace(":x16:", ":x-3:")],
         lambda: Architecture.from_string(NB201.replace(":x16:", ":x-3:"))),
        (["hw", "--config", str(files["hw_bits0"])], lambda: HardwareModel.from_file(files["hw_bits0"])),
        (["hw", "--config", str(files["hw_nan"])], lambda: HardwareModel.from_file(files["hw_nan"])),
        (["search", "--method", "random", "--budget", "0"],
         lambda: search.run("imc", method="random", budget=0)),
        (["fit", str(files["nan"]), "--out", str(files["dir"] / "p.json")], lambda: read_records(files["nan"])),
        (["fit", str(files["empty"]), "--out", str(files["dir"] / "p.json")], lambda: read_records(files["empty"])),
        (["fit", str(files["mixed"]), "--out", str(files["dir"] / "p.json")],
         lambda: XGBPredictor().fit_records(files["mixed"])),
    ]


def test_api_raises_same_message_as_cli(files, capsys):
    for argv, call in _api_cases(files):
        with pytest.raises(FastnaxError) as info:
            call()
        assert isinstance(info.value, ValueError)
        code, _, err = run_main(argv, capsys)
        assert code == 2, (argv, err)
        assert err.strip().endswith(str(info.value)), (argv, err, str(info.value))
