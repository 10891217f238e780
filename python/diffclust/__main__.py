"""``python -m diffclust``: the ``diffclust`` command line (see :mod:`diffclust.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
