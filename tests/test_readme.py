"""Every self-contained Python example of README.md runs (blocks that start with an import).

The examples' printed output in the README is documentation, not an oracle: the
numbers themselves are checked against independent references in each module's
tests. Here a failing example (a renamed argument, a removed function) fails CI.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _examples() -> list[str]:
    if not README.exists():  # the tests run from an installed wheel without the README
        return []
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [b for b in blocks if b.lstrip().startswith(("import ", "from "))]


EXAMPLES = _examples()


def test_readme_has_examples() -> None:
    if not README.exists():
        pytest.skip("README.md is not beside the tests")
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_readme_example_runs(code: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})  # noqa: S102 (our own README)
