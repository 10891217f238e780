"""The command line's one error type (its own module so subcommands can import it
without importing the dispatcher)."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A user error that the command reports in one line with exit status 2."""
