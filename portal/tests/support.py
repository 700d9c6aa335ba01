"""Helpers for tests that start other processes against the test database."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def subprocess_database_url() -> str:
    """A DATABASE_URL for the test database, for a subprocess (TCP host or a Unix socket directory)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    # The embedded PostgreSQL of ./test listens on a socket directory: its path goes in the host, quoted.
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"
