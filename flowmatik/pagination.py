"""Page-number pagination with a capped, client-chosen page size.

`?page=` and `?page_size=` must be positive integers (400 `invalid_input` otherwise);
`page_size` above `API_MAX_PAGE_SIZE` is capped, and a page past the end is a 404.
"""

from django.conf import settings
from rest_framework import pagination

from flowmatik.errors import InvalidInput


def _positive_int(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidInput(details={"fields": {name: ["Must be a positive integer."]}})
    return int(raw)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read at call time so tests can override
        return settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        size = _positive_int(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        return min(size, self.max_page_size)
