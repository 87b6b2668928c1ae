"""The store: alerts, their entities and activities, ingested sources (SQLAlchemy Core)."""

from dcwatch.store.db import Store

__all__ = ["Store"]
