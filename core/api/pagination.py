"""Pagination: pages for small lists, cursors for judgments and synthetic pairs (stable under inserts)."""
from rest_framework.pagination import CursorPagination, PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class JudgmentCursorPagination(CursorPagination):
    """Newest first; a cursor stays valid while annotators keep adding judgments."""

    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class IncrementalCursorPagination(CursorPagination):
    """Oldest first by id, so a client can follow `next` (or pass `since_id`) to fetch only new rows."""

    ordering = ("id",)
    page_size = 200
    page_size_query_param = "page_size"
    max_page_size = 2000
