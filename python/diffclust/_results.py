"""The one family of result types.

Every multi-output result is a frozen dataclass deriving from :class:`Result`:

- its repr is compact -- arrays print as ``dtype[shape]``, floats with 6
  significant digits, never the arrays' contents;
- results for which a tuple is natural (a loss and its gradient) derive from
  :class:`TupleResult` and name the fields they unpack to in ``_unpack``:
  ``loss, grad = partial_fy_loss(...)`` works, as do ``len(r)`` and ``r[0]``;
  the other results do not iterate (use their attributes);
- equality is identity (``eq=False``): comparing arrays field by field has no
  single truth value.

Arrays in results are ordinary writable NumPy arrays owned by the caller.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

__all__ = ["Result", "TupleResult", "summary"]


def summary(value: Any) -> str:
    """A short text for ``value``: ``float32[200, 200]`` for arrays, never their contents."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return summary(value.item())
        return f"{value.dtype}[{', '.join(str(s) for s in value.shape)}]"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    if isinstance(value, Result):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Result:
    """Base of every result type: a compact repr (see the module docstring)."""

    def _repr_head(self) -> dict[str, Any]:
        """Derived sizes shown first in the repr (``n``, ``k``, ...)."""
        return {}

    def __repr__(self) -> str:
        items = [f"{key}={value}" for key, value in self._repr_head().items()]
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.repr:
                items.append(f"{f.name}={summary(getattr(self, f.name))}")
        return f"{type(self).__name__}({', '.join(items)})"


class TupleResult(Result):
    """A result that also unpacks like a tuple of the fields named in ``_unpack``."""

    _unpack: ClassVar[tuple[str, ...]] = ()

    def __iter__(self) -> Iterator[Any]:
        return iter([getattr(self, name) for name in self._unpack])

    def __len__(self) -> int:
        return len(self._unpack)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return tuple(getattr(self, name) for name in self._unpack[index])
        return getattr(self, self._unpack[index])
