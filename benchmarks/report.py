"""Turn a results JSON into a text summary and the api-bench section of docs/BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.cores import CoreSplit
from benchmarks.pgwork import PgWork

BASE_DIR = Path(__file__).resolve().parent.parent
DOC = BASE_DIR / "docs" / "BENCHMARKS.md"
CHART = BASE_DIR / "docs" / "benchmarks.png"
BEGIN, END = "<!-- api-bench:begin -->", "<!-- api-bench:end -->"
TARGET_RATIO = 0.5
TARGET_DEPTH_RATIO = 1.2
NAN = float("nan")


def _ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def measured(results: dict[str, Any], of: str | None = None) -> dict[str, dict[str, Any]]:
    """The operations of a results file, by name (its `operations` also holds the run's
    workers, threads and floors); with `of`, only those whose API run carries that
    measurement ("cores", "pg_work")."""
    return {
        name: op
        for name, op in results["operations"].items()
        if isinstance(op, dict) and "app" in op and (of is None or op["app"].get(of))
    }


def operation_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| operation | statements (Django / wire) | API req/s | ceiling tps | ratio "
        "| API p50 / p99 ms | ceiling p50 / p99 ms | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    wire = results.get("wire_statements") or {}
    for name, op in measured(results).items():
        app, ceiling = op["app"], op["ceiling"]
        mark = "" if op["ratio"] >= TARGET_RATIO else " ✗"
        rows.append(
            f"| {op['title']} | {results['statements'][name]['statements']} / "
            f"{wire.get(name, '?')} "
            f"| {app['rps']:,.0f} | {ceiling['tps']:,.0f} | **{op['ratio']:.0%}**{mark} "
            f"| {_ms(app['p50_us'])} / {_ms(app['p99_us'])} "
            f"| {_ms(ceiling['p50_us'])} / {_ms(ceiling['p99_us'])} | {app['errors']} |"
        )
    return rows


def depth_rows(results: dict[str, Any]) -> list[str]:
    depths = results["depth"]
    first = depths[0]
    rows = [
        "| depth | keyset cursor ms | × first | LimitOffsetPagination ms | × first "
        "| keyset SQL ms | OFFSET SQL ms (no COUNT) | × first |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows.extend(
        f"| {row['depth']:,} | {row['cursor_ms']:.2f} "
        f"| {row['cursor_ms'] / first['cursor_ms']:.2f} "
        f"| {row['offset_ms']:.2f} | {row['offset_ms'] / first['offset_ms']:.1f} "
        f"| {row.get('cursor_sql_ms', NAN):.2f} | {row.get('offset_sql_ms', NAN):.2f} "
        f"| {row.get('offset_sql_ms', NAN) / first.get('offset_sql_ms', NAN):.0f} |"
        for row in depths
    )
    return rows


def summary(results: dict[str, Any]) -> str:
    lines = [f"mode {results['mode']['name']}, {results['measured_at']}", ""]
    lines += [*operation_rows(results), "", *depth_rows(results)]
    plan = results["plan"]
    lines += [
        "",
        f"list plan: index scan {plan['index_scan']}, sort {plan['sort']}, "
        f"seq scan {plan['seq_scan']}",
    ]
    return "\n".join(lines)


def section(results: dict[str, Any]) -> str:
    m, mode, ops = results["machine"], results["mode"], results["operations"]
    depths = results["depth"]
    deep = depths[-1]
    cursor_ratio = deep["cursor_ms"] / depths[0]["cursor_ms"]
    offset_ratio = deep["offset_ms"] / depths[0]["offset_ms"]
    sql_offset_ratio = deep.get("offset_sql_ms", NAN) / depths[0].get("offset_sql_ms", NAN)
    sql_cursor_ratio = deep.get("cursor_sql_ms", NAN) / depths[0].get("cursor_sql_ms", NAN)
    plan = results["plan"]
    statements = results["statements"]
    lines = [
        BEGIN,
        "## API against the PostgreSQL ceiling",
        "",
        f"Measured {results['measured_at']} with `make bench` (`benchmarks/run.py`), "
        f"{results['seconds']:.0f} s in all. Chart: [`benchmarks.png`](benchmarks.png); raw "
        "figures: [`../benchmarks/results/last-run.json`](../benchmarks/results/last-run.json).",
        "",
        "![throughput vs ceiling; page latency vs depth](benchmarks.png)",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| CPU | {m['cpu']} ({m['cores']} cores) |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| OS | {m['os']} |",
        f"| Python | {m['python']} |",
        f"| PostgreSQL | {m['postgresql']} (pgserver, `{_server_options()}`, fsync on) |",
        f"| load average before / after | {m['load_before']} / {results['load_after']} |",
        "",
        "wrk (2 threads), gunicorn, PostgreSQL and pgbench all share these cores, so every "
        "figure is a ratio measured in the same run, never an absolute to compare across "
        "machines.",
        "",
        "### Throughput, each operation against its ceiling",
        "",
        f"Each operation: wrk for {mode['seconds']} s at {mode['concurrency']} connections "
        f"against gunicorn ({ops['workers']} workers × {ops.get('threads', 1)} threads, what "
        "`gunicorn.conf.py` recommends for these cores; production settings: JSON access "
        "log, metrics, "
        f"`DEBUG` off); then pgbench `-M prepared -c {mode['concurrency']} -j 2 -T "
        f"{mode['seconds']}` running the same SQL statements (`benchmarks/pgbench/`, "
        "checked against the SQL the app sent). Ratio = API req/s ÷ ceiling tps; target "
        f"≥ {TARGET_RATIO:.0%} (✗ marks a miss).",
        "",
        *operation_rows(results),
        "",
        "Statements are counted, not guessed, twice: once in process under Django's "
        "`CaptureQueriesContext` (BEGIN/COMMIT included; `orders/tests/test_query_counts.py` "
        "keeps these from creeping up), and once on the wire, from the server's own log "
        "(`log_statement = all`) for one request of each operation on a warm worker, which "
        "also sees what Django sends behind its back.",
        "",
        *_cores(results),
        *_work(results),
        *_floor(results),
        "### Pagination at depth",
        "",
        f"One tenant with {mode['deep_orders']:,} orders; a page of 20 at each depth, median "
        f"of {mode['depth_repeats']} rounds that visit every depth in turn, in-process "
        "requests through DRF views with the same "
        "serializer: our keyset cursor (`GET /orders?cursor=`) and DRF's "
        "`LimitOffsetPagination` (`?offset=`, which also runs `COUNT(*)` over the tenant's "
        "rows on every page). The last three columns time the SQL alone, so the cost of "
        "OFFSET itself shows without DRF's count.",
        "",
        *depth_rows(results),
        "",
        f"Deepest / first page: **{cursor_ratio:.2f}** with cursors (target ≤ "
        f"{TARGET_DEPTH_RATIO}), **{offset_ratio:.1f}** with LimitOffsetPagination (its "
        "first page already pays the full COUNT), "
        f"**{sql_offset_ratio:.0f}** for the OFFSET query alone against "
        f"**{sql_cursor_ratio:.2f}** for the keyset query alone.",
        "",
        f"The list query at depth {deep['depth']:,} (index scan: {plan['index_scan']}, "
        f"sort: {plan['sort']}, seq scan: {plan['seq_scan']}):",
        "",
        "```",
        plan["sql"],
        "",
        plan["plan"],
        "```",
        "",
        "### SQL per request",
        "",
        "| operation | statements (in order) |",
        "| --- | --- |",
    ]
    for name, counted in statements.items():
        lines.append(
            f"| {ops[name]['title'] if name in ops else name} | {' → '.join(counted['shapes'])} |"
        )
    lines += [
        "",
        "### Commands",
        "",
        "```sh",
        "make bench                 # this page: ~1.5M orders seeded, 10 s per operation",
        "make bench BENCH_QUICK=1   # smoke mode (what CI runs): small data, 2 s each",
        "make bench-relay           # the outbox relay figures below",
        "make bench-ab BEFORE=<rev>     # an older revision and this checkout, alternating rounds",
        "make bench-instr BEFORE=<rev>  # instructions per request of both, under callgrind",
        "```",
        END,
    ]
    return "\n".join(lines)


def _floor(results: dict[str, Any]) -> list[str]:
    floors = results.get("floors") or {}
    ops = results["operations"]
    get = ops.get("get")
    from benchmarks.run import FLOORS

    if not get or not {key for key, _, _, _ in FLOORS} <= floors.keys():
        return []
    get_ceiling = get["ceiling"]["tps"]
    lines = [
        "### The floors: what is left of these cores before any SQL",
        "",
        "The same gunicorn (same `gunicorn.conf.py`, same workers) answering `GET /healthz` "
        "three times over, with less behind it each time; wrk as above, before the "
        "operations (whose writes leave work for autovacuum). No operation can beat the "
        "floor it stands on, so each floor caps every ratio above.",
        "",
        "| layer | what answers | req/s | p50 ms | × `get` ceiling | server CPU ms per request |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for key, _, layer, what in FLOORS:
        floor = floors[key]
        cpu = (
            f"{CoreSplit(**floor['cores']).per_request_ms('server', floor['requests']):.2f}"
            if "cores" in floor
            else "?"
        )
        lines.append(
            f"| {layer} | {what} | {floor['rps']:,.0f} | {_ms(floor['p50_us'])} | "
            f"{floor['rps'] / get_ceiling:.0%} | {cpu} |"
        )
    django = floors["django"]["rps"]
    lines += [
        "",
        "The best a Django app could do, by a simple model: an operation that cost bare "
        "Django's request handling plus its SQL as pgbench runs it (pgbench's client "
        "standing in for the driver), and nothing else, on the same cores, would manage "
        "1 / (1 / Django floor + 1 / ceiling) req/s. An estimate of the best case, not a "
        "measurement: DRF, the ORM, the middleware and the guarantees all cost on top.",
        "",
        "| operation | ceiling tps | bound req/s | bound × ceiling | API req/s | API × bound |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in measured(results).values():
        ceiling, api = op["ceiling"]["tps"], op["app"]["rps"]
        bound = 1 / (1 / django + 1 / ceiling)
        lines.append(
            f"| {op['title']} | {ceiling:,.0f} | {bound:,.0f} | {bound / ceiling:.0%} | "
            f"{api:,.0f} | {api / bound:.0%} |"
        )
    lines.append("")
    return lines


def _cores(results: dict[str, Any]) -> list[str]:
    ops = measured(results, "cores")
    if not ops:
        return []
    lines = [
        "### Where the cores went",
        "",
        "CPU time read from `/proc` before and after each run (`benchmarks/cores.py`), per "
        "party, as cores in use on average (2.00 is the whole machine): the app server "
        "(gunicorn's master and workers), PostgreSQL (every backend, those that ended "
        "included; in brackets, its background processes: checkpointer, WAL writer, "
        "autovacuum), the load generator (wrk, or pgbench for the ceiling), the rest of the "
        "machine, and idle. Then each party's CPU per request: the API's Python against "
        "what PostgreSQL spent on the same request, and on one ceiling transaction.",
        "",
        "| operation | API run: app / PostgreSQL (background) / wrk / other / idle "
        "| ceiling run: PostgreSQL (background) / pgbench / other / idle "
        "| app ms per request | PostgreSQL ms per request "
        "| PostgreSQL ms per ceiling transaction |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for op in ops.values():
        app, ceiling = op["app"], op["ceiling"]
        a, c = CoreSplit(**app["cores"]), CoreSplit(**ceiling["cores"])
        requests, transactions = app["requests"], ceiling["transactions"]
        lines.append(
            f"| {op['title']} "
            f"| {a.server:.2f} / {a.postgres:.2f} ({a.postgres_background:.2f}) / "
            f"{a.client:.2f} / {a.other:.2f} / {a.idle:.2f} "
            f"| {c.postgres:.2f} ({c.postgres_background:.2f}) / {c.client:.2f} / "
            f"{c.other:.2f} / {c.idle:.2f} "
            f"| {a.per_request_ms('server', requests):.2f} "
            f"| {a.per_request_ms('postgres', requests):.2f} "
            f"| {c.per_request_ms('postgres', transactions):.2f} |"
        )
    if not results["operations"].get("postgres_local", True):
        lines += ["", "PostgreSQL ran on another machine: its CPU is not in these figures."]
    lines.append("")
    return lines


def _work(results: dict[str, Any]) -> list[str]:
    ops = measured(results, "pg_work")
    if not ops:
        return []
    lines = [
        "### What PostgreSQL did per request",
        "",
        "Read from `pg_stat_database` and `pg_stat_wal` before and after each run "
        "(`benchmarks/pgwork.py`), per API request against per ceiling transaction: "
        "transactions (a write's key lookup, sent before its transaction, is one of its "
        "own), buffers touched (shared buffers hit or read: a plan that scans shows here), "
        "and WAL written "
        "(records, bytes, and full-page images, which the first change to a page after a "
        "checkpoint writes whole). Each operation's API run goes first, so it writes the "
        "full-page images of the pages it and its ceiling both change, and the ceiling, "
        "right after, finds most of them written.",
        "",
        "| operation | transactions | buffers | WAL records | WAL bytes | full-page images |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    flagged = False
    for op in ops.values():
        app = PgWork(**op["app"]["pg_work"]).per(op["app"]["requests"])
        ceiling = PgWork(**op["ceiling"]["pg_work"]).per(op["ceiling"]["transactions"])
        cells = [
            f"{app[name]:{spec}} / {ceiling[name]:{spec}}"
            for name, spec in (
                ("transactions", ".2f"),
                ("buffers", ".1f"),
                ("wal_records", ".1f"),
                ("wal_bytes", ",.0f"),
                ("wal_fpi", ".2f"),
            )
        ]
        if other_plan(app["buffers"], ceiling["buffers"]):
            cells[1] += " ✗"
            flagged = True
        lines.append(f"| {op['title']} | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: API per request / ceiling per transaction."]
    if flagged:
        lines.append(
            "✗: more than twice the ceiling's buffers for the same statements: the API's "
            "ran on another plan (see the fifth round below for one such case)."
        )
    lines.append("")
    return lines


def other_plan(app_buffers: float, ceiling_buffers: float) -> bool:
    """Whether the API touched so many more buffers than the ceiling's transaction that
    its statements cannot have run on the same plans (a few over is noise: hint bits,
    a page split, an index probe of pgbench's side table)."""
    return app_buffers > 2 * ceiling_buffers + 4


def _server_options() -> str:
    from benchmarks.run import SERVER_OPTIONS

    return SERVER_OPTIONS


def write_docs(results: dict[str, Any]) -> None:
    """Replace the api-bench section of BENCHMARKS.md (keeping the rest) and the chart."""
    from benchmarks.chart import draw

    draw(results, CHART)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = section(results)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + block + tail
    else:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{block}\n{body}"
    DOC.write_text(text)
