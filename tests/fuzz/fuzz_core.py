#!/usr/bin/env python3
"""Atheris harness for the compiled module ``diffclust._core`` (and ``_core._testing``).

Every input (a byte string from libFuzzer) is decoded into one call of one entry
point: the function, then each argument in the order its pybind11 signature
lists them. Arrays get shapes that are mostly consistent with each other (a
shared n, k, d, m, batch) so that calls pass the shape checks and reach the
kernels, and sometimes arbitrary shapes; dtypes float64/float32/float16/int/
uint/bool/complex/object; C, Fortran, strided, negative-stride and transposed
views; NaN, inf, huge and tied values. Integer arguments range from the normal
(k in [1, n], a few threads) to the absurd (0, -1, 2**31, 2**63 - 1, 2**64).

A finding is a crash (ASan/UBSan report, signal) or an exception other than
ValueError, TypeError, IndexError, MemoryError, OverflowError or
KeyboardInterrupt. The signatures are read from the docstrings at start-up, so
the harness follows the bindings as they change. See README.md for how to run it
against the sanitizer build.

Environment:
  DIFFCLUST_FUZZ_ONLY=regex     fuzz only the entry points whose name matches
  DIFFCLUST_FUZZ_SKIP=regex     leave out the entry points whose name matches
  DIFFCLUST_FUZZ_VERBOSE=1      print each call (name and argument summary)
  DIFFCLUST_FUZZ_REPRO=1        print each call as a self-contained Python snippet
  DIFFCLUST_FUZZ_DRYRUN=1       decode and print the calls, make none (used by triage.py)
"""

from __future__ import annotations

import os
import re
import sys

import atheris
import numpy as np

import diffclust._core as core

ALLOWED = (ValueError, TypeError, IndexError, MemoryError, OverflowError, KeyboardInterrupt)

# --------------------------------------------------------------------------- signatures

_DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "uint8": np.uint8,
    "bool": np.bool_,
}


def _split_top(s: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def _parse_param(p: str) -> tuple[str, str, object, bool]:
    """(name, kind, dtype, optional) from 'name: type' in a pybind11 signature."""
    name, _, typ = p.partition(":")
    name, typ = name.strip(), typ.strip()
    if "=" in typ:
        typ = typ.split("=")[0].strip()
    optional = "None" in typ or "Optional" in typ
    if "ArrayLike" in typ or "NDArray" in typ or "numpy.ndarray" in typ:
        m = re.search(r"numpy\.(float64|float32|float16|int64|int32|uint32|uint64|uint8|bool)", typ)
        return name, "array", _DTYPES[m.group(1)] if m else np.float64, optional
    if "SupportsInt" in typ or re.fullmatch(r"int( \| None)?", typ):
        return name, "int", None, optional
    if "SupportsFloat" in typ or re.fullmatch(r"float( \| None)?", typ):
        return name, "float", None, optional
    if typ.startswith("bool"):
        return name, "bool", None, optional
    if typ.startswith("str"):
        return name, "str", None, optional
    return name, "any", None, optional


def _signatures(fn) -> list[list[tuple[str, str, object, bool]]]:
    doc = fn.__doc__ or ""
    sigs = []
    for line in doc.splitlines():
        m = re.match(r"^(?:\d+\. )?(\w+)\((.*)\) -> ", line)
        if m and m.group(1) == fn.__name__:
            sigs.append([_parse_param(p) for p in _split_top(m.group(2)) if p and p != "*"])
    return sigs


def _entry_points() -> list[tuple[str, object, list]]:
    mods = [("", core)]
    testing = getattr(core, "_testing", None)
    if testing is not None:
        mods.append(("_testing.", testing))
    only = os.environ.get("DIFFCLUST_FUZZ_ONLY")
    skip = os.environ.get("DIFFCLUST_FUZZ_SKIP")
    eps = []
    for prefix, mod in mods:
        for name in sorted(dir(mod)):
            fn = getattr(mod, name)
            if name.startswith("__") or not callable(fn) or isinstance(fn, type):
                continue
            full = prefix + name
            if only and not re.search(only, full):
                continue
            if skip and re.search(skip, full):
                continue
            sigs = _signatures(fn)
            if sigs:
                eps.append((full, fn, sigs))
    return eps


ENTRY_POINTS = _entry_points()
VERBOSE = os.environ.get("DIFFCLUST_FUZZ_VERBOSE") == "1"
REPRO = os.environ.get("DIFFCLUST_FUZZ_REPRO") == "1"
DRYRUN = os.environ.get("DIFFCLUST_FUZZ_DRYRUN") == "1"

# --------------------------------------------------------------------------- value palettes

_ODD_INTS = [0, -1, -2, 1 << 31, (1 << 31) - 1, 1 << 32, 1 << 40, (1 << 63) - 1, -(1 << 63), 1 << 63, 1 << 64]
_THREADS = [1, 1, 2, 3, 7, 0, -1, 4096, 4097, 1 << 31, 1 << 40, (1 << 63) - 1, -(1 << 63)]
_FLOATS = [1.0, 0.5, 2.0, 1e-3, 0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e-300, 1e300, 5e-324]
_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 1.0, 65504.0, 1e-7]
_STRINGS = {
    "metric": ["euclidean", "sqeuclidean", "cosine", "manhattan", "cityblock", "l1", "l2", "chebyshev",
               "precomputed", "", "EUCLIDEAN", "euclidean\x00", "é"],
    "covariance_type": ["full", "diag", "spherical", "tied", "", "FULL"],
    "average_method": ["arithmetic", "geometric", "min", "max", "", "mean"],
}
_OTHER_DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int32, np.uint8, np.uint64, np.bool_,
                 np.complex128, object]
_INDEX_NAMES = {"labels", "labels_true", "labels_pred", "kept_labels", "medoids", "must_link", "cannot_link",
                "edges", "kept_edges", "indices", "indptr", "counter", "key"}


class Ctx:
    """The sizes shared by the arguments of one call."""

    def __init__(self, fdp: atheris.FuzzedDataProvider) -> None:
        big = fdp.ConsumeIntInRange(0, 15) == 0
        self.n = fdp.ConsumeIntInRange(0, 64 if big else 10)
        r = fdp.ConsumeIntInRange(0, 9)
        if r < 5:
            self.k = fdp.ConsumeIntInRange(1, max(1, self.n))
        elif r == 5:
            self.k = self.n
        elif r == 6:
            self.k = self.n + fdp.ConsumeIntInRange(1, 3)
        else:
            self.k = fdp.PickValueInList(_ODD_INTS)
        self.kk = self.k if 0 <= self.k <= 70 else fdp.ConsumeIntInRange(0, 5)  # k usable as an array size
        self.d = fdp.ConsumeIntInRange(0, 5)
        self.m = fdp.ConsumeIntInRange(0, 2 * self.n + 2)
        self.b = fdp.ConsumeIntInRange(1, 3)  # batch of matrices
        self.samples = fdp.ConsumeIntInRange(1, 4)  # n_samples when it is normal
        self.seed = fdp.ConsumeIntInRange(0, 1 << 30)
        self.rng = np.random.default_rng(self.seed)


def _shape_for(name: str, ctx: Ctx, fdp: atheris.FuzzedDataProvider) -> tuple[int, ...]:
    n, k, d, m = ctx.n, ctx.kk, ctx.d, ctx.m
    if name == "S":
        return (ctx.b, n, n) if fdp.ConsumeIntInRange(0, 4) == 0 else (n, n)
    if name in ("D", "W", "grad_adjacency", "grad_connectivity"):
        return (n, n)
    if name in ("X", "Z"):
        return (n, d)
    if name == "Y":
        return (m, d)
    if name in ("labels", "labels_true", "labels_pred"):
        return (n,)
    if name == "kept_labels":
        return (ctx.samples, n)
    if name == "kept_edges":
        return (ctx.samples, max(n - k, 0), 2)
    if name in ("must_link", "cannot_link", "edges"):
        return (m, 2)
    if name == "medoids":
        return (k,)
    if name in ("centers", "means"):
        return (k, d)
    if name == "weights":
        return (m,) if fdp.ConsumeBool() else (k,)
    if name == "covariances":
        return fdp.PickValueInList([(k, d, d), (k, d), (k,), (d, d)])
    if name in ("P", "target"):
        return (n, k)
    if name == "indptr":
        return (n + 1,)
    if name in ("indices", "data"):
        return (m,)
    if name == "counter":
        return (4,)
    if name == "key":
        return (2,)
    return tuple(fdp.ConsumeIntInRange(0, 6) for _ in range(fdp.ConsumeIntInRange(0, 3)))


def _values(name: str, shape: tuple[int, ...], dtype, ctx: Ctx, fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    size = int(np.prod(shape, dtype=np.int64))
    rng = ctx.rng
    if name in _INDEX_NAMES:
        r = fdp.ConsumeIntInRange(0, 7)
        hi = {"medoids": ctx.n, "must_link": ctx.n, "cannot_link": ctx.n, "edges": ctx.n, "indices": ctx.n,
              "kept_edges": ctx.n, "counter": 1 << 32, "key": 1 << 32}.get(name, max(ctx.kk, 1))
        if name == "indptr":
            v = np.sort(rng.integers(0, ctx.m + 1, size=size))
            if size:
                v[0] = 0
                v[-1] = ctx.m
            if r == 0 and size:
                v[rng.integers(0, size)] = fdp.PickValueInList([-1, ctx.m + 1, 1 << 40])
            return v.astype(np.int64).reshape(shape)
        if r < 5:
            v = rng.integers(0, max(hi, 1), size=size)
        elif r == 5:
            v = rng.integers(-2, hi + 3, size=size)
        elif r == 6:
            v = np.full(size, fdp.PickValueInList([0, -1, hi, 1 << 31, (1 << 62), -(1 << 62)]))
        else:
            v = rng.integers(-(1 << 62), 1 << 62, size=size)
        return v.reshape(shape)
    r = fdp.ConsumeIntInRange(0, 9)
    if r == 0:
        v = np.full(size, fdp.PickValueInList(_SPECIAL))  # all tied (or all NaN, ...)
    elif r == 1:
        v = rng.integers(0, 3, size=size).astype(np.float64)  # many ties
    else:
        v = rng.standard_normal(size)
        if name in ("D", "W", "weights", "P", "target", "data", "covariances"):
            v = np.abs(v)
    if size and fdp.ConsumeIntInRange(0, 3) == 0:
        for _ in range(fdp.ConsumeIntInRange(1, 3)):
            v[rng.integers(0, size)] = fdp.PickValueInList(_SPECIAL)
    v = v.reshape(shape)
    if len(shape) == 2 and shape[0] == shape[1] and fdp.ConsumeIntInRange(0, 2) > 0:
        v = (v + v.T) / 2  # symmetric, as a similarity or dissimilarity is
        if name == "D":
            np.fill_diagonal(v, 0.0)
    return v


def _layout(a: np.ndarray, fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    r = fdp.ConsumeIntInRange(0, 7)
    if r <= 3 or a.ndim == 0:
        return a
    if r == 4:
        return np.asfortranarray(a)
    if r == 5:  # every other element of a twice larger buffer
        big = np.empty(tuple(2 * s for s in a.shape), dtype=a.dtype)
        view = big[tuple(slice(None, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if r == 6:  # negative strides, same values reversed
        return a[tuple(slice(None, None, -1) for _ in a.shape)]
    return a.T if a.ndim >= 2 else a[::-1]


def _array(name: str, dtype, ctx: Ctx, fdp: atheris.FuzzedDataProvider) -> object:
    r = fdp.ConsumeIntInRange(0, 11)
    if r == 11:  # not an array at all
        return fdp.PickValueInList([[], [[1.0]], "abc", 3, 1.5, None, [[1, 2], [3]]])
    if r == 10:
        shape = tuple(fdp.ConsumeIntInRange(0, 7) for _ in range(fdp.ConsumeIntInRange(0, 4)))
    else:
        shape = _shape_for(name, ctx, fdp)
    v = _values(name, shape, dtype, ctx, fdp)
    want = dtype if fdp.ConsumeIntInRange(0, 4) > 0 else fdp.PickValueInList(_OTHER_DTYPES)
    with np.errstate(all="ignore"):
        if want is object:
            a = v.astype(object)
        elif np.issubdtype(np.dtype(want), np.integer) and v.dtype.kind == "f":
            a = np.nan_to_num(v, posinf=1e18, neginf=-1e18).astype(want)
        else:
            a = v.astype(want)
    return _layout(a, fdp)


def _int(name: str, ctx: Ctx, fdp: atheris.FuzzedDataProvider) -> int:
    odd = fdp.ConsumeIntInRange(0, 9) == 0
    if name == "k":
        return ctx.k
    if name == "n":
        return fdp.PickValueInList(_ODD_INTS) if odd else ctx.n
    if name == "n_threads":
        return fdp.PickValueInList(_THREADS)
    if name == "n_samples":
        return fdp.PickValueInList([0, -1, 1 << 31, 1 << 62, (1 << 63) - 1, 1 << 64]) if odd else ctx.samples
    if name in ("seed", "sample"):
        return fdp.PickValueInList([0, -1, (1 << 64) - 1, 1 << 64, -(1 << 63)]) if odd else fdp.ConsumeInt(8)
    if name == "max_iter":
        return fdp.PickValueInList([0, -1, 1 << 31, (1 << 63) - 1]) if odd else fdp.ConsumeIntInRange(0, 20)
    return fdp.PickValueInList(_ODD_INTS) if odd else fdp.ConsumeIntInRange(0, 10)


def _float(name: str, fdp: atheris.FuzzedDataProvider) -> float:
    return fdp.PickValueInList(_FLOATS) if fdp.ConsumeBool() else fdp.ConsumeRegularFloat()


def _str(name: str, fdp: atheris.FuzzedDataProvider) -> str:
    choices = _STRINGS.get(name)
    if choices and fdp.ConsumeIntInRange(0, 7) > 0:
        return fdp.PickValueInList(choices)
    return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 12))


def make_call(data: bytes) -> tuple[str, object, list]:
    fdp = atheris.FuzzedDataProvider(data)
    name, fn, sigs = ENTRY_POINTS[fdp.ConsumeIntInRange(0, len(ENTRY_POINTS) - 1)]
    sig = sigs[fdp.ConsumeIntInRange(0, len(sigs) - 1)]
    ctx = Ctx(fdp)
    args: list = []
    for pname, kind, dtype, optional in sig:
        if optional and fdp.ConsumeIntInRange(0, 2) == 0:
            args.append(None)
        elif kind == "array":
            args.append(_array(pname, dtype, ctx, fdp))
        elif kind == "int":
            args.append(_int(pname, ctx, fdp))
        elif kind == "float":
            args.append(_float(pname, fdp))
        elif kind == "bool":
            args.append(fdp.ConsumeBool())
        elif kind == "str":
            args.append(_str(pname, fdp))
        else:
            args.append(None)
    return name, fn, args


def describe(name: str, args: list) -> str:
    def one(a: object) -> str:
        if isinstance(a, np.ndarray):
            flags = "C" if a.flags.c_contiguous else ("F" if a.flags.f_contiguous else "strided")
            return f"array(shape={a.shape}, dtype={a.dtype}, {flags}, strides={a.strides})"
        return repr(a)

    return f"{name}(" + ", ".join(one(a) for a in args) + ")"


def reproducer(name: str, args: list) -> str:
    """A Python snippet that makes the same call (views are given as copies, their layout in a comment)."""
    lines = ["import numpy as np", "import diffclust._core as core", "nan, inf = np.nan, np.inf"]
    names = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            flags = "C" if a.flags.c_contiguous else ("F" if a.flags.f_contiguous else "strided")
            dtype = "object" if a.dtype == object else f"np.{a.dtype}"
            lines.append(f"a{i} = np.array({a.ravel().tolist()!r}, dtype={dtype}).reshape({a.shape})"
                         f"  # {flags}, strides {a.strides}")
            names.append(f"a{i}")
        else:
            names.append(repr(a))
    target = "core._testing." + name[len("_testing."):] if name.startswith("_testing.") else "core." + name
    lines.append(f"{target}({', '.join(names)})")
    return "\n".join(lines)


def TestOneInput(data: bytes) -> None:
    name, fn, args = make_call(data)
    if VERBOSE:
        print(describe(name, args), file=sys.stderr, flush=True)
    if REPRO:
        print(reproducer(name, args), file=sys.stderr, flush=True)
    if DRYRUN:
        print(f"CALL {name}", file=sys.stderr, flush=True)
        return
    try:
        fn(*args)
    except ALLOWED:
        pass
    except BaseException as exc:
        raise RuntimeError(f"finding: {describe(name, args)} raised {type(exc).__name__}: {exc}") from exc


# Coverage feedback for libFuzzer: the harness's own branches (which shape, dtype,
# layout and value kind an input decoded to). The native code is not instrumented
# (a GCC build); the sanitizers watch it.
for _f in (_shape_for, _values, _layout, _array, _int, _float, _str, make_call):
    globals()[_f.__name__] = atheris.instrument_func(_f)


def main() -> None:
    if not ENTRY_POINTS:
        raise SystemExit("no entry point selected (check DIFFCLUST_FUZZ_ONLY / DIFFCLUST_FUZZ_SKIP)")
    print(f"fuzzing {len(ENTRY_POINTS)} entry points of diffclust._core", file=sys.stderr)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
