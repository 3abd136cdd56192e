"""Admin pieces for tables of millions of rows: every page reads a bounded number of rows.

Django's admin defaults assume a small table: the change list counts every matching row
for its paginator, a field's list filter offers `SELECT DISTINCT` of the column, facets
count every choice, any column header sorts the whole table and `=field` searches compare
`UPPER(column::text)`, which no index serves. Each of those is a full scan per page load
at ten million rows. `LargeTableAdmin` turns them off and gives the pieces below instead;
the model admins still have to order and filter only by what an index serves. Every app's
large table has a `tenant_id` (`TenantFilter`) and is written only by its services
(`ReadOnlyAdminMixin`).
"""

from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property


class CappedCountPaginator(Paginator):
    """Counts at most `limit` rows, so a page load never counts the whole table.

    `SELECT COUNT(*) FROM (… LIMIT limit + 1)` stops after `limit` + 1 rows of the index
    the list is ordered by. A longer list shows "more than 10000" and its first
    `limit` rows in pages; beyond them an OFFSET would itself walk the index that far, so
    an operator narrows the list with a filter or a search instead.
    """

    limit = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.truncated = False

    @cached_property
    def count(self) -> int:
        """Rows in the list, at most `limit`; `truncated` says whether there are more."""
        window = self.object_list[: self.limit + 1]
        counted = window.count() if isinstance(window, QuerySet) else len(window)
        self.truncated = counted > self.limit
        return min(counted, self.limit)


class ExactValueFilter(admin.ListFilter):
    """A text box filtering on one column's exact value (a tenant id, say).

    Django's filter for a plain column lists `SELECT DISTINCT column` over the whole table
    to offer its choices; this one takes the value as input instead, and the filter is
    one equality an index serves. Subclasses name the `title`, `parameter_name` (the query
    string parameter) and `field_name` (the column).
    """

    template = "admin/exact_value_filter.html"
    parameter_name: str
    field_name: str

    def __init__(
        self, request: HttpRequest, params: dict[str, list[str]], model: Any, model_admin: Any
    ) -> None:
        super().__init__(request, params, model, model_admin)
        if self.parameter_name in params:
            value = params.pop(self.parameter_name)[-1].strip()
            if value:
                self.used_parameters[self.parameter_name] = value

    def value(self) -> str | None:
        """The value asked for, or None when the filter is not in use."""
        value = self.used_parameters.get(self.parameter_name)
        return value if isinstance(value, str) else None

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{self.field_name: value}) if value else queryset

    def choices(self, changelist: Any) -> Any:
        # One "choice": what the template needs to draw the form. The other parameters
        # ride along as hidden fields, except the page number ("p", the admin's page
        # parameter): a new filter starts at page 1.
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value() or "",
            "hidden": [
                (name, value)
                for name, values in self.request.GET.lists()
                if name not in (self.parameter_name, "p")
                for value in values
            ],
            "clear_query_string": changelist.get_query_string(remove=[self.parameter_name]),
        }


class TenantFilter(ExactValueFilter):
    """Rows of one tenant, typed in: listing every tenant would scan the table."""

    title = "tenant"
    parameter_name = "tenant_id"
    field_name = "tenant_id"


class ReadOnlyAdminMixin:
    """Inspect only: writes here would bypass the services (versions, state rules, the
    outbox)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LargeTableAdmin(admin.ModelAdmin):
    """A model admin whose change list never reads a whole table.

    Subclasses order by an indexed column (`ordering`), filter with fixed choices or
    `ExactValueFilter`s on indexed columns, and say in `search` what a term matches,
    straight from an index; the tests check each page's plans
    (orders_project/tests/test_large_admin.py).
    """

    paginator = CappedCountPaginator
    # Counting the unfiltered table next to the filtered count: a full count per page.
    show_full_result_count = False
    # "Show counts" counts every choice of every filter over the list: full scans.
    show_facets = admin.ShowFacets.NEVER
    # A click on any other column header would sort the whole table.
    sortable_by = ()

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # Never Django's own search: its `=field` compares UPPER(column::text), which no
        # index serves. The results never hold duplicates (no joins), hence False.
        term = search_term.strip()
        return (self.search(request, queryset, term) if term else queryset), False

    def search(self, request: HttpRequest, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        """The rows `term` (stripped, never empty) names, found by an index."""
        raise NotImplementedError(f"{type(self).__name__} must say what a search matches")
