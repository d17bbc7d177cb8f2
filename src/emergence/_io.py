"""Small I/O helpers: atomic writes and DataFrame <-> xarray round trips (no pickle)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once at import (single-threaded), not per
    # write, so no other thread ever creates a file under a temporary umask of 0
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` then rename it into place.

    A crash half way leaves either the old file or none, never a truncated one. The file gets
    the permissions of a normal new file (``0o666`` minus the umask), not mkstemp's ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write text atomically (UTF-8)."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write JSON atomically (NaN written as null)."""
    return atomic_write_text(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return None if not np.isfinite(obj) else float(obj)
    return obj


def frame_to_dataset(df: pd.DataFrame, dim: str = "row") -> xr.Dataset:
    """Convert a DataFrame to a Dataset that NetCDF can store; dtypes kept in attrs."""
    data = {}
    kinds = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_bool_dtype(s):
            data[c] = (dim, s.astype(np.int8).to_numpy())
            kinds[c] = "bool"
        elif pd.api.types.is_numeric_dtype(s):
            data[c] = (dim, s.to_numpy(dtype=float))
            kinds[c] = "int" if pd.api.types.is_integer_dtype(s) else "float"
        else:
            data[c] = (dim, np.array(["" if pd.isna(v) else str(v) for v in s], dtype=object))
            kinds[c] = "str"
    ds = xr.Dataset(data)
    ds.attrs["column_kinds"] = json.dumps(kinds)
    ds.attrs["column_order"] = json.dumps([str(c) for c in df.columns])
    return ds


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`frame_to_dataset`."""
    kinds = json.loads(ds.attrs["column_kinds"])
    order = json.loads(ds.attrs["column_order"])
    out = {}
    for c in order:
        v = ds[c].values
        k = kinds[c]
        if k == "bool":
            out[c] = v.astype(bool)
        elif k == "int":
            out[c] = v.astype(np.int64)
        elif k == "float":
            out[c] = v.astype(float)
        else:
            out[c] = [str(x) for x in v]
    return pd.DataFrame(out, columns=order)
