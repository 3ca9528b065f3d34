"""Benchmarks: ``make bench`` runs ``python -m bench``, which runs every module here that has a
``main(argv)`` (``python -m bench NAME [ARGS...]`` runs one). Each writes its own ``## ...``
section of ``docs/benchmarks.md`` with figures as ratios against a baseline of the same run.

:func:`replace_section` is the one way to rewrite such a section.
"""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def replace_section(heading: str, text: str, path: Path = DOCS) -> None:
    """Replace the section that starts with the line ``heading`` (up to the next ``## `` heading)
    with ``text``, or append ``text`` when there is no such section."""
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = current.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.rstrip("\n") == heading]
    block = text.rstrip("\n") + "\n"
    if not starts:
        updated = current.rstrip("\n") + "\n\n" + block
    else:
        start = starts[0]
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        updated = "".join(lines[:start]) + block + ("\n" + tail if tail else "")
    path.write_text(updated)
