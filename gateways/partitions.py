"""Maintenance of the day partitions of the raw call table ``gateways_callrecord``.

Partitions are UTC days named ``gateways_callrecord_pYYYYMMDD``; a default partition catches
rows no partition covers yet (a node's clock far ahead, a late record older than the oldest
partition, the beat task not running), so an insert never fails. Creating a day's partition
goes through the SQL function ``gateways_callrecord_ensure_partition(day)`` (migration
0002), which moves that day's rows out of the default partition in the same transaction and
then attaches the new table. Retention drops whole partitions (no DELETE, no vacuum debt).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

PARENT = "gateways_callrecord"
DEFAULT = "gateways_callrecord_default"
_NAME = re.compile(r"^gateways_callrecord_p(\d{8})$")


def _today() -> date:
    return datetime.now(UTC).date()


def partition_name(day: date) -> str:
    return f"{PARENT}_p{day:%Y%m%d}"


def list_partitions() -> dict[date, str]:
    """The day partitions attached to the raw table, by day (the default partition excluded)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass",
            [PARENT],
        )
        names = [row[0] for row in cur.fetchall()]
    found: dict[date, str] = {}
    for name in names:
        match = _NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return found


def ensure_partitions(*, days_behind: int = 1, days_ahead: int = 3, today: date | None = None) -> list[str]:
    """Create the partitions for today - days_behind … today + days_ahead; returns the new ones.

    Rows already in the default partition for a day being created are moved into it (same
    transaction, see the SQL function), so nothing stays stranded in the default partition.
    """
    today = today or _today()
    created = []
    for offset in range(-days_behind, days_ahead + 1):
        day = today + timedelta(days=offset)
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT gateways_callrecord_ensure_partition(%s::date)", [day])
            if cur.fetchone()[0]:
                created.append(partition_name(day))
    return created


def rehome_default_rows(*, today: date | None = None, retention_days: int) -> list[str]:
    """Create a partition for every day (within retention) that has rows in the default partition.

    Late records older than the oldest partition land in the default partition; this gives
    their day a partition and moves them there (so retention can later drop them whole).
    """
    today = today or _today()
    cutoff = today - timedelta(days=retention_days)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date FROM gateways_callrecord_default WHERE ts >= %s",
            [datetime.combine(cutoff, datetime.min.time(), tzinfo=UTC)],
        )
        days = sorted(row[0] for row in cur.fetchall())
    created = []
    for day in days:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT gateways_callrecord_ensure_partition(%s::date)", [day])
            if cur.fetchone()[0]:
                created.append(partition_name(day))
    return created


def drop_expired_partitions(*, retention_days: int, today: date | None = None) -> list[str]:
    """Drop the day partitions entirely older than the retention; purge the default partition likewise.

    A day partition is dropped when its day < today - retention_days (so ``retention_days``
    whole days are always kept besides today).
    """
    today = today or _today()
    cutoff = today - timedelta(days=retention_days)
    dropped = []
    for day, name in sorted(list_partitions().items()):
        if day < cutoff:
            with transaction.atomic(), connection.cursor() as cur:
                # DETACH first: DROP of an attached partition would hold the parent's lock longer.
                cur.execute(f'ALTER TABLE {PARENT} DETACH PARTITION "{name}"')
                cur.execute(f'DROP TABLE "{name}"')
            dropped.append(name)
    with connection.cursor() as cur:
        cur.execute(
            "DELETE FROM gateways_callrecord_default WHERE ts < %s",
            [datetime.combine(cutoff, datetime.min.time(), tzinfo=UTC)],
        )
    return dropped
