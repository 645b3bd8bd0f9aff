"""Stores: SQLite (embedded default) and, later, Elasticsearch behind one protocol."""

from .base import AuthorStats, Bucket, Filters, Page, Store

__all__ = ["AuthorStats", "Bucket", "Filters", "Page", "Store"]
