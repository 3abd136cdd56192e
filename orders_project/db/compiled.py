"""QuerySets compiled to SQL once per process, then run with new values.

Django turns a QuerySet into SQL every time it is evaluated: cloning the query, resolving
each lookup, compiling the WHERE tree and the ORDER BY. For a one-row lookup by primary
key that is most of the Python the request spends on it (measured in
docs/BENCHMARKS.md). A `CompiledQuery` asks the ORM for the SQL once, with placeholder
values standing in for the parameters, and then runs that same SQL with each call's
values, building model instances (or value tuples) the way Django's own iterables do.

A `CompiledUpdate` does the same for `QuerySet.update()`, and a `CompiledInsert` for the
INSERT of `Model.save(force_insert=True)`.

The SQL is the ORM's, never written by hand, and it stays inside the repositories that
own the QuerySet. Since the SQL is built once, this is only for QuerySets whose SQL does
not depend on the values: no `__in` lists, no `None` comparisons, no values that change
the SQL (a slice's LIMIT is part of the SQL; compile one per limit).
Compiling checks that every SQL parameter is one of the placeholders, so a lookup that
transforms its value (`__contains`, `__iexact`) is refused rather than run wrongly.
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet, ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Model, QuerySet, signals
from django.db.models.expressions import DatabaseDefault
from django.db.models.query import FlatValuesListIterable, ModelIterable, ValuesListIterable
from django.db.models.sql import subqueries as sql_query
from django.db.transaction import TransactionManagementError

# Where an SQL parameter comes from: the index of the placeholder, and the type the ORM
# wrapped that placeholder in (psycopg's Int4 for an integer in arithmetic, say), if any.
type _Slot = tuple[int, type | None]


class _Placeheld:
    """A statement built from placeholder values by `build`, for the database `using`."""

    def __init__(
        self, build: Callable[..., Any], *placeholders: Any, using: str = DEFAULT_DB_ALIAS
    ) -> None:
        if len({repr(value) for value in placeholders}) != len(placeholders):
            raise ImproperlyConfigured("CompiledQuery placeholders must be distinct")
        self.build = build
        self.placeholders = placeholders
        self.using = using


class CompiledQuery(_Placeheld):
    """`build(*placeholders)` made into SQL on first use; `fetch(*values)` runs it.

    `placeholders` are sample values, one per argument of `build`, each distinct from the
    others and of the type the real values will have (a str for a CharField, a UUID for
    a UUIDField, an aware datetime for a DateTimeField).
    """

    build: Callable[..., QuerySet[Any]]
    _compiled: "_Compiled | None" = None

    def fetch(self, *values: Any) -> list[Any]:
        """Run the SQL with `values` (in `build`'s argument order); the rows as the
        QuerySet would have returned them: model instances, tuples or flat values."""
        compiled = self._compile()
        params = _params(compiled.slots, values)
        connection = connections[self.using]
        if compiled.locks_rows and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows: list[Any] = cursor.fetchall()
        if compiled.convert is not None:
            rows = list(compiled.convert(rows))
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
        sql, params = _as_sql(compiler)
        self.sql: str = sql
        self.slots = _slots(sql, params, placeholders)
        columns = [column for column, _, _ in compiler.select]
        self.convert = _row_converter(compiler, columns)
        self.shape = _shaper(queryset, compiler, using)


class CompiledUpdate(_Placeheld):
    """An UPDATE made once from `build(*placeholders)`, which returns the QuerySet to
    update and its changes (values or expressions, as `QuerySet.update()` takes them);
    `execute(*values)` runs it and returns how many rows it changed.

    The placeholders follow CompiledQuery's rules; a change whose field adapts its value
    on the way out (a JSONField, say) is refused, as no call-time value could stand in.
    """

    build: Callable[..., tuple[QuerySet[Any], dict[str, Any]]]
    _compiled: tuple[str, list[_Slot]] | None = None

    def execute(self, *values: Any) -> int:
        """Run the UPDATE with `values` (in `build`'s argument order); the row count."""
        sql, slots = self._compile()
        # As QuerySet.update(): a failed UPDATE dooms the surrounding transaction.
        with (
            transaction.mark_for_rollback_on_error(using=self.using),
            connections[self.using].cursor() as cursor,
        ):
            cursor.execute(sql, _params(slots, values))
            return int(cursor.rowcount)

    def _compile(self) -> tuple[str, list[_Slot]]:
        compiled = self._compiled
        if compiled is None:
            queryset, changes = self.build(*self.placeholders)
            if queryset.query.is_sliced or queryset.query.order_by:
                raise ImproperlyConfigured("CompiledUpdate takes no slice and no ordering")
            # What QuerySet.update() does before it compiles.
            query: Any = queryset.query.chain(sql_query.UpdateQuery)
            query.add_update_values(changes)
            query.clear_select_clause()
            if query.related_updates:
                raise ImproperlyConfigured("CompiledUpdate updates one table only")
            sql, params = _as_sql(query.get_compiler(using=self.using))
            compiled = self._compiled = (sql, _slots(sql, params, self.placeholders))
        return compiled


class CompiledInsert:
    """The INSERT `Model.save(force_insert=True)` sends for `model`, made once;
    `insert(instance)` runs it with the instance's values.

    The values take the steps they take in Django's insert compiler: each field's
    `pre_save`, then `get_db_prep_save`. Fields the database fills in (a `db_default`)
    are left to it, as the compiler leaves them, and read back with RETURNING through
    their converters, as save() reads them. What `save()` does besides is not done, so
    what depends on it is refused: a model with `pre_save`/`post_save` receivers
    (checked at every call), an auto-incremented primary key, generated fields, fields
    with their own SQL placeholder, expression values, and a value given for a field the
    database fills in (save() would send that value: other SQL).
    """

    def __init__(self, model: type[Model], *, using: str = DEFAULT_DB_ALIAS) -> None:
        self.model = model
        self.using = using
        self._compiled: _CompiledInsert | None = None

    def insert(self, instance: Model) -> None:
        """Insert `instance` as a new row; it is then saved, as after `save()`."""
        if signals.pre_save.has_listeners(self.model) or signals.post_save.has_listeners(
            self.model
        ):
            raise ImproperlyConfigured(
                f"CompiledInsert would skip the save signals {self.model.__name__} has"
            )
        connection = connections[self.using]
        compiled = self._compile()
        params = []
        for field in compiled.fields:
            value = field.pre_save(instance, True)
            if hasattr(value, "resolve_expression"):
                raise ImproperlyConfigured(f"CompiledInsert: {field.name} is an expression")
            params.append(field.get_db_prep_save(value, connection))
        for field in compiled.returning:
            if not isinstance(field.pre_save(instance, True), DatabaseDefault):
                raise ImproperlyConfigured(
                    f"CompiledInsert: {field.name} is filled in by the database, not given"
                )
        # As save(): a failed INSERT dooms the surrounding transaction.
        with (
            transaction.mark_for_rollback_on_error(using=self.using),
            connection.cursor() as cursor,
        ):
            cursor.execute(compiled.sql, params)
            returned = cursor.fetchone() if compiled.returning else None
        if returned is not None:
            (row,) = compiled.convert([returned]) if compiled.convert else [returned]
            for field, value in zip(compiled.returning, row, strict=True):
                setattr(instance, field.attname, value)
        instance._state.adding = False
        instance._state.db = self.using

    def _compile(self) -> "_CompiledInsert":
        compiled = self._compiled
        if compiled is None:  # a race here only compiles twice, to the same result
            compiled = self._compiled = _CompiledInsert(self.model, self.using)
        return compiled


class _CompiledInsert:
    """The INSERT's SQL, the fields whose values it takes, and those it returns."""

    def __init__(self, model: type[Model], using: str) -> None:
        meta = model._meta
        fields = list(meta.local_concrete_fields)
        if meta.auto_field is not None:
            raise ImproperlyConfigured("CompiledInsert: the primary key is auto-incremented")
        if any(getattr(field, "generated", False) for field in fields):
            raise ImproperlyConfigured("CompiledInsert: a field is generated by the database")
        if any(hasattr(field, "get_placeholder") for field in fields):
            raise ImproperlyConfigured("CompiledInsert: a field has its own placeholder")
        # What Model._save_table() does, on an unsaved instance of the model's defaults:
        # the fields with a db_default hold DatabaseDefault, which the compiler leaves out
        # of the column list for the database to fill in.
        self.returning = list(meta.db_returning_fields)
        self.fields = [field for field in fields if field not in self.returning]
        query = sql_query.InsertQuery(model)
        query.insert_values(fields, [model()])
        compiler: Any = query.get_compiler(using=using)
        compiler.returning_fields = self.returning or None
        [(sql, params)] = compiler.as_sql()
        if len(params) != len(self.fields):
            raise ImproperlyConfigured(f"CompiledInsert: unexpected parameters in {sql}")
        self.sql: str = sql
        columns = [field.get_col(meta.db_table) for field in self.returning]
        self.convert = _row_converter(compiler, columns)


def _row_converter(compiler: Any, columns: list[Any]) -> Callable[[list[Any]], Any] | None:
    """What the compiler applies to rows of these columns (from_db_value and the
    backend's own converters), or None when there is nothing to apply."""
    converters = compiler.get_converters(columns)
    if not converters:
        return None
    return lambda rows: compiler.apply_converters(rows, converters)


def _as_sql(compiler: Any) -> tuple[str, Sequence[Any]]:
    try:
        sql, params = compiler.as_sql()
    except EmptyResultSet:
        # The ORM decided from a placeholder alone that nothing can match (a negative
        # value for a positive field, say): the SQL would not be the one real values get.
        raise ImproperlyConfigured(
            "CompiledQuery placeholders make the query empty; choose in-range values"
        ) from None
    return sql, params


def _params(slots: list[_Slot], values: Sequence[Any]) -> list[Any]:
    return [values[index] if wrap is None else wrap(values[index]) for index, wrap in slots]


def _slots(sql: str, params: Sequence[Any], placeholders: Sequence[Any]) -> list[_Slot]:
    """For each SQL parameter, the placeholder it is (or wraps)."""
    slots = [_slot_of(param, placeholders) for param in params]
    unused = set(range(len(placeholders))) - {index for index, _ in slots}
    if unused:
        raise ImproperlyConfigured(
            f"CompiledQuery placeholders {sorted(unused)} do not reach the SQL: {sql}"
        )
    return slots


def _slot_of(param: Any, placeholders: Sequence[Any]) -> _Slot:
    # Exactly the placeholder, or a subclass of its type holding the same value: a
    # wrapper that only tells the driver the SQL type, applied again to each call's value.
    # Anything else (a JSON adapter, '%value%') is a value no call-time value can stand for.
    matches = [
        (index, None if type(param) is type(value) else type(param))
        for index, value in enumerate(placeholders)
        if isinstance(param, type(value)) and param == value
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
