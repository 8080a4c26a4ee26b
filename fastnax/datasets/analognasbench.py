"""AnalogNAS-Bench (IBM, Apache-2.0): every NAS-Bench-201 cell's accuracy on a simulated PCM chip.

Two sources give the same table:

* the CSV (``../shared/data/analognasbench/analognasbench_c10.csv``: row ``i`` is NAS-Bench-201
  index ``i``, ``arch_str`` the benchmark's cell string, accuracies in percent), read by
  :func:`load`;
* the data file of an installed ``analog-nasbench`` package (``analognasbench/data.anb``), a pickle
  of ``{NASLib op tuple: analognasbench.data.Architecture}``, read by :func:`load_package_data`
  with an allow-list unpickler (:class:`SafeUnpickler`): it never imports the package (nor any
  module), builds plain stand-in objects for the package's two classes and refuses every other
  global, so a tampered file cannot run code.

:func:`to_records` turns either into ``nb201`` records: ``accuracy_clean`` is
``baseline_accuracy`` (digital training and evaluation), the other accuracy columns become named
accuracies ``accuracy_<column>`` (``accuracy_analog_drift_86400``, ...).

Columns (see ``../shared/data/README.md``): develop on ``baseline_accuracy``, ``ptq_accuracy``,
``qat_accuracy``, ``analog_accuracy`` and ``analog_drift_{60,3600,86400}``; ``noisy_accuracy``,
``baseline_drift_*`` and ``analog_drift_2592000`` are held out (:data:`HELD_OUT`): report them,
never choose anything by them.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Sequence

import numpy as np

from fastnax.datasets import nb201
from fastnax.errors import DatasetError

DRIFT_TIMES = (60, 3600, 86400, 2592000)
#: accuracy columns of the table (percent); the ``*_std`` spreads are not accuracies
ACCURACY_COLUMNS = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy",
                    "analog_accuracy", *(f"analog_drift_{t}" for t in DRIFT_TIMES),
                    *(f"baseline_drift_{t}" for t in DRIFT_TIMES))
DEVELOPMENT = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "analog_accuracy",
               "analog_drift_60", "analog_drift_3600", "analog_drift_86400")
HELD_OUT = ("noisy_accuracy", *(f"baseline_drift_{t}" for t in DRIFT_TIMES), "analog_drift_2592000")
CLEAN = "baseline_accuracy"

#: NASLib's NAS-Bench-201 op indices (the package's keys) -> fastnax / benchmark op index
#: (NASLib: 0 Identity, 1 Zero, 2 ReLUConvBN3x3, 3 ReLUConvBN1x1, 4 AvgPool1x1 [a 3x3 average
#: pool]; fastnax: 0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3)
NASLIB_OPS = (1, 0, 3, 2, 4)
#: position in a NASLib op tuple (edges (1,2), (1,3), (1,4), (2,3), (2,4), (3,4) of its 1-based
#: nodes) -> edge position in the benchmark's cell string (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)
NASLIB_EDGES = (0, 1, 3, 2, 4, 5)


def load(path: str | os.PathLike) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read the AnalogNAS-Bench CSV: ``(arch_strings, columns)`` as :func:`fastnax.datasets.nb201.load`.

    Raises
    ------
    DatasetError
        Missing file, or a table without ``baseline_accuracy`` (not an AnalogNAS-Bench table).
    """
    arch_strings, columns = nb201.load(path)
    if CLEAN not in columns:
        raise DatasetError(f"{path}: no {CLEAN!r} column; not an AnalogNAS-Bench table (columns: "
                           f"{', '.join(columns)})")
    return arch_strings, columns


def to_records(arch_strings: Sequence[str], columns: dict, named: Sequence[str] | None = None,
               rows=None, crossbar_size: int = 64, dataset: str = "analognasbench-cifar10") -> list:
    """``nb201`` records of AnalogNAS-Bench rows (``accuracy_clean`` = ``baseline_accuracy``).

    Parameters
    ----------
    arch_strings, columns
        From :func:`load` or :func:`load_package_data`.
    named : sequence of str, optional
        Columns kept as named accuracies ``accuracy_<column>`` (default: every accuracy column the
        table has but ``baseline_accuracy``, held-out ones included: a benchmark reports them).
    rows : array_like of int, optional
        Row indices to convert (default all).
    crossbar_size : int
        Crossbar size of the architectures (drift accuracy does not depend on it here).
    dataset : str
        Written into every record.

    Returns
    -------
    list of Record
    """
    if named is None:
        named = [c for c in ACCURACY_COLUMNS if c in columns and c != CLEAN]
    return nb201.to_records(arch_strings, columns, CLEAN, named, dataset=dataset, epochs=200,
                            crossbar_size=crossbar_size, rows=rows)


# ------------------------------------------------------------------------------------------------
# The package's pickle, read without the package
# ------------------------------------------------------------------------------------------------
class PlainObject:
    """A stand-in for a class of the pickle: holds the pickled attributes, runs no code of theirs."""

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) state
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected object state of type {type(state).__name__}")
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.__dict__!r})"


class ArchitectureEntry(PlainObject):
    """Stand-in for ``analognasbench.data.Architecture`` (one cell's measurements)."""


class DriftEntry(PlainObject):
    """Stand-in for ``analognasbench.data.DriftMeasurement`` (``value``, ``uncertainty``)."""


def _reconstructor(cls, base, state):
    """``copyreg._reconstructor`` restricted to the stand-ins (protocols 0 and 1)."""
    if cls not in (ArchitectureEntry, DriftEntry) or base is not object or state is not None:
        raise pickle.UnpicklingError("refused object reconstruction outside the allow-list")
    return cls.__new__(cls)


_NUMERIC_KINDS = "fiub"


def _dtype(*args):
    dtype = np.dtype(*args)
    if dtype.kind not in _NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"refused numpy dtype {dtype!r} (only numeric dtypes are allowed)")
    return dtype


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise pickle.UnpicklingError("refused numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _latin1(text, encoding="latin1"):
    """``_codecs.encode`` as protocol 0 uses it for raw bytes: str -> latin-1 bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused _codecs.encode other than str -> latin-1 bytes")
    return text.encode("latin-1")


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only an allow-list of globals, to plain stand-ins.

    Allowed: ``analognasbench.data.Architecture`` / ``DriftMeasurement`` (-> :class:`ArchitectureEntry`
    / :class:`DriftEntry`, never the package's classes), ``copyreg._reconstructor`` for those two,
    ``builtins.object`` as its base, and numpy's numeric scalars (``numpy.dtype`` of kinds f/i/u/b,
    ``numpy.core.multiarray.scalar``, and ``_codecs.encode`` of text to latin-1 bytes, which
    protocol 0 uses for their raw bytes). Any other global raises :class:`pickle.UnpicklingError`.
    Nothing is imported: the stand-ins and the numpy helpers are this module's own.
    """

    ALLOWED = {
        ("analognasbench.data", "Architecture"): ArchitectureEntry,
        ("analognasbench.data", "DriftMeasurement"): DriftEntry,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("copy_reg", "_reconstructor"): _reconstructor,
        ("builtins", "object"): object,
        ("__builtin__", "object"): object,
        ("numpy", "dtype"): _dtype,
        ("numpy.core.multiarray", "scalar"): _scalar,
        ("numpy._core.multiarray", "scalar"): _scalar,
        ("_codecs", "encode"): _latin1,
    }

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: not on the allow-list of "
                                         f"AnalogNAS-Bench data files") from None


def safe_load(data: bytes):
    """Unpickle ``data`` with :class:`SafeUnpickler` (see there); DatasetError when refused."""
    try:
        return SafeUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, MemoryError) as exc:
        raise DatasetError(f"not a readable AnalogNAS-Bench data file: {exc}") from None


def package_data_path() -> Path:
    """The data file of the installed ``analog-nasbench`` package, found without importing it.

    Raises
    ------
    DatasetError
        The package is not installed, or it holds no ``data.anb``.
    """
    import importlib.util

    spec = importlib.util.find_spec("analognasbench")  # locates a top-level package, runs nothing
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the analog-nasbench package is not installed (pip install analog-nasbench), "
                           "or pass the path of its data.anb file")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data.anb"
        if path.exists():
            return path
    raise DatasetError(f"the analog-nasbench package at {list(spec.submodule_search_locations)} has no data.anb")


def _number(value, what: str) -> tuple[float, float]:
    """(value, spread) of a pickled measurement: a number, a DriftEntry or a 'v ± u' string."""
    if isinstance(value, DriftEntry):
        return float(getattr(value, "value", np.nan)), float(getattr(value, "uncertainty", np.nan))
    if isinstance(value, bool):
        raise DatasetError(f"{what} is a boolean, not an accuracy")
    if isinstance(value, (int, float)):
        return float(value), np.nan
    if isinstance(value, str):
        parts = value.split("±")
        try:
            return float(parts[0]), (float(parts[1]) if len(parts) == 2 else np.nan)
        except ValueError:
            pass
    raise DatasetError(f"{what} is {value!r}, not an accuracy")


def naslib_to_cell_string(key) -> str:
    """The benchmark's cell string of a NASLib op tuple (six ints 0..4), e.g. ``(2, 2, 4, 0, 2, 0)``."""
    from fastnax.spaces.nb201 import cell_string

    if (not isinstance(key, tuple) or len(key) != 6
            or any(isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 4 for k in key)):
        raise DatasetError(f"key {key!r} is not a NASLib NAS-Bench-201 op tuple (six ints 0..4)")
    ops = [0] * 6
    for pos, op in enumerate(key):
        ops[NASLIB_EDGES[pos]] = NASLIB_OPS[op]
    return cell_string(ops)


def load_package_data(path: str | os.PathLike | None = None) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read the ``analog-nasbench`` package's pickle into ``(arch_strings, columns)``.

    Parameters
    ----------
    path : path, optional
        The data file (default: :func:`package_data_path`).

    Returns
    -------
    arch_strings : list of str
        Benchmark cell strings, sorted by fastnax cell id.
    columns : dict of str -> ndarray
        ``baseline_accuracy``, ``ptq_accuracy``, ``qat_accuracy``, ``noisy_accuracy``,
        ``analog_accuracy``, ``analog_drift_<t>`` and ``_std``, ``baseline_drift_<t>`` and ``_std``
        (the package's ``noisy_drift_<t>``: the digitally trained network under drift), percent;
        NaN where the file has no value.

    Raises
    ------
    DatasetError
        Missing file, a refused or malformed pickle, or entries that are not measurements.
    """
    path = package_data_path() if path is None else Path(path)
    try:
        data = path.read_bytes()
    except OSError:
        raise DatasetError(f"AnalogNAS-Bench data file {str(path)!r} is missing or unreadable") from None
    table = safe_load(data)
    if not isinstance(table, dict) or not table:
        raise DatasetError(f"{path}: expected a non-empty dict of op tuple -> architecture, got "
                           f"{type(table).__name__}")
    sources = {"baseline_accuracy": "baseline_accuracy", "ptq_accuracy": "ptq_accuracy",
               "qat_accuracy": "qat_accuracy", "noisy_accuracy": "noisy_accuracy",
               "analog_accuracy": "analog_accuracy"}
    for t in DRIFT_TIMES:
        sources[f"analog_drift_{t}"] = f"analog_drift_{t}"
        sources[f"baseline_drift_{t}"] = f"noisy_drift_{t}"
    strings, rows = [], []
    for key, entry in table.items():
        if not isinstance(entry, ArchitectureEntry):
            raise DatasetError(f"{path}: entry {key!r} is a {type(entry).__name__}, not an architecture")
        strings.append(naslib_to_cell_string(key))
        row = {}
        for column, attr in sources.items():
            if not hasattr(entry, attr):
                row[column] = (np.nan, np.nan)
                continue
            row[column] = _number(getattr(entry, attr), f"{path}: {key!r}.{attr}")
        rows.append(row)
    ids = nb201.cell_ids(strings)
    if len(np.unique(ids)) != len(ids):
        raise DatasetError(f"{path}: two keys name the same cell")
    order = np.argsort(ids, kind="stable")
    columns = {}
    for column in sources:
        values = np.asarray([rows[i][column] for i in order], dtype=np.float64).reshape(-1, 2)
        columns[column] = values[:, 0]
        if column.startswith(("analog_drift_", "baseline_drift_")):
            columns[column + "_std"] = values[:, 1]
    return [strings[i] for i in order], columns


__all__ = ["ACCURACY_COLUMNS", "DEVELOPMENT", "HELD_OUT", "CLEAN", "SafeUnpickler", "load", "to_records",
           "load_package_data", "package_data_path", "naslib_to_cell_string", "safe_load"]
