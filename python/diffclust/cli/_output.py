"""Tables, progress bars and matplotlib for the command line.

rich and matplotlib are optional (the ``cli`` extra). The rules:

- tables: a rich table when rich is installed and stdout is a terminal; otherwise
  aligned plain text (also what a pipe or a file gets, so the output can be read
  by other programs and pasted into documents without box-drawing characters);
- progress: a rich progress bar on stderr when rich is installed and stderr is a
  terminal; otherwise nothing (never a half-drawn bar in a log file);
- plots: :func:`pyplot` imports matplotlib with the non-interactive Agg backend,
  or raises :class:`UsageError` naming the extra.

Other subcommands (``learn``) may use these helpers.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import IO, Any, Callable

from ._errors import UsageError

__all__ = ["fmt", "format_table", "print_table", "progress", "pyplot", "rich_available"]

EXTRA_HINT = "pip install 'diffclust[cli]'"


def rich_available() -> bool:
    """Whether rich can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def fmt(value: Any, digits: int = 3) -> str:
    """``value`` for a table: floats with ``digits`` decimals (or 3 significant digits
    when tiny or huge), ``—`` for None/NaN, anything else with ``str``."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 10 ** (-digits)):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _left_aligned(rows: Sequence[Sequence[str]], n_columns: int) -> list[bool]:
    """The first column, and every column holding text rather than numbers, is left-aligned."""

    def numeric(cell: str) -> bool:
        try:
            float(cell.rstrip("×% "))
        except ValueError:
            return cell in ("—", "–")
        return True

    return [i == 0 or not all(numeric(r[i]) for r in rows) for i in range(n_columns)]


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> str:
    """Plain-text table: a title line, a header, a rule, one line per row.

    Columns are separated by two spaces; the first column and text columns are
    left-aligned, numbers right-aligned.
    """
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    left = _left_aligned(rows, len(columns))

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(cells, widths, left)]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(columns))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
    file: IO[str] | None = None,
) -> None:
    """Print a table: rich on a terminal when available, else :func:`format_table`."""
    stream = sys.stdout if file is None else file
    if rich_available() and stream.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for name, left in zip(columns, _left_aligned(rows, len(columns))):
            table.add_column(name, justify="left" if left else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
        needed = sum(widths) + 3 * len(widths) + 1  # never truncate a number: wider than the terminal
        console = Console(file=stream)
        console.width = max(console.width, needed)
        console.print(table)
    else:
        print(format_table(columns, rows, title), file=stream)


@contextlib.contextmanager
def progress(total: float, description: str, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Context manager yielding ``advance(label, steps=1)``; a transient rich bar on a terminal.

    ``advance`` moves the bar ``steps`` steps and shows ``label`` (what runs now).
    Without rich, without a terminal on stderr, or with ``enabled=False``, it does
    nothing.
    """
    if not (enabled and rich_available() and sys.stderr.isatty()):
        yield lambda label, steps=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task(description, total=total)

        def advance(label: str, steps: float = 1) -> None:
            bar.update(task, advance=steps, description=f"{description} {label}")

        yield advance


def pyplot(option: str = "--plot") -> Any:
    """``matplotlib.pyplot`` with the Agg backend, or a :class:`UsageError` naming the extra."""
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"{option} needs matplotlib: {EXTRA_HINT}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str) -> None:
    """Save ``fig`` to ``path`` (format from the suffix), a UsageError if that fails."""
    try:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot write the plot {path!r}: {err}") from None
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
