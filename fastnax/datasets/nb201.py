"""NAS-Bench-201 reference tables (``../shared/data/nb201/*.csv``): real accuracies and latencies.

Row ``i`` of the benchmark's CSVs is NAS-Bench-201 index ``i``; its ``arch_str`` column is the
benchmark's cell string. That order is *not* fastnax's ``cell_id`` order (a base-5 enumeration of
the six edge ops), so :func:`to_vectors` and :func:`cell_ids` map rows to the ``nb201`` space
through the strings, and :func:`align` reorders a column into ``cell_id`` order.

>>> arch_strings, columns = load("../shared/data/nb201/nb201_accuracy.csv")   # doctest: +SKIP
>>> X = to_vectors(arch_strings)              # (15625, 7) nb201 space vectors, crossbar 64
>>> recs = to_records(arch_strings, columns, clean="c10valid_valid_200ep",
...                   named=("c10_test_12ep",))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from fastnax.errors import DatasetError


def load(path: str | os.PathLike) -> tuple[list[str], dict[str, np.ndarray]]:
    """Read a NAS-Bench-201 table (the accuracy or the latency CSV).

    Returns
    -------
    arch_strings : list of str, length n_rows
        The benchmark's cell strings (``arch_str`` column), in file order.
    columns : dict of str -> ndarray (n_rows,)
        Every other column as float64 (accuracy in percent, latency in milliseconds);
        ``nb201_index`` as int64.

    Raises
    ------
    DatasetError
        Missing file, missing ``arch_str`` column, or a row that does not parse (naming the line
        and the column).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"NAS-Bench-201 table {str(path)!r} does not exist (expected e.g. "
                           f"../shared/data/nb201/nb201_accuracy.csv)")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DatasetError(f"NAS-Bench-201 table {str(path)!r} is empty") from None
        if "arch_str" not in header:
            raise DatasetError(f"{path}:1: no 'arch_str' column; columns are {', '.join(header)}")
        rows = list(reader)
    a = header.index("arch_str")
    arch_strings = []
    values = np.empty((len(rows), len(header)))
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DatasetError(f"{path}:{lineno}: {len(row)} fields, the header has {len(header)}")
        arch_strings.append(row[a])
        for j, cell in enumerate(row):
            if j == a:
                continue
            try:
                values[lineno - 2, j] = float(cell) if cell.strip() else np.nan
            except ValueError:
                raise DatasetError(f"{path}:{lineno}: column {header[j]!r} is {cell!r}, not a number") from None
    columns = {}
    for j, name in enumerate(header):
        if j == a:
            continue
        columns[name] = values[:, j].astype(np.int64) if name == "nb201_index" else values[:, j].copy()
    return arch_strings, columns


def cell_ids(arch_strings: Sequence[str]) -> np.ndarray:
    """fastnax cell ids (n,) of benchmark cell strings."""
    from fastnax.spaces.nb201 import cell_id, parse_cell

    return cell_id(np.asarray([parse_cell(s) for s in arch_strings], dtype=np.int64).reshape(-1, 6))


def to_vectors(arch_strings: Sequence[str], crossbar_size: int = 64) -> np.ndarray:
    """``nb201`` space vectors (n, 7) of benchmark cell strings (six edge ops, crossbar index)."""
    from fastnax.errors import BoundsError
    from fastnax.spaces.nb201 import CROSSBARS, parse_cell

    if crossbar_size not in CROSSBARS:
        raise BoundsError(f"crossbar size {crossbar_size} is not one of {', '.join(map(str, CROSSBARS))}")
    ops = np.asarray([parse_cell(s) for s in arch_strings], dtype=np.int64).reshape(-1, 6)
    xb = np.full((len(ops), 1), CROSSBARS.index(crossbar_size))
    return np.concatenate([ops, xb], axis=1).astype(float)


def to_architectures(arch_strings: Sequence[str], crossbar_size: int = 64, **options):
    """``nb201`` Architectures of benchmark cell strings (options as for the nb201 space)."""
    from fastnax.spaces.nb201 import from_nb201_string

    return [from_nb201_string(s, crossbar_size, **options) for s in arch_strings]


def align(arch_strings: Sequence[str], column: np.ndarray) -> np.ndarray:
    """A column reordered into fastnax ``cell_id`` order (index i holds the value of cell id i)."""
    from fastnax.spaces.nb201 import N_CELLS

    ids = cell_ids(arch_strings)
    if len(ids) != N_CELLS or len(np.unique(ids)) != N_CELLS:
        raise DatasetError(f"the table has {len(ids)} rows ({len(np.unique(ids))} distinct cells); "
                           f"aligning needs all {N_CELLS} cells once")
    out = np.empty(N_CELLS, dtype=np.asarray(column).dtype)
    out[ids] = column
    return out


def to_records(arch_strings: Sequence[str], columns: dict, clean: str, named: Sequence[str] = (),
               dataset: str = "nb201-cifar10", epochs: int = 200, crossbar_size: int = 64,
               rows=None, **options) -> list:
    """Records (``fastnax.datasets.records.Record``) of a benchmark table's rows.

    Parameters
    ----------
    arch_strings : sequence of str, length n_rows
        Benchmark cell strings (from :func:`load`).
    columns : dict of str -> ndarray (n_rows,)
        The table's columns (from :func:`load`), accuracy in percent.
    clean : str
        Column that becomes ``accuracy_clean`` (e.g. ``c10valid_valid_200ep``).
    named : sequence of str
        Columns kept as named accuracies ``accuracy_<column>``; a NaN cell is "not measured".
    dataset, epochs : str, int
        Written into every record.
    crossbar_size : int
        Crossbar size of the ``nb201`` architectures (accuracy does not depend on it here).
    rows : array_like of int, optional
        Row indices to convert (default: all rows, in file order).
    **options
        Options of the ``nb201`` space (``w_bits``, ...).

    Returns
    -------
    list of Record
        One per row; ``accuracy_noisy`` is None, ``seed`` the row index, ``train_seconds`` 0 (the
        benchmark's tables carry no wall times).

    Raises
    ------
    DatasetError
        An unknown column, or a NaN clean accuracy.
    """
    from fastnax import __version__
    from fastnax.datasets.records import Record, is_accuracy_name
    from fastnax.spaces.nb201 import from_nb201_string

    for name in (clean, *named):
        if name not in columns:
            raise DatasetError(f"no column {name!r} in the table; columns are {', '.join(columns)}")
    for name in named:
        if not is_accuracy_name("accuracy_" + name):
            raise DatasetError(f"column {name!r} cannot name an accuracy (lower-case letters, digits, '_')")
    rows = np.arange(len(arch_strings)) if rows is None else np.asarray(rows, dtype=np.int64)
    out = []
    for i in rows:
        value = float(columns[clean][i])
        if not np.isfinite(value):
            raise DatasetError(f"row {int(i)}: column {clean!r} is not measured (NaN); it cannot be accuracy_clean")
        extra = {f"accuracy_{name}": float(columns[name][i]) for name in named
                 if np.isfinite(columns[name][i])}
        arch = str(from_nb201_string(arch_strings[i], crossbar_size, **options))
        out.append(Record(arch, "nb201", dataset, int(epochs), int(i), value, None, 0.0, __version__,
                          accuracies=extra))
    return out


__all__ = ["load", "cell_ids", "to_vectors", "to_architectures", "align", "to_records"]
