"""The bench's chart: throughput against the ceiling, and page latency against depth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt


def draw(results: dict[str, Any], path: Path) -> None:
    """Two panels: req/s vs pgbench tps per operation; page latency by depth."""
    from benchmarks.report import bound
    from benchmarks.run import FLOORS

    operations = results["operations"]
    names = list(operations)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))

    positions = range(len(names))
    app = [operations[n]["app"]["rps"] for n in names]
    ceiling = [operations[n]["ceiling"]["tps"] for n in names]
    width = 0.4
    left.bar(
        [p - width / 2 for p in positions],
        ceiling,
        width,
        label="PostgreSQL ceiling (pgbench)",
        color="#bbbbbb",
    )
    left.bar(
        [p + width / 2 for p in positions],
        app,
        width,
        label="API (wrk → gunicorn)",
        color="#2b6cb0",
    )
    django = results["floors"]["django"]["rps"]
    for p in positions:
        left.annotate(
            f"{app[p] / bound(django, ceiling[p]):.0%}",
            (p + width / 2, app[p]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    for floor, style in zip(FLOORS, (":", "-.", "--"), strict=True):
        left.axhline(
            results["floors"][floor.key]["rps"],
            color="#c05621",
            linestyle=style,
            label=f"floor: {floor.layer.replace('`', '')}",
        )
    left.set_xticks(list(positions))
    left.set_xticklabels(
        [operations[n]["title"] for n in names], rotation=35, ha="right", fontsize=8
    )
    left.set_yscale("log")
    left.set_ylabel("requests (transactions) per second, log scale")
    left.set_title("Throughput vs the PostgreSQL ceiling at 8 connections (labels: API × bound)")
    # Headroom above the tallest bar (log scale) for the legend.
    left.set_ylim(top=max(ceiling) * 30)
    left.legend(fontsize=7, ncol=2, loc="upper center")

    depths = results["depth"]
    xs = [max(row["depth"], 1) for row in depths]
    right.plot(xs, [row["cursor_ms"] for row in depths], "o-", label="keyset cursor (ours)")
    right.plot(xs, [row["offset_ms"] for row in depths], "s--", label="DRF LimitOffsetPagination")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("depth (orders before the page; 0 plotted at 1)")
    right.set_ylabel("median ms per page of 20 (in process)")
    right.set_title(
        f"Page latency vs depth, one tenant with {results['mode']['deep_orders']:,} orders"
    )
    right.legend(fontsize=8)
    fig.suptitle(
        f"make bench, {results['measured_at']}, commit {results['machine']['commit']}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
