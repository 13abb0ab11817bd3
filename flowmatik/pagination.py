"""Page-number pagination with a capped, client-chosen page size."""

from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # read at call time so tests can override
        return settings.API_MAX_PAGE_SIZE
