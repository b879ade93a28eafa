"""The documentation's examples run as written: every ```python block of README.md and of
docs/*.md, each in a fresh namespace, in a temporary working folder (a block whose info
string reads ``python no-run`` is shown, not run).  A block that imports an optional peer
(torch) skips where the peer is not installed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", m.group(1)))
    return found


BLOCKS = _blocks()
OPTIONAL = ("torch",)  # peers outside the test extra


def test_the_pages_have_examples():
    assert any(name.startswith("README.md") for name, _ in BLOCKS)
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("code", [c for _, c in BLOCKS], ids=[n for n, _ in BLOCKS])
def test_example_runs(code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for peer in OPTIONAL:
        if re.search(rf"^(import|from) {peer}\b", code, re.M):
            pytest.importorskip(peer, reason=f"the example needs {peer}")
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<example>", "exec"), {"__name__": "__example__"})
