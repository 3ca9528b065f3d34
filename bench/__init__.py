"""Benchmarks: ``make bench`` runs ``python -m bench``, which runs every module here that has a
``main(argv)`` (``python -m bench NAME [ARGS...]`` runs one). Each writes its own ``## ...``
section of ``docs/benchmarks.md`` with figures as ratios against a baseline of the same run.

:func:`replace_section` is the one way to rewrite such a section; :func:`machine` is the one
description of the machine a section was measured on.
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
from contextlib import suppress
from importlib import metadata
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


def machine(*packages: str) -> str:
    """The machine and software a run measured: CPU model, cores, memory, OS, the load average
    at the start, Python, the installed versions of ``packages`` and SQLite's, as one sentence
    fragment (no final full stop)."""
    cpu = "unknown CPU"
    with suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    memory = ""
    with suppress(OSError):
        found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
        memory = f", {int(found.group(1)) / 1024 / 1024:.0f} GiB RAM" if found else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    versions = "".join(f", {name} {metadata.version(name)}" for name in packages)
    return (f"{cpu}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
            f"load average {load:.1f} at the start; Python {platform.python_version()}{versions}, "
            f"SQLite {sqlite3.sqlite_version}")
