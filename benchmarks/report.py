"""A results file of `benchmarks/run.py` as Markdown."""

from __future__ import annotations

from typing import Any

RUNS = ("serve-8", "serve-64", "direct-8", "direct-64")


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def _ratio(upper: float, lower: float) -> float:
    return upper / lower if lower else float("nan")  # a run that completed nothing


def operation_rows(results: dict[str, Any]) -> list[str]:
    """Per operation and run: req/s, p50 / p99 ms, workers' CPU µs per request; then the
    ratios that matter and HAProxy's own CPU per request."""
    head = " | ".join(f"{run}: req/s · p50/p99 ms · CPU µs" for run in RUNS)
    rows = [
        f"| operation | {head} | serve ÷ direct, 8 / 64 | HAProxy CPU µs | ceiling tps "
        "| direct-8 ÷ ceiling | errors |",
        "| --- |" + " ---: |" * (len(RUNS) + 5),
    ]
    for name, load in results["load"].items():
        cells = [
            f"{r['rps']:,.0f} · {_ms(r['p50_us'])}/{_ms(r['p99_us'])} · {r['workers_cpu_us']:,.0f}"
            for r in (load[run] for run in RUNS)
        ]
        ratios = [_ratio(load[f"serve-{c}"]["rps"], load[f"direct-{c}"]["rps"]) for c in (8, 64)]
        ceiling = results["ceiling"][name]["tps"]
        rows.append(
            f"| {results['titles'][name]}{' ⚠' if name in results['drift'] else ''} "
            f"| {' | '.join(cells)} | {ratios[0]:.2f} / {ratios[1]:.2f} "
            f"| {load['serve-8']['haproxy_cpu_us']:,.0f} | {ceiling:,.0f} "
            f"| {_ratio(load['direct-8']['rps'], ceiling):.0%} "
            f"| {sum(load[r]['errors'] for r in RUNS)} |"
        )
    return rows


def floor_rows(results: dict[str, Any]) -> list[str]:
    """GET /healthz at 8 connections, from the least that runs to the most."""
    layers = {
        "wsgi": "gunicorn alone (`floor_wsgi.py`)",
        "django": "bare Django (`floor_django.py`)",
        "app_direct": "the app's `/healthz`, direct",
        "app_serve": "the app's `/healthz`, through `make serve`",
    }
    django = results["floors"]["django"]["rps"]
    rows = [
        "| layer | req/s | p50 ms | × bare Django | CPU µs/req |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, layer in layers.items():
        floor = results["floors"][key]
        rows.append(
            f"| {layer} | {floor['rps']:,.0f} | {_ms(floor['p50_us'])} "
            f"| {_ratio(floor['rps'], django):.0%} | {floor['workers_cpu_us']:,.0f} |"
        )
    return rows


def depth_lines(results: dict[str, Any]) -> list[str]:
    """The deepest page against the first, both ways when the API pages back."""
    walk = results["walk"]
    ms = walk["ms"]
    lines = [
        f"Walked {walk['pages']:,} pages of {walk['orders'] // walk['pages']} over HTTP "
        f"following `nextCursor`; a page of 20, median of {results['mode']['depth_repeats']}:",
        "",
        "| direction | first page ms | deepest page ms | deepest ÷ first |",
        "| --- | ---: | ---: | ---: |",
        f"| forward (`nextCursor`) | {ms['first']:.2f} | {ms['deepest']:.2f} "
        f"| **{ms['deepest'] / ms['first']:.2f}** |",
    ]
    if "back_first" in ms:
        lines.append(
            f"| backward (`prevCursor`) | {ms['back_first']:.2f} | {ms['back_deepest']:.2f} "
            f"| **{ms['back_deepest'] / ms['back_first']:.2f}** |"
        )
    else:
        lines += ["", "The pages carry no `prevCursor`: no backward figure."]
    return lines


def drift_lines(results: dict[str, Any]) -> list[str]:
    """A warning per pgbench script that no longer sends what its operation does."""
    if not results["drift"]:
        return ["Every pgbench script sends its operation's statements (compared whole)."]
    lines = [
        "⚠ These pgbench scripts no longer send the app's SQL, so their ceiling is of other "
        "statements; update them from the `statements` of the results JSON:",
    ]
    for name, pair in results["drift"].items():
        pairs = zip(pair["app"], pair["pgbench"], strict=False)
        differ = [f"`{a}` (app) / `{b}` (pgbench)" for a, b in pairs if a != b]
        counts = f"{len(pair['app'])} statements, pgbench {len(pair['pgbench'])}"
        lines.append(f"- `benchmarks/pgbench/{name}.sql`: {counts}; {'; '.join(differ)}")
    return lines


def render(results: dict[str, Any]) -> str:
    """The whole report."""
    m, mode = results["machine"], results["mode"]
    statements = " · ".join(f"{n} {len(s)}" for n, s in results["statements"].items())
    lines = [
        f"# `make bench` ({mode['name']}), {results['measured_at']}, commit {m['commit']}",
        "",
        f"{m['cpu']}, {m['cores']} cores; Python {m['python']}, PostgreSQL {m['postgresql']} "
        f"(`{results['server_options']}`); gunicorn {results['workers']} workers; load "
        f"average before / after {m['load_before']} / {m['load_after']}; {results['seconds']} s.",
        "",
        "## Operations",
        "",
        f"wrk, 2 threads, {mode['seconds']} s per run, keep-alive connections (8 or 64): "
        "`serve` is `make serve`'s stack (HAProxy in front of gunicorn on a unix socket), "
        "`direct` gunicorn on TCP. ceiling: pgbench on the operation's statements, 8 clients.",
        "",
        *operation_rows(results),
        "",
        *drift_lines(results),
        "",
        f"Statements per request (BEGIN/COMMIT included): {statements}.",
        "",
        "## Floors (GET /healthz, no SQL, 8 connections)",
        "",
        *floor_rows(results),
        "",
        "## Pagination at depth",
        "",
        *depth_lines(results),
        "",
    ]
    return "\n".join(lines)
