"""Liveness and readiness probes."""

import logging

from django.core.management import call_command
from django.db import DatabaseError, connection
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
            if _migrations_pending():
                return problem_response(
                    ServiceUnavailable(
                        "Some migrations are not applied; run `manage.py migrate`.",
                        headers={"Retry-After": "5"},
                    )
                )
            # Applied migrations stay applied for the life of this process.
            _migrations_applied = True
    except DatabaseError as error:
        logger.warning("readiness: database unreachable: %s", error)
        return problem_response(ServiceUnavailable("The database is unreachable."))
    return JsonResponse({"status": "ready"})


def _migrations_pending() -> bool:
    # `migrate --check` exits with a non-zero status while a migration is not applied.
    try:
        call_command("migrate", check_unapplied=True, verbosity=0)
    except SystemExit:
        return True
    return False
