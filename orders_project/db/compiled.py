"""QuerySets compiled to SQL once per process, then run with new values.

Django turns a QuerySet into SQL every time it is evaluated: cloning the query, resolving
each lookup, compiling the WHERE tree and the ORDER BY. For a one-row lookup by primary
key that is most of the Python the request spends on it (measured in
docs/BENCHMARKS.md). A `CompiledQuery` asks the ORM for the SQL once, with placeholder
values standing in for the parameters, and then runs that same SQL with each call's
values, building model instances (or value tuples) the way Django's own iterables do.

The SQL is the ORM's, never written by hand, and it stays inside the repositories that
own the QuerySet. What it gives up is re-planning per call, so it is only for QuerySets
whose shape does not depend on the values: no `__in` lists, no `None` comparisons, no
values that change the SQL (a slice's LIMIT is part of the SQL; compile one per limit).
Compiling checks that every SQL parameter is one of the placeholders, so a lookup that
transforms its value (`__contains`, `__iexact`) is refused rather than run wrongly.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable
from django.db.transaction import TransactionManagementError


class CompiledQuery:
    """`build(*placeholders)` made into SQL on first use; `fetch(*values)` runs it.

    `placeholders` are sample values, one per argument of `build`, each distinct from the
    others and of the type the real values will have (a str for a CharField, a UUID for
    a UUIDField, an aware datetime for a DateTimeField).
    """

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        *placeholders: Any,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        if len({repr(value) for value in placeholders}) != len(placeholders):
            raise ImproperlyConfigured("CompiledQuery placeholders must be distinct")
        self.build = build
        self.placeholders = placeholders
        self.using = using
        self._compiled: _Compiled | None = None

    def sql(self) -> tuple[str, list[int]]:
        """The SQL, and for each of its parameters the index of the argument it takes."""
        compiled = self._compile()
        return compiled.sql, compiled.slots

    def fetch(self, *values: Any) -> list[Any]:
        """Run the SQL with `values` (in `build`'s argument order); the rows as the
        QuerySet would have returned them: model instances, tuples or flat values."""
        compiled = self._compile()
        params = [values[slot] for slot in compiled.slots]
        connection = connections[self.using]
        if compiled.locks_rows and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows: list[Any] = cursor.fetchall()
        if compiled.converters:
            rows = list(compiled.apply_converters(rows))
        return compiled.shape(rows)

    def _compile(self) -> "_Compiled":
        compiled = self._compiled
        if compiled is None:  # a race here only compiles twice, to the same result
            compiled = self._compiled = _Compiled(
                self.build(*self.placeholders), self.placeholders, self.using
            )
        return compiled


class _Compiled:
    """What one compilation yields: SQL, parameter slots and how to shape the rows."""

    def __init__(self, queryset: QuerySet[Any], placeholders: Sequence[Any], using: str) -> None:
        # Django refuses, at each evaluation, to lock rows outside a transaction (the
        # lock would end with the statement); fetch() repeats that check.
        self.locks_rows = bool(queryset.query.select_for_update)
        if queryset._prefetch_related_lookups or queryset.query.select_related:  # type: ignore[attr-defined]
            raise ImproperlyConfigured("CompiledQuery does not follow relations")
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        self.sql: str = sql
        self.slots = [_slot_of(param, placeholders) for param in params]
        unused = set(range(len(placeholders))) - set(self.slots)
        if unused:
            raise ImproperlyConfigured(
                f"CompiledQuery placeholders {sorted(unused)} do not reach the SQL: {sql}"
            )
        columns = [column for column, _, _ in compiler.select]
        self.converters = compiler.get_converters(columns)
        self.apply_converters = lambda rows: compiler.apply_converters(rows, self.converters)
        self.shape = _shaper(queryset, compiler, using)


def _slot_of(param: Any, placeholders: Sequence[Any]) -> int:
    matches = [
        index
        for index, value in enumerate(placeholders)
        if type(value) is type(param) and value == param
    ]
    if len(matches) != 1:
        raise ImproperlyConfigured(
            f"CompiledQuery: SQL parameter {param!r} is not exactly one of the placeholders"
        )
    return matches[0]


def _shaper(queryset: QuerySet[Any], compiler: Any, using: str) -> Callable[[list[Any]], Any]:
    iterable = queryset._iterable_class
    if iterable is ModelIterable:
        if compiler.annotation_col_map or queryset.query.extra_select:
            raise ImproperlyConfigured("CompiledQuery builds plain model rows only")
        klass_info = compiler.klass_info
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in compiler.select[start:end]]

        def models(rows: list[Any]) -> list[Any]:
            return [model.from_db(using, names, row[start:end]) for row in rows]

        return models
    if iterable is ValuesListIterable:
        return lambda rows: [tuple(row) for row in rows]
    if iterable is FlatValuesListIterable:
        return lambda rows: [row[0] for row in rows]
    raise ImproperlyConfigured(f"CompiledQuery does not support {iterable.__name__}")
