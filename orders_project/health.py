"""Liveness and readiness probes."""

import logging

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from orders_project.errors import ServiceUnavailable
from orders_project.problems import only_get, problem_response

logger = logging.getLogger(__name__)
_migrations_applied = False


@csrf_exempt
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process serves requests; touches nothing else."""
    return only_get(request) or JsonResponse({"status": "ok"})


@csrf_exempt
def readyz(request: HttpRequest) -> HttpResponse:
    """200 when the database answers and every migration is applied, else 503 with why."""
    refused = only_get(request)
    if refused:
        return refused
    global _migrations_applied
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        if not _migrations_applied:
            executor = MigrationExecutor(connection)
            pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
            if pending:
                return problem_response(
                    ServiceUnavailable(
                        f"{len(pending)} migration(s) not applied; run `manage.py migrate`.",
                        headers={"Retry-After": "5"},
                    )
                )
            # Applied migrations stay applied for the life of this process.
            _migrations_applied = True
    except DatabaseError as error:
        logger.warning("readiness: database unreachable: %s", error)
        return problem_response(ServiceUnavailable("The database is unreachable."))
    return JsonResponse({"status": "ready"})
