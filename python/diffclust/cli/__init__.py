"""The ``diffclust`` command line (``python -m diffclust`` is the same).

Subcommands, one module each, each exposing ``register(subparsers)`` that adds its
parser and sets ``func`` (``args -> exit status``):

- ``demo``: the main job, every method on built-in toy data, a table and a plot;
- ``cluster FILE``: cluster a user's CSV/TSV/.npy/.npz file;
- ``learn``: the paper's semi-supervised experiment on scikit-learn's digits;
- ``bench``: the benchmark suite against the installed anchors, one report.

Why argparse: it is in the standard library, so the command works after a plain
``pip install .`` with nothing but NumPy; click or typer would add a dependency for
four subcommands with a dozen options. Tables and progress bars use rich, and plots
matplotlib, when the ``cli`` extra is installed (``pip install 'diffclust[cli]'``);
without them tables are plain text, there are no progress bars, and ``--plot`` fails
with a one-line error naming the extra (see :mod:`diffclust.cli._output`).

Errors a user can fix (a missing file, a malformed row, an unknown method...) are
raised as :class:`UsageError` and reported in one line, ``diffclust CMD: error: ...``,
with exit status 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys

from .. import __version__
from ._errors import UsageError

__all__ = ["UsageError", "main"]

# after UsageError, so that a subcommand may import it from this package
from . import bench, cluster, demo, learn


def build_parser() -> argparse.ArgumentParser:
    """The ``diffclust`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="diffclust",
        description="Differentiable clustering with perturbed spanning forests.",
    )
    parser.add_argument("--version", action="version", version=f"diffclust {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, cluster, learn, bench):
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's usage errors (status 2) and --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        status: int = args.func(args)
    except UsageError as err:
        print(f"diffclust {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"diffclust {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `diffclust demo | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout at exit
        return 1
    return status
