"""Reading a user's data for ``diffclust cluster``: CSV/TSV/text, .npy, .npz.

Every problem is a :class:`UsageError` whose one-line message says where it is
(line numbers count from 1, as an editor shows them; columns by header name when
there is a header, and by 1-based index always).

Text files: blank lines and lines starting with ``#`` are skipped. The delimiter is
sniffed from the first line: a tab, else a comma, else a semicolon, else runs of
whitespace (quoted fields holding the delimiter are not supported; one pair of
quotes around a field is removed). The first row is a header when any of its fields
is not a number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ._errors import UsageError

__all__ = ["Table", "load_points"]

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Table:
    """Points read from a file: X (n, d) float64, column names, what was detected."""

    X: NDArray[np.float64]
    columns: list[str]
    detail: str


def _column(columns: list[str] | None, j: int) -> str:
    if columns is not None:
        return f"column {columns[j]!r} ({j + 1})"
    return f"column {j + 1}"


def _sniff(line: str) -> str | None:
    """The delimiter of ``line``: tab, comma, semicolon, or None for whitespace."""
    for delimiter in ("\t", ",", ";"):
        if delimiter in line:
            return delimiter
    return None


def _split(line: str, delimiter: str | None) -> list[str]:
    """Fields of ``line``, stripped of blanks and of one pair of surrounding quotes."""
    fields = _WHITESPACE.split(line.strip()) if delimiter is None else line.split(delimiter)
    out = []
    for field in fields:
        field = field.strip()
        if len(field) >= 2 and field[0] == field[-1] and field[0] in "\"'":
            field = field[1:-1].strip()
        out.append(field)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path: str) -> Table:
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (expected CSV/TSV, .npy or .npz)") from None
    numbered = [(i + 1, line) for i, line in enumerate(lines)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise UsageError(f"{path}: no data (the file is empty or only comments)")
    delimiter = _sniff(numbered[0][1])
    first = _split(numbered[0][1], delimiter)
    header = not all(_is_number(field) for field in first)
    columns = [name or f"column {j + 1}" for j, name in enumerate(first)] if header else None
    data = numbered[1:] if header else numbered
    width = len(first)
    X = np.empty((len(data), width))
    for r, (lineno, line) in enumerate(data):
        fields = _split(line, delimiter)
        if len(fields) != width:
            raise UsageError(f"{path}, line {lineno}: malformed row, {len(fields)} fields where "
                             f"the first {'(header) ' if header else ''}row has {width}")
        for j, field in enumerate(fields):
            try:
                value = float(field) if field else float("nan")
            except ValueError:
                raise UsageError(f"{path}: {_column(columns, j)} is not numeric "
                                 f"(line {lineno} holds {field!r})") from None
            if not np.isfinite(value):
                what = "an empty field" if not field else f"{field!r}"
                raise UsageError(f"{path}, line {lineno}, {_column(columns, j)}: {what} "
                                 "(NaN or infinity); remove or impute it")
            X[r, j] = value
    names = columns if columns is not None else [f"x{j + 1}" for j in range(width)]
    kind = {"\t": "tab", ",": "comma", ";": "semicolon", None: "whitespace"}[delimiter]
    detail = f"{kind}-separated, {'with a header' if header else 'no header'}"
    return Table(X, names, detail)


def _from_array(path: str, a: NDArray[np.generic], what: str) -> Table:
    if a.dtype.kind not in "biuf":
        raise UsageError(f"{path}: {what} has dtype {a.dtype}, expected numbers")
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise UsageError(f"{path}: {what} has shape {a.shape}, expected (n, d)")
    X = np.ascontiguousarray(a, dtype=np.float64)
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        r, j = bad[0]
        raise UsageError(f"{path}: {what} holds NaN or infinity (first at row {r}, column {j}); "
                         "remove or impute it")
    return Table(X, [f"x{j + 1}" for j in range(X.shape[1])], what)


def _read_npz(path: str, key: str | None) -> Table:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if not names:
            raise UsageError(f"{path}: the archive holds no array")
        name = names[0] if key is None else key
        if name not in names:
            raise UsageError(f"{path}: no array {key!r}; the archive holds {', '.join(names)}")
        return _from_array(path, archive[name], f"array {name!r}")


def load_points(path: str, key: str | None = None) -> Table:
    """Read points from ``path`` (.npy, .npz: first array or ``key``; anything else as text).

    Raises
    ------
    UsageError
        Missing or unreadable file, malformed row (its line), non-numeric column (its
        name and index), NaN or infinity (where), an array that is not (n, d) numbers.
    """
    if not os.path.exists(path):
        raise UsageError(f"no such file: {path}")
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory, not a data file")
    suffix = os.path.splitext(path)[1].lower()
    if key is not None and suffix != ".npz":
        raise UsageError("--key applies to .npz archives only")
    try:
        if suffix == ".npy":
            return _from_array(path, np.load(path, allow_pickle=False), ".npy array")
        if suffix == ".npz":
            return _read_npz(path, key)
        return _read_text(path)
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:  # a corrupt .npy/.npz, or one that needs pickle
        raise UsageError(f"cannot read {path}: {err}") from None
