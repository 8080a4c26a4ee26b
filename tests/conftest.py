"""Shared fixtures: the path of the reference data beside the repository, skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    """Path of a reference-data file, or skip the test naming the missing file."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"reference data not found: {path} (it lives in ../shared/data beside the repository)")
    return path
