"""A results file of `benchmarks/run.py` as a Markdown report."""

from __future__ import annotations

from typing import Any


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def bound(django_floor_rps: float, ceiling_tps: float) -> float:
    """The best req/s a Django app could reach for an operation on these cores: bare
    Django's request handling plus the operation's SQL as pgbench runs it, and nothing else.

    Each costs a share of the same cores per request (1 / its rate), and the shares add.
    """
    return 1 / (1 / django_floor_rps + 1 / ceiling_tps)


def operation_rows(results: dict[str, Any]) -> list[str]:
    """One row per operation: statements, API and ceiling, the bound, latencies."""
    django = results["floors"]["django"]["rps"]
    rows = [
        "| operation | statements | API req/s | ceiling tps | API × ceiling | bound req/s "
        "| **API × bound** | API p50 / p99 ms | ceiling p50 / p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, op in results["operations"].items():
        api, ceiling = op["app"], op["ceiling"]
        best = bound(django, ceiling["tps"])
        drifted = " ⚠" if name in results["drift"] else ""
        rows.append(
            f"| {op['title']}{drifted} | {len(results['shapes'][name])} "
            f"| {api['rps']:,.0f} | {ceiling['tps']:,.0f} | {api['rps'] / ceiling['tps']:.0%} "
            f"| {best:,.0f} | **{api['rps'] / best:.0%}** "
            f"| {_ms(api['p50_us'])} / {_ms(api['p99_us'])} "
            f"| {_ms(ceiling['p50_us'])} / {_ms(ceiling['p99_us'])} | {api['errors']} |"
        )
    return rows


def floor_rows(results: dict[str, Any]) -> list[str]:
    """The floors, from the least that runs to the most."""
    from benchmarks.run import FLOORS

    rows = ["| layer | req/s | p50 ms | × bare Django |", "| --- | ---: | ---: | ---: |"]
    django = results["floors"]["django"]["rps"]
    for floor in FLOORS:
        measured = results["floors"][floor.key]
        rows.append(
            f"| {floor.layer} | {measured['rps']:,.0f} | {_ms(measured['p50_us'])} "
            f"| {measured['rps'] / django:.0%} |"
        )
    return rows


def depth_rows(results: dict[str, Any]) -> list[str]:
    """Page latency at each depth, with both paginations and their SQL alone."""
    depths = results["depth"]
    first = depths[0]
    rows = [
        "| depth | keyset cursor ms | × first | LimitOffsetPagination ms | × first "
        "| keyset SQL ms | OFFSET SQL ms | × first |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows += [
        f"| {row['depth']:,} | {row['cursor_ms']:.2f} "
        f"| {row['cursor_ms'] / first['cursor_ms']:.2f} "
        f"| {row['offset_ms']:.2f} | {row['offset_ms'] / first['offset_ms']:.1f} "
        f"| {row['cursor_sql_ms']:.2f} | {row['offset_sql_ms']:.2f} "
        f"| {row['offset_sql_ms'] / first['offset_sql_ms']:.0f} |"
        for row in depths
    ]
    return rows


def drift_lines(results: dict[str, Any]) -> list[str]:
    """A note per pgbench script that no longer issues what its operation does."""
    if not results["drift"]:
        return ["Every pgbench script issues the statements its operation sends."]
    lines = [
        "⚠ These pgbench scripts no longer issue what the app sends, so their ceiling (and "
        "bound) measures other statements; update them from the SQL in the results JSON:",
        "",
    ]
    for name, pair in results["drift"].items():
        lines.append(
            f"- `benchmarks/pgbench/{name}.sql`: app {' → '.join(pair['app'])}; "
            f"pgbench {' → '.join(pair['pgbench'])}"
        )
    return lines


def render(results: dict[str, Any]) -> str:
    """The whole report: machine, operations, floors, depth, SQL per request."""
    m, mode, plan = results["machine"], results["mode"], results["plan"]
    depths = results["depth"]
    deep, first = depths[-1], depths[0]
    lines = [
        f"# `make bench` ({mode['name']}), {results['measured_at']}, commit {m['commit']}",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; Python "
        f"{m['python']}, PostgreSQL {m['postgresql']} (`{results['server_options']}`); "
        f"gunicorn {results['workers']} workers × {results['threads']} threads; load average "
        f"before / after {m['load_before']} / {m['load_after']}; {results['seconds']:.0f} s.",
        "",
        "## Operations",
        "",
        f"wrk for {mode['seconds']} s at 8 connections, then pgbench on the same statements "
        "(the ceiling) at 8 clients. API × ceiling = API req/s ÷ ceiling tps. bound = "
        "1 / (1 / bare Django floor + 1 / ceiling): the best a Django app could do; "
        "**API × bound** = API req/s ÷ bound. statements: as Django sent them, BEGIN/COMMIT "
        "included.",
        "",
        *operation_rows(results),
        "",
        *drift_lines(results),
        "",
        "## Floors (GET /healthz, no SQL)",
        "",
        *floor_rows(results),
        "",
        "## Pagination at depth",
        "",
        f"A page of 20, median of {mode['depth_repeats']} rounds, in process, from a tenant "
        f"of {mode['deep_orders']:,} orders. Deepest / first page: **"
        f"{deep['cursor_ms'] / first['cursor_ms']:.2f}** with keyset cursors, "
        f"**{deep['offset_ms'] / first['offset_ms']:.1f}** with LimitOffsetPagination.",
        "",
        *depth_rows(results),
        "",
        f"The deepest list query: sequential scan {plan['seq_scan']}, sort {plan['sort']}.",
        "",
        "```",
        plan["sql"],
        "",
        plan["plan"],
        "```",
        "",
        "## SQL per request",
        "",
        "| operation | statements (in order) |",
        "| --- | --- |",
        *(
            f"| {results['operations'].get(name, {}).get('title', name)} | {' → '.join(shapes)} |"
            for name, shapes in results["shapes"].items()
        ),
        "",
    ]
    return "\n".join(lines)
