"""Every JSON fastnax writes is strict JSON (no NaN, no Infinity), and write errors name the
user's path, not the temporary file the atomic write goes through."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fastnax.io import atomic_write_json, atomic_write_text, dumps_json, finite_json


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_strict_loads_can_fail():
    with pytest.raises(ValueError, match="NaN"):
        strict_loads(json.dumps({"a": float("nan")}))


def test_dumps_json_writes_null_for_non_finite_values():
    obj = {"tau": float("nan"), "budget": float("inf"), "low": -math.inf, "ok": 1.5,
           "arr": np.array([1.0, np.nan]), "np": np.float64("inf"), "i": np.int64(7), "nested": [{"x": math.nan}]}
    text = dumps_json(obj)
    back = strict_loads(text)
    assert back == {"tau": None, "budget": None, "low": None, "ok": 1.5, "arr": [1.0, None], "np": None, "i": 7,
                    "nested": [{"x": None}]}
    assert finite_json({"a": (1, 2)}) == {"a": [1, 2]}
    # finite data: byte-identical to json.dumps (so deterministic files keep their bytes)
    finite = {"b": 1, "a": [0.1, 2e300], "s": "é"}
    assert dumps_json(finite, indent=2, sort_keys=True) == json.dumps(finite, indent=2, sort_keys=True)


def test_atomic_write_json_is_strict(tmp_path):
    path = atomic_write_json(tmp_path / "r.json", {"x": float("nan")})
    assert strict_loads(path.read_text()) == {"x": None}


@pytest.mark.parametrize("target", ["/proc/fastnax-cannot-write.json", "/proc/self/fastnax.json"])
def test_write_errors_name_the_users_path(target):
    with pytest.raises(OSError) as info:
        atomic_write_text(target, "{}")
    assert info.value.filename == target
    assert ".tmp" not in str(info.value)


def test_write_error_under_a_regular_file_names_a_user_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError) as info:
        atomic_write_text(blocker / "out.json", "{}")
    assert ".tmp" not in str(info.value) and str(blocker) in str(info.value.filename)
