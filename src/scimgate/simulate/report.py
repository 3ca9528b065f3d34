"""What a simulated run saw: requests by kind, failures by status and scimType, latencies.

A :class:`Recorder` collects one entry per HTTP exchange and one per failed check; its
:meth:`Recorder.summary` is a plain JSON-ready dict, and :func:`render_summary` prints it as rich
tables (the end-of-run report of ``scimgate simulate``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (``fraction`` in 0..1); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class FailureGroup:
    """Failures sharing one status (an HTTP code, ``mismatch`` or ``transport``) and scimType."""

    status: str
    scim_type: str
    count: int = 0
    first_kind: str = ""
    first_detail: str = ""


@dataclass
class Recorder:
    """Collects exchanges and failures of one run; wall time starts when it is made."""

    started: float = field(default_factory=time.perf_counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failed_by_kind: dict[str, int] = field(default_factory=dict)
    failures: dict[tuple[str, str], FailureGroup] = field(default_factory=dict)
    throttled: int = 0
    finished: float | None = None

    def exchange(self, kind: str, seconds: float) -> None:
        """Count one HTTP exchange of ``kind`` that took ``seconds``."""
        self.latencies.setdefault(kind, []).append(seconds)

    def failure(self, kind: str, status: str, scim_type: str | None, detail: str) -> None:
        """Count one unexpected answer or failed check; the first detail of each group is kept."""
        self.failed_by_kind[kind] = self.failed_by_kind.get(kind, 0) + 1
        key = (status, scim_type or "-")
        group = self.failures.setdefault(key, FailureGroup(status, scim_type or "-"))
        if group.count == 0:
            group.first_kind, group.first_detail = kind, detail
        group.count += 1

    def throttle(self) -> None:
        """Count one 429 answer that was waited out and retried (not a failure)."""
        self.throttled += 1

    def finish(self) -> None:
        """Stop the wall clock (idempotent)."""
        if self.finished is None:
            self.finished = time.perf_counter()

    @property
    def failure_count(self) -> int:
        """All failures of the run."""
        return sum(group.count for group in self.failures.values())

    def summary(self) -> dict[str, Any]:
        """The run as a JSON-ready dict.

        Shape: ``{"requests": int, "failures": int, "throttled": int, "seconds": float,
        "throughput_rps": float, "p50_ms": float, "p99_ms": float, "kinds": [{"kind", "requests",
        "failures", "p50_ms", "p99_ms"}], "failure_groups": [{"status", "scimType", "count", "first_kind",
        "first_detail"}]}``. Latencies in milliseconds, wall time in seconds.
        """
        self.finish()
        assert self.finished is not None
        seconds = self.finished - self.started
        every = [s for values in self.latencies.values() for s in values]
        kinds = sorted(set(self.latencies) | set(self.failed_by_kind))
        return {
            "requests": len(every),
            "failures": self.failure_count,
            "throttled": self.throttled,
            "seconds": round(seconds, 3),
            "throughput_rps": round(len(every) / seconds, 1) if seconds > 0 else 0.0,
            "p50_ms": round(percentile(every, 0.5) * 1000, 2),
            "p99_ms": round(percentile(every, 0.99) * 1000, 2),
            "kinds": [
                {
                    "kind": kind,
                    "requests": len(self.latencies.get(kind, [])),
                    "failures": self.failed_by_kind.get(kind, 0),
                    "p50_ms": round(percentile(self.latencies.get(kind, []), 0.5) * 1000, 2),
                    "p99_ms": round(percentile(self.latencies.get(kind, []), 0.99) * 1000, 2),
                }
                for kind in kinds
            ],
            "failure_groups": [
                {"status": g.status, "scimType": g.scim_type, "count": g.count,
                 "first_kind": g.first_kind, "first_detail": g.first_detail}
                for g in sorted(self.failures.values(), key=lambda g: (-g.count, g.status))
            ],
        }


def render_summary(summary: dict[str, Any], console: Console, title: str) -> None:
    """Print ``summary`` (see :meth:`Recorder.summary`) as two rich tables and a totals line."""
    kinds = Table(title=f"{title}: requests by kind")
    for column in ("kind", "requests", "failures", "p50 ms", "p99 ms"):
        kinds.add_column(column, justify="left" if column == "kind" else "right")
    for row in summary["kinds"]:
        kinds.add_row(row["kind"], str(row["requests"]), str(row["failures"]),
                      f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}")
    console.print(kinds)
    if summary["failure_groups"]:
        failures = Table(title=f"{title}: failures by status / scimType")
        for column in ("status", "scimType", "count", "first request", "first detail"):
            failures.add_column(column, overflow="fold")
        for group in summary["failure_groups"]:  # server text is not rich markup: "[type eq ...]" stays
            failures.add_row(escape(group["status"]), escape(group["scimType"]), str(group["count"]),
                             escape(group["first_kind"]), escape(group["first_detail"]))
        console.print(failures)
    console.print(
        f"{summary['requests']} requests in {summary['seconds']:.2f} s "
        f"({summary['throughput_rps']:.1f} req/s), p50 {summary['p50_ms']:.1f} ms, "
        f"p99 {summary['p99_ms']:.1f} ms, {summary['failures']} failure(s)"
        + (f", {summary['throttled']} 429 answer(s) waited out" if summary.get("throttled") else "")
    )
