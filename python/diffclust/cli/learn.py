"""``diffclust learn``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``learn`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser("learn", help="(not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust learn``."""
    raise NotImplementedError("diffclust learn is not built yet")
