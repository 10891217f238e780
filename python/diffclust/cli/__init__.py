"""The ``diffclust`` command line (``python -m diffclust`` is the same).

Subcommands, one module each, each exposing ``register(subparsers)`` that adds its
parser and sets ``func`` (``args -> exit status``):

- ``demo``: the main job, every method on built-in toy data, a table and a plot;
- ``cluster FILE``: cluster a user's CSV/TSV/.npy/.npz file;
- ``learn``: the paper's semi-supervised experiment on scikit-learn's digits;
- ``bench``: the benchmark suite against the installed anchors, one report.

The interface is argparse (standard library: the command works after a plain
``pip install .``); tables and progress use rich and plots matplotlib when the
``cli`` extra is installed.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, cluster, demo, learn

__all__ = ["main"]


class UsageError(Exception):
    """A user error that the command reports in one line with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The ``diffclust`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="diffclust",
        description="Differentiable clustering with perturbed spanning forests.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, cluster, learn, bench):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
    except UsageError as err:
        print(f"diffclust {args.command}: error: {err}", file=sys.stderr)
        return 2
    return status
