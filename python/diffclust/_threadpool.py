"""A threadpoolctl controller, so that ``threadpool_limits`` caps diffclust's threads.

>>> from threadpoolctl import threadpool_limits
>>> with threadpool_limits(limits=1, user_api="diffclust"):
...     forest = diffclust.kforest(S, 3)   # n_threads=None now means 1

The cap applies where ``n_threads=None`` (the default); an explicit ``n_threads``
is honoured as given.
"""

from __future__ import annotations

from typing import Any

from . import _validation


def _register() -> None:
    try:
        from threadpoolctl import LibController, register
    except ImportError:  # threadpoolctl is optional
        return

    class DiffclustController(LibController):  # type: ignore[misc]
        user_api = "diffclust"
        internal_api = "diffclust"
        filename_prefixes = ("_core",)
        check_symbols = ("diffclust_threadpool_api",)

        def get_num_threads(self) -> int:
            return _validation.resolve_threads(None)

        def set_num_threads(self, num_threads: Any) -> None:
            _validation._thread_limit = None
            if num_threads is not None and num_threads < _validation.resolve_threads(None):
                _validation._thread_limit = max(1, int(num_threads))

        def get_version(self) -> str:
            from . import __version__

            return __version__

    register(DiffclustController)


_register()
