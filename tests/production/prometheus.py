"""Reading the Prometheus text exposition in tests."""

from __future__ import annotations


def metric_value(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name{...}`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        sample_labels, _, value = line[len(name) + 1:].rpartition("} ")
        pairs = dict(part.split("=", 1) for part in sample_labels.split(","))
        if all(pairs.get(key) == f'"{wanted}"' for key, wanted in labels.items()):
            total += float(value)
    return total
