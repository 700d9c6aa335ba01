"""The raw call table: day partitions ahead, a default partition so inserts never fail, retention."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection

from gateways import partitions, tasks

pytestmark = pytest.mark.django_db(transaction=False)


def _insert(ts: datetime) -> None:
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO gateways_callrecord (request_id, ts, node_id, source, status) "
            "VALUES (gen_random_uuid(), %s, 1, 'native', 200)",
            [ts],
        )


def _where(ts: datetime) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM gateways_callrecord WHERE ts = %s", [ts])
        return cur.fetchone()[0]


def test_the_migration_creates_partitions_around_today_and_the_task_keeps_them_ahead():
    today = datetime.now(UTC).date()
    days = partitions.list_partitions()
    for offset in range(-1, 4):
        assert today + timedelta(days=offset) in days
    tasks.ensure_partitions_task()  # idempotent
    assert partitions.list_partitions() == days
    _insert(datetime.now(UTC))
    assert _where_any() == {partitions.partition_name(today)}


def _where_any() -> set[str]:
    with connection.cursor() as cur:
        cur.execute("SELECT DISTINCT tableoid::regclass::text FROM gateways_callrecord")
        return {row[0] for row in cur.fetchall()}


def test_a_row_without_a_partition_lands_in_the_default_and_moves_when_its_day_is_created():
    far = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    _insert(far)  # no partition for that day: the default one takes it, the insert does not fail
    assert _where(far) == "gateways_callrecord_default"
    created = partitions.ensure_partitions(days_behind=0, days_ahead=0, today=date(2026, 1, 15))
    assert created == ["gateways_callrecord_p20260115"]
    assert _where(far) == "gateways_callrecord_p20260115"


def test_late_rows_in_the_default_partition_are_rehomed_by_the_beat_task():
    late = datetime.now(UTC) - timedelta(days=5)
    _insert(late)
    assert _where(late) == "gateways_callrecord_default"
    tasks.ensure_partitions_task()
    assert _where(late) == partitions.partition_name(late.date())


def test_retention_drops_whole_partitions_older_than_the_setting(settings):
    settings.RAW_RETENTION_DAYS = 30
    old_day = datetime.now(UTC).date() - timedelta(days=31)
    partitions.ensure_partitions(days_behind=0, days_ahead=0, today=old_day)
    _insert(datetime.combine(old_day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1))
    kept_day = datetime.now(UTC).date() - timedelta(days=30)
    partitions.ensure_partitions(days_behind=0, days_ahead=0, today=kept_day)
    dropped = tasks.drop_expired_partitions_task()
    assert dropped == [partitions.partition_name(old_day)]
    days = partitions.list_partitions()
    assert old_day not in days and kept_day in days
