"""Architecture records: one row per trained sample, in CSV or JSON Lines a person can read.

Fields (:class:`Record`): ``arch`` (the canonical architecture string), ``space``, ``dataset``,
``epochs``, ``seed``, ``accuracy_clean`` and ``accuracy_noisy`` (percent; ``accuracy_noisy`` empty
/ ``null`` when not measured), ``train_seconds``, ``fastnax_version``; optionally ``hardware``, the
hardware model whose chips ``accuracy_noisy`` was measured on (``puma-32nm``,
``puma-32nm+rram-wan2022-1d``: a preset and, after ``+``, the non-ideality its chips were simulated
with; empty / absent in files written before the field existed, and a bare ``puma-32nm``,
``neurosim-22nm-rram`` or ``mnsim2`` as written before 2026-12, mean that preset under
``rram-fastnax-default``, its non-ideality then: :func:`chips_name`); then any number of further
*named accuracies*: columns (CSV) or keys (JSON) named ``accuracy_<name>`` (lower-case letters,
digits, underscores; e.g. ``accuracy_analog_drift_86400``), percent, validated like the two above.
A record that did not measure one leaves it empty (CSV) or omits it / writes ``null`` (JSON); a
CSV file's header lists the union of the names its records carry. Other unknown columns are
ignored, as before.

The format follows the file extension: ``.csv`` (a header row, then one row per record),
``.jsonl`` or ``.json`` (one JSON object per line).

Durability
----------
:func:`write_records` writes a temporary file beside the target, fsyncs it and renames it over the
target (``os.replace``), so a reader sees either the old file or the new one. :func:`append_record`
writes one whole line with a single ``write`` call on a file opened for appending, then flushes
and fsyncs: a training run that is killed loses at most the record it was writing.

A killed writer can still leave a *torn last line* (a partial line without its final newline).
:func:`read_records` skips such a line with a logged warning instead of failing: the writer that
resumes retrains that sample and appends it again, and :func:`append_record` first cuts the torn
line off (a last line without newline that *does* parse is kept: hand-edited files often lack the
final newline). A malformed row anywhere else (or a
complete last line that does not parse) is an error naming the file, the line and the field.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import math
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterable, Mapping

from fastnax.io import atomic_write_text
from fastnax.errors import RecordsError

log = logging.getLogger(__name__)

FIELDS = ("arch", "space", "dataset", "epochs", "seed", "accuracy_clean", "accuracy_noisy",
          "train_seconds", "fastnax_version")
#: optional fields: written only when set
OPTIONAL_FIELDS = ("hardware",)
#: the chips of a record that names none (files written before the field existed): ``puma-32nm``
#: under its non-ideality of the time
DEFAULT_HARDWARE = "puma-32nm+rram-fastnax-default"
#: presets whose own non-ideality was ``rram-fastnax-default`` until 2026-12 (``rram-wan2022-1d``
#: since): a record naming one of them bare was measured under the former
LEGACY_CHIPS = ("puma-32nm", "neurosim-22nm-rram", "mnsim2")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl"}
#: the two accuracies every record has a field for
CORE_ACCURACIES = ("accuracy_clean", "accuracy_noisy")
_ACCURACY_NAME = re.compile(r"^accuracy_[a-z0-9_]+$")
_MISSING = ("", "null", "None")


def is_accuracy_name(name) -> bool:
    """Whether ``name`` is a valid accuracy column name (``accuracy_`` + lower-case, digits, ``_``)."""
    return isinstance(name, str) and bool(_ACCURACY_NAME.match(name))


@dataclass(frozen=True)
class Record:
    """One trained sample.

    Parameters
    ----------
    arch : str
        Canonical architecture string (``str(Architecture)``).
    space : str
        Name of the search space the architecture belongs to.
    dataset : str
        Dataset it was trained on (``digits``, ``cifar10``, ``nb201-cifar10``, ...).
    epochs : int
        Training epochs (>= 0).
    seed : int
        Training seed.
    accuracy_clean : float
        Test accuracy in percent (0-100) without hardware non-idealities.
    accuracy_noisy : float or None
        Test accuracy in percent under the hardware model's non-idealities; None if not measured.
    train_seconds : float
        Wall time of the training run in seconds (>= 0).
    fastnax_version : str
        Version of fastnax that produced the record.
    accuracies : mapping of str -> float, optional
        Further named accuracies in percent (names ``accuracy_<name>``, e.g.
        ``accuracy_analog_drift_86400``); None values are dropped. Stored as a sorted tuple of
        ``(name, value)`` pairs (the record stays hashable); read one with :meth:`accuracy`.
    hardware : str, optional
        The hardware model (``HardwareModel.name``) whose simulated chips ``accuracy_noisy`` was
        measured on; None: not stated (read as :data:`DEFAULT_HARDWARE`, see :attr:`chips`).
    """

    arch: str
    space: str
    dataset: str
    epochs: int
    seed: int
    accuracy_clean: float
    accuracy_noisy: float | None
    train_seconds: float
    fastnax_version: str
    accuracies: tuple = ()
    hardware: str | None = None

    def __post_init__(self) -> None:
        row = {name: getattr(self, name) for name in FIELDS}
        checked = _validate(row, where="record")
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "accuracies", _named_accuracies(self.accuracies, where="record"))
        object.__setattr__(self, "hardware", _hardware(self.hardware, where="record"))

    @property
    def chips(self) -> str:
        """The chips of ``accuracy_noisy``, ``PRESET+NONIDEALITY`` (:func:`chips_name` of
        :attr:`hardware`; :data:`DEFAULT_HARDWARE` for a record that does not say)."""
        return chips_name(self.hardware)

    def accuracy(self, name: str) -> float | None:
        """The accuracy (percent) named ``name`` (a core field or a named one); None if not measured."""
        if name in CORE_ACCURACIES:
            return getattr(self, name)
        return dict(self.accuracies).get(name)

    @property
    def accuracy_names(self) -> tuple[str, ...]:
        """Names of the accuracies this record holds a value for."""
        core = tuple(n for n in CORE_ACCURACIES if getattr(self, n) is not None)
        return core + tuple(name for name, _ in self.accuracies)

    def to_dict(self) -> dict:
        """The fields, the optional fields that are set, then the named accuracies, as one flat dict."""
        out = {name: getattr(self, name) for name in FIELDS}
        out.update({name: getattr(self, name) for name in OPTIONAL_FIELDS if getattr(self, name) is not None})
        out.update(self.accuracies)
        return out


def chips_name(hardware: str | None) -> str:
    """The chips a records file's ``hardware`` names, with their non-ideality spelled out.

    None (no field) is :data:`DEFAULT_HARDWARE`; a bare preset of :data:`LEGACY_CHIPS` is that
    preset under ``rram-fastnax-default`` (what the name meant when such records were written);
    anything else is returned as it is (the sampler writes ``PRESET+NONIDEALITY`` since 2026-12,
    :func:`fastnax.hwmodel.chips_name`)."""
    if not hardware:
        return DEFAULT_HARDWARE
    if hardware in LEGACY_CHIPS:
        return f"{hardware}+rram-fastnax-default"
    return hardware


def _hardware(value, where: str) -> str | None:
    if value is None or (isinstance(value, str) and value.strip() in _MISSING):
        return None
    if not isinstance(value, str):
        raise RecordsError(f"{where}: field 'hardware' must be a hardware model name (e.g. 'puma-32nm' or "
                           f"'puma-32nm+pcm-aihwkit'), got {value!r}")
    return value.strip()


def _named_accuracies(values, where: str) -> tuple:
    """Sorted ``(name, value)`` pairs of named accuracies, validated; RecordsError naming ``where``."""
    if isinstance(values, Mapping):
        items = list(values.items())
    else:
        try:
            items = [tuple(pair) for pair in values]
        except TypeError:
            raise RecordsError(f"{where}: accuracies must be a mapping of name -> percent, got "
                               f"{type(values).__name__}") from None
    out = {}
    for item in items:
        if len(item) != 2:
            raise RecordsError(f"{where}: accuracies must be (name, value) pairs, got {item!r}")
        name, value = item
        if not is_accuracy_name(name) or name in CORE_ACCURACIES:
            raise RecordsError(f"{where}: accuracy name {name!r} is not valid; valid: 'accuracy_' followed "
                               f"by lower-case letters, digits or '_', other than {', '.join(CORE_ACCURACIES)}")
        if name in out:
            raise RecordsError(f"{where}: accuracy {name!r} given twice")
        number = _percent(value, name, where, optional=True)
        if number is not None:
            out[name] = number
    return tuple(sorted(out.items()))


def _percent(value, name: str, where: str, optional: bool) -> float | None:
    if optional and (value is None or (isinstance(value, str) and value.strip() in _MISSING)):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise RecordsError(f"{where}: field {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RecordsError(f"{where}: field {name!r} is {value!r}; it must be a finite number")
    if not 0.0 <= number <= 100.0:
        raise RecordsError(f"{where}: field {name!r} = {number:g} is not a percentage; valid: 0 to 100")
    return number


def _row_accuracies(row: dict) -> dict:
    """The named accuracies of one parsed row (keys ``accuracy_*`` beside the core fields)."""
    return {k: v for k, v in row.items() if isinstance(k, str) and k.startswith("accuracy_")
            and k not in CORE_ACCURACIES}


def _record(row: dict, where: str) -> Record:
    return Record(**_validate(row, where=where), accuracies=_named_accuracies(_row_accuracies(row), where),
                  hardware=_hardware(row.get("hardware"), where))


def _validate(row: dict, where: str) -> dict:
    """Checked, typed field values of one row; RecordsError naming ``where`` and the field."""
    missing = [name for name in FIELDS if name not in row]
    if missing:
        raise RecordsError(f"{where}: missing field {missing[0]!r}; a record has the fields {', '.join(FIELDS)}")
    out = {}
    for name in ("arch", "space", "dataset", "fastnax_version"):
        value = row[name]
        if not isinstance(value, str) or not value.strip():
            raise RecordsError(f"{where}: field {name!r} must be a non-empty string, got {value!r}")
        out[name] = value.strip()
    for name in ("epochs", "seed"):
        value = row[name]
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number) or number != int(number):
                raise ValueError
            out[name] = int(number)
        except (TypeError, ValueError):
            raise RecordsError(f"{where}: field {name!r} must be an integer, got {value!r}") from None
    if out["epochs"] < 0:
        raise RecordsError(f"{where}: field 'epochs' must be >= 0, got {out['epochs']}")
    for name in CORE_ACCURACIES:
        out[name] = _percent(row[name], name, where, optional=name == "accuracy_noisy")
    for name in ("train_seconds",):
        value = row[name]
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise RecordsError(f"{where}: field {name!r} must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise RecordsError(f"{where}: field {name!r} is {value!r}; it must be a finite number")
        if number < 0:
            raise RecordsError(f"{where}: field 'train_seconds' = {number:g} must be >= 0")
        out[name] = number
    return out


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise RecordsError(f"records file {str(path)!r} has extension {path.suffix!r}; expected one of: "
                           f"{', '.join(FORMATS)}")
    return fmt


def read_records(path: str | os.PathLike) -> list[Record]:
    """Records of a CSV or JSON Lines file (chosen by extension).

    Raises
    ------
    RecordsError
        Missing or empty file, unknown extension, or a malformed row (the message names the file,
        the line number and the field). A torn last line (no final newline, does not parse) is
        skipped with a warning instead (see the module docstring).
    """
    path = Path(path)
    fmt = _format_of(path)
    try:
        data = path.read_bytes()
        if data.startswith(codecs.BOM_UTF8):  # Excel's "CSV UTF-8" starts with one
            log.warning("%s: starts with a UTF-8 byte-order mark; reading the file without it", path)
            data = data[len(codecs.BOM_UTF8):]
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise RecordsError(f"records file {str(path)!r} does not exist") from None
    except UnicodeDecodeError as exc:
        raise RecordsError(f"records file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines(keepends=True)
    torn = bool(lines) and not lines[-1].endswith(("\n", "\r"))
    records = _read_csv(path, lines, torn) if fmt == "csv" else _read_jsonl(path, lines, torn)
    if not records:
        raise RecordsError(f"records file {str(path)!r} holds no record")
    _check_scale(path, records)
    datasets = sorted({r.dataset for r in records})
    if len(datasets) > 1:
        counts = ", ".join(f"{d}: {sum(r.dataset == d for r in records)}" for d in datasets)
        log.warning("%s: records of %d datasets (%s); a predictor fitted on them mixes their accuracies",
                    path, len(datasets), counts)
    chips = sorted({r.chips for r in records if r.accuracy_noisy is not None})
    if len(chips) > 1:
        counts = ", ".join(f"{c}: {sum(r.chips == c for r in records if r.accuracy_noisy is not None)}"
                           for c in chips)
        log.warning("%s: accuracy_noisy measured on %d hardware models (%s); a predictor of it fitted on "
                    "them mixes different chips", path, len(chips), counts)
    return records


def _check_scale(path: Path, records: list[Record]) -> None:
    """Refuse accuracies that are all 0-1 fractions: fastnax reads percent (0-100)."""
    values = [v for r in records for v in (r.accuracy_clean, r.accuracy_noisy) if v is not None]
    if values and 0 < max(values) <= 1.0:
        raise RecordsError(f"records file {str(path)!r}: every accuracy is between 0 and 1 (max "
                           f"{max(values):g}); accuracies are percent (0-100): multiply the fractions by 100")


def _records(path: Path, lines: list[str], first: int, torn: bool, parse) -> list[Record]:
    """Records of ``lines[first - 1:]`` (``first``: the 1-based number of the first data line).

    ``parse(lineno, line) -> dict`` reads one line (raising RecordsError); blank lines are skipped.
    A last line the writer left without its newline (``torn``) that does not parse is skipped
    with a warning: an interrupted writer rewrites that record when it resumes.
    """
    records = []
    for lineno in range(first, len(lines) + 1):
        line = lines[lineno - 1]
        if not line.strip():
            continue
        try:
            records.append(_record(parse(lineno, line), where=f"{path}:{lineno}"))
        except RecordsError as exc:
            if not (torn and lineno == len(lines)):
                raise
            log.warning("%s:%d: skipping a torn last line (a writer was interrupted; it will rewrite the "
                        "record when it resumes): %s", path, lineno, exc)
    return records


def _read_jsonl(path: Path, lines: list[str], torn: bool) -> list[Record]:
    def parse(lineno: int, line: str) -> dict:
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordsError(f"{path}:{lineno}: not a JSON object ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise RecordsError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        return row

    return _records(path, lines, 1, torn, parse)


def _read_csv(path: Path, lines: list[str], torn: bool) -> list[Record]:
    if not lines or not lines[0].strip():
        raise RecordsError(f"records file {str(path)!r} is empty; expected a header row with {', '.join(FIELDS)}")
    header = next(csv.reader([lines[0]]))
    header = [h.strip() for h in header]
    missing = [name for name in FIELDS if name not in header]
    if missing:
        raise RecordsError(f"{path}:1: header lacks field {missing[0]!r}; expected the fields {', '.join(FIELDS)}")

    def parse(lineno: int, line: str) -> dict:
        try:
            values = next(csv.reader([line]))
        except csv.Error as exc:
            raise RecordsError(f"{path}:{lineno}: malformed CSV row ({exc})") from None
        if len(values) != len(header):
            raise RecordsError(f"{path}:{lineno}: {len(values)} fields, the header has {len(header)}")
        return dict(zip(header, values))

    return _records(path, lines, 2, torn, parse)


def _columns(records: Iterable[Record]) -> list[str]:
    """CSV columns of some records: the fields, the optional fields some record sets, then the
    union of their named accuracies (sorted)."""
    records = list(records)
    optional = [name for name in OPTIONAL_FIELDS if any(getattr(r, name) is not None for r in records)]
    names = sorted({name for r in records for name, _ in r.accuracies})
    return list(FIELDS) + optional + names


def _line(record: Record, fmt: str, columns: list[str] | None = None) -> str:
    row = record.to_dict()
    if fmt == "jsonl":
        return json.dumps(row, sort_keys=False, allow_nan=False) + "\n"  # records are finite
    columns = list(FIELDS) if columns is None else columns
    if "hardware" not in columns and "hardware" in row and chips_name(row["hardware"]) == DEFAULT_HARDWARE:
        del row["hardware"]  # a file without the column reads as the default: the same record
    extra = [name for name in row if name not in columns]
    if extra:
        raise RecordsError(f"record has field {extra[0]!r}, which is not a column of the CSV file "
                           f"(columns: {', '.join(columns)}); write the file anew with write_records")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row.get(k) is None else row[k] for k in columns])
    return buf.getvalue()


def _header(fmt: str, columns: list[str] | None = None) -> str:
    return ",".join(list(FIELDS) if columns is None else columns) + "\n" if fmt == "csv" else ""


def accuracy_names(records: Iterable[Record]) -> list[str]:
    """Every accuracy name some record holds a value for (core fields first, then sorted names)."""
    records = list(records)
    core = [n for n in CORE_ACCURACIES if any(getattr(r, n) is not None for r in records)]
    return core + sorted({name for r in records for name, _ in r.accuracies})


def _check(records: Iterable[Record]) -> list[Record]:
    records = list(records)
    for r in records:
        if not isinstance(r, Record):
            raise RecordsError(f"expected Record objects, got {type(r).__name__}")
    return records


def write_records(path: str | os.PathLike, records: Iterable[Record]) -> Path:
    """Write records atomically (temporary file, fsync, ``os.replace``); returns the path.

    A CSV file's header is the fields followed by every named accuracy any record carries.
    """
    path = Path(path)
    fmt = _format_of(path)
    records = _check(records)
    columns = _columns(records)
    text = _header(fmt, columns) + "".join(_line(r, fmt, columns) for r in records)
    atomic_write_text(path, text)
    return path


def _csv_header(line: bytes) -> list[str] | None:
    """The columns of a CSV header line, or None when the line is not a records header."""
    try:
        values = [v.strip() for v in next(csv.reader([line.decode("utf-8-sig")]))]
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    return values if all(name in values for name in FIELDS) else None


def _parses(line: bytes, fmt: str, path: Path, header: list[str] | None = None) -> bool:
    """Whether one line is a complete, valid record (a CSV header line counts as complete)."""
    try:
        text = line.decode("utf-8")
        if fmt == "jsonl":
            row = json.loads(text)
            if not isinstance(row, dict):
                return False
            _record(row, where=str(path))
        else:
            if _csv_header(line) is not None:
                return True
            values = next(csv.reader([text]))
            header = list(FIELDS) if header is None else header
            if len(values) != len(header):
                return False
            _record(dict(zip(header, values)), where=str(path))
    except (UnicodeDecodeError, json.JSONDecodeError, csv.Error, RecordsError, TypeError, StopIteration):
        return False
    return True


def append_record(path: str | os.PathLike, record: Record) -> Path:
    """Append one record as one whole line, then flush and fsync (creates the file if needed).

    A torn last line left by a killed writer (a partial line that does not parse) is removed
    first, with a logged warning: the writer that resumes is rewriting that record. A complete
    last record that merely lacks its newline (a hand-edited file) is kept and terminated.
    """
    path = Path(path)
    fmt = _format_of(path)
    (record,) = _check([record])
    path.parent.mkdir(parents=True, exist_ok=True)
    new_columns = _columns([record])
    with open(path, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        prefix = b""
        columns = new_columns
        if size == 0:
            prefix = _header(fmt, columns).encode()
        else:
            if fmt == "csv":
                fh.seek(0)
                header = _csv_header(fh.readline())
                columns = header if header is not None else list(FIELDS)
            fh.seek(max(0, size - 65536))
            tail = fh.read()
            if not tail.endswith((b"\n", b"\r")):
                cut = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
                last = tail[cut + 1:]
                if _parses(last, fmt, path, columns):
                    prefix = b"\n"  # a complete record without its final newline (hand-edited)
                else:
                    # a torn line left by a killed writer: drop it; its record is being rewritten
                    log.warning("%s: removing a torn last line before appending (%d bytes)", path, len(last))
                    fh.truncate(size - len(last))
                    if size - len(last) == 0:
                        columns = new_columns
                        prefix = _header(fmt, columns).encode()
        line = _line(record, fmt, columns)  # before writing: a record with a new column is refused
        fh.seek(0, os.SEEK_END)
        fh.write(prefix + line.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    return path


__all__ = ["Record", "FIELDS", "OPTIONAL_FIELDS", "DEFAULT_HARDWARE", "LEGACY_CHIPS", "chips_name", "CORE_ACCURACIES", "is_accuracy_name", "accuracy_names", "read_records", "write_records", "append_record", "atomic_write_text"]
