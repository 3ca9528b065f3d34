"""``python -m bench [NAME [ARGS...]]``: run every benchmark module in ``bench/``, or just NAME.

A benchmark module is any ``bench/<name>.py`` with a ``main(argv)`` function; ARGS are handed to
that ``main`` when one module is named (``python -m bench provisioning --users 50``). With no
NAME every module runs with its defaults, in alphabetical order; a failing one is reported and
the others still run, and the exit status is 1 if any failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def benchmark_names() -> list[str]:
    """The modules of ``bench/`` other than ``__main__``, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if not m.name.startswith("_"))


def run(name: str, argv: list[str]) -> bool:
    """Run ``bench.<name>.main(argv)``; False if it raised (the traceback is printed)."""
    module = importlib.import_module(f"bench.{name}")
    entry = getattr(module, "main", None)
    if entry is None:
        return True
    print(f"== bench.{name}", flush=True)
    try:
        entry(argv)
    except SystemExit as exc:
        return exc.code in (None, 0)
    except Exception:
        traceback.print_exc()
        return False
    return True


def main(argv: list[str]) -> int:
    names = benchmark_names()
    if argv and not argv[0].startswith("-"):
        if argv[0] not in names:
            print(f"No benchmark {argv[0]!r}; there are: {', '.join(names)}", file=sys.stderr)
            return 2
        return 0 if run(argv[0], argv[1:]) else 1
    if argv:
        print("usage: python -m bench [NAME [ARGS...]]", file=sys.stderr)
        return 2
    failed = [name for name in names if not run(name, [])]
    if failed:
        print(f"Failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
