"""``diffclust cluster``."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``cluster`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser("cluster", help="(not built yet)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``diffclust cluster``."""
    raise NotImplementedError("diffclust cluster is not built yet")
