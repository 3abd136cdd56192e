"""A results file of `benchmarks/run.py` as Markdown."""

from __future__ import annotations

from typing import Any

RUNS = ("serve-8", "serve-64", "direct-8", "direct-64")


def _ms(us: float) -> str:
    return f"{us / 1000:.1f}"


def throughput_rows(results: dict[str, Any]) -> list[str]:
    """Per operation: req/s in every shape, the ceiling, and the ratios that matter."""
    rows = [
        "| operation | " + " | ".join(f"{run} req/s" for run in RUNS)
        + " | serve ÷ direct (8) | ceiling tps | direct-8 ÷ ceiling |",
        "| --- |" + " ---: |" * (len(RUNS) + 3),
    ]  # fmt: skip
    for name, load in results["load"].items():
        ceiling = results["ceiling"].get(name, {}).get("tps", float("nan"))
        warn = " ⚠" if name in results["drift"] else ""
        cells = [f"{load[run]['rps']:,.0f}" for run in RUNS]
        ratio = load["serve-8"]["rps"] / load["direct-8"]["rps"]
        rows.append(
            f"| {results['titles'][name]}{warn} | {' | '.join(cells)} | {ratio:.2f} "
            f"| {ceiling:,.0f} | {load['direct-8']['rps'] / ceiling:.0%} |"
        )
    return rows


def latency_rows(results: dict[str, Any]) -> list[str]:
    """Per operation: p50 / p99 and the workers' CPU per request in every shape."""
    rows = [
        "| operation | " + " | ".join(f"{run} p50 / p99 ms" for run in RUNS)
        + " | CPU µs/req: workers (HAProxy) serve-8 | direct-8 | errors |",
        "| --- |" + " ---: |" * (len(RUNS) + 3),
    ]  # fmt: skip
    for name, load in results["load"].items():
        cells = [f"{_ms(load[run]['p50_us'])} / {_ms(load[run]['p99_us'])}" for run in RUNS]
        serve, direct = load["serve-8"], load["direct-8"]
        errors = sum(load[run]["errors"] for run in RUNS)
        rows.append(
            f"| {results['titles'][name]} | {' | '.join(cells)} "
            f"| {serve['workers_cpu_us']:,.0f} ({serve['haproxy_cpu_us']:,.0f}) "
            f"| {direct['workers_cpu_us']:,.0f} | {errors} |"
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
            f"| {floor['rps'] / django:.0%} | {floor['workers_cpu_us']:,.0f} |"
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
        "⚠ These pgbench scripts no longer send the app's SQL (update them from the "
        "`statements` of the results JSON); their ceiling is of other statements:",
        "",
    ]
    for name, pair in results["drift"].items():
        lines.append(f"- `benchmarks/pgbench/{name}.sql`:")
        for app, script in zip(pair["app"], pair["pgbench"], strict=False):
            if app != script:
                lines += [f"  - app: `{app}`", f"  - pgbench: `{script}`"]
        if len(pair["app"]) != len(pair["pgbench"]):
            lines.append(f"  - {len(pair['app'])} statements against {len(pair['pgbench'])}")
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
        *throughput_rows(results),
        "",
        *latency_rows(results),
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
