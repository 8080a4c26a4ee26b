"""Atomic file writes: nothing fastnax writes is ever left half-written.

A file is written to a temporary sibling, flushed and fsynced, then renamed over the target
(``os.replace`` is atomic on POSIX), so a reader sees the old file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise _about(exc, path) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _about(exc, path) from None
        raise
    fsync_dir(directory)
    return path


def _about(exc: OSError, path: Path) -> OSError:
    """The same error about the user's ``path``, not the temporary sibling it was written through."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` of ``obj`` written atomically (checkpoints, trained weights)."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def finite_json(obj):
    """A copy of ``obj`` with every NaN or infinite float replaced by ``None`` (JSON ``null``).

    Strict JSON has no NaN or Infinity (Python's ``json`` writes them, most other readers refuse
    them): an undefined statistic (a Kendall tau of constant predictions) or an unbounded setting
    is written as ``null``. NumPy scalars and arrays become Python values.
    """
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array
        return finite_json(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps_json(obj, indent: int | None = 2, sort_keys: bool = False, **options) -> str:
    """``json.dumps`` of :func:`finite_json` ``(obj)``: strict JSON, never NaN or Infinity."""
    return json.dumps(finite_json(obj), indent=indent, sort_keys=sort_keys, allow_nan=False, **options)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 2, sort_keys: bool = False) -> Path:
    """Write ``obj`` as strict JSON (:func:`dumps_json`: no NaN, no Infinity) atomically."""
    return atomic_write_text(path, dumps_json(obj, indent=indent, sort_keys=sort_keys) + "\n")
