"""Small I/O helpers: atomic writes, output-path checks, CSV neutralisation and DataFrame <->
xarray round trips (no pickle)."""

from __future__ import annotations

import glob
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
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
#: Age after which a temporary file of an unknown writer (no pid in its name) counts as stale.
STALE_TMP_SECONDS = 3600.0
_TMP_PID = re.compile(r"\.pid(\d+)\.")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_stale_tmp(path: str | Path) -> list[Path]:
    """Remove temporary files left beside ``path`` by a writer that was killed (SIGKILL).

    :func:`atomic_write` names its temporary file ``.NAME.pidPID.XXXX.tmp``; one whose process
    is gone is removed (a file without a pid, from an older version, once it is an hour old).
    Returns the removed paths.
    """
    path = Path(path)
    removed = []
    for name in glob.glob(glob.escape(str(path.parent / f".{path.name}.")) + "*.tmp"):
        tmp = Path(name)
        m = _TMP_PID.search(tmp.name[len(path.name) + 1:])
        try:
            stale = (not _pid_alive(int(m.group(1))) if m else
                     time.time() - tmp.stat().st_mtime > STALE_TMP_SECONDS)
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # vanished meanwhile, or not ours to remove
            continue
    return removed


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path`` then rename it into place.

    A crash half way leaves either the old file or none, never a truncated one; the temporary
    file is removed on any failure (including Ctrl-C), and temporary files left by a killed
    writer are cleaned on the next write (:func:`clean_stale_tmp`). The file gets the
    permissions of a normal new file (``0o666`` minus the umask), not mkstemp's ``0o600``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", lambda p: p.write_text("hi")).read_text()
    'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
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


#: Allowed extensions of each kind of output file (checked before any work is done).
NETCDF = (".nc",)
CSV = (".csv",)
JSON = (".json",)
REPORT = (".html", ".pdf")
FIGURE = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff", ".webp")


def decode_utf8(data: bytes, path: str | Path, advice: str) -> str:
    """``data`` as UTF-8 text, or an error naming the file, the line and the offending byte,
    followed by ``advice`` (what the file probably is and how to re-save it)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from .errors import EmergenceDataError

        line = data[:exc.start].count(b"\n") + 1
        raise EmergenceDataError(
            f"{str(path)!r} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
            f"cannot be decoded {advice}") from None


def check_output_paths(*specs: tuple[str, str | Path | None, Sequence[str]]) -> None:
    """Check output files before any work: ``(option, path, allowed extensions)`` per output.

    A path of ``None`` is skipped. Each path must not be a folder, must have one of its allowed
    extensions, and its folder must exist (or be creatable: the nearest existing parent is a
    writable folder); two outputs may not share a path.

    Raises
    ------
    EmergenceDataError
        Naming the option, the path and the fix.

    Examples
    --------
    >>> check_output_paths(("--summary", None, CSV))
    >>> check_output_paths(("--summary", "out.txt", CSV))
    Traceback (most recent call last):
    ...
    emergence.errors.EmergenceDataError: --summary 'out.txt' must end in .csv; ...
    """
    from .errors import EmergenceDataError

    seen: dict[Path, str] = {}
    for option, raw, exts in specs:
        if raw is None:
            continue
        path = Path(raw)
        where = f"{option} {str(path)!r}"
        if path.is_dir():
            raise EmergenceDataError(f"{where} is a folder; give a file name inside it, e.g. "
                                     f"{str(path / ('out' + exts[0]))!r}.")
        if path.suffix.lower() not in exts:
            raise EmergenceDataError(f"{where} must end in {' or '.join(exts)}; rename it, e.g. "
                                     f"{str(path.with_suffix(exts[0]))!r}.")
        parent = path.absolute().parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise EmergenceDataError(f"{where}: {str(parent)!r} is a file, not a folder; choose "
                                     "another output folder.")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise EmergenceDataError(f"{where}: the folder {str(parent)!r} is not writable; "
                                     "choose a folder you can write to.")
        key = path.absolute()
        if key in seen:
            raise EmergenceDataError(f"{where} is also the path of {seen[key]}; give each output "
                                     "its own file.")
        seen[key] = option


#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells starting with ``= + - @`` (or tab / CR) get a leading ``'``.

    Spreadsheets run such cells as formulas (``=HYPERLINK(...)`` in a task name); the quote
    makes them plain text. Numbers are not touched.

    Examples
    --------
    >>> csv_safe(pd.DataFrame({"task": ["=1+1", "ok"], "x": [-1.0, 2.0]}))["task"].tolist()
    ["'=1+1", 'ok']
    """
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(
                FORMULA_START) else v)
    return out


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV atomically, without index, neutralising formula-like text cells."""
    safe = csv_safe(df)
    return atomic_write(path, lambda p: safe.to_csv(p, index=False))


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
