"""Shared pieces of the Python tests: where the fixtures are, and a small
safetensors reader for the golden reference tensors (no extra package)."""
import json
import os
import pathlib
import struct

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = pathlib.Path(os.environ.get("GAZE_SHARED_DIR", ROOT.parent / "shared"))


def fixture(*parts):
    """A path under ../shared; a missing one fails under CI=true, else skips visibly."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing fixture {p} (required under CI)")
        pytest.skip(f"fixture {p} not found")
    return p


def read_safetensors(path):
    """{name: float32 array} of a safetensors file (F32 tensors only)."""
    data = pathlib.Path(path).read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        begin, end = t["data_offsets"]
        if t["dtype"] == "F32":
            out[name] = np.frombuffer(data[8 + size + begin:8 + size + end], dtype="<f4").reshape(t["shape"])
        elif t["dtype"] == "I64":
            out[name] = np.frombuffer(data[8 + size + begin:8 + size + end], dtype="<i8").reshape(t["shape"])
    return out


def golden_case(model, case):
    folder = fixture("golden", model)
    meta = json.loads((folder / "cases" / f"{case}.json").read_text())
    return folder, meta, read_safetensors(folder / "cases" / f"{case}.safetensors")
