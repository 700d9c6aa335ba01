"""``manage.py gateway_send_samples`` posts the samples and generated traffic over HTTP as a node."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from gateways.models import CallRecord, GatewayNode, IngestBatch


@pytest.fixture
def clean_raw_table():
    """A transactional test commits for real; the flush after it empties managed tables only.

    The raw table is unmanaged (not flushed) and the config-version row is seeded by a
    migration (flushed): leave both as every other test expects them.
    """
    yield
    with connection.cursor() as cur:
        cur.execute("TRUNCATE gateways_callrecord")


@pytest.fixture
def reseed_config_state():
    yield
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO gateways_configstate (id, version, changed_at) VALUES (1, 1, now()) ON CONFLICT DO NOTHING"
        )


@pytest.mark.django_db(transaction=True)
def test_samples_and_generated_traffic_arrive_through_http(reseed_config_state, live_server, clean_raw_table):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "gateway_send_samples", node="demo-edge", url=live_server.url, records=300, seed=7, stdout=out, stderr=err
    )
    assert "Registered node “demo-edge”" in err.getvalue()
    node = GatewayNode.objects.get(name="demo-edge")
    assert IngestBatch.objects.filter(node=node).count() == 3  # kong, apisix, one generated batch
    assert set(CallRecord.objects.values_list("source", flat=True)) == {"kong", "apisix", "native"}
    kong, apisix, native = (IngestBatch.objects.get(node=node, format=f) for f in ("kong", "apisix", "native"))
    assert (kong.accepted, apisix.accepted) == (2, 2)
    assert native.received == 300 and native.rejected == 0
    assert native.duplicates > 0  # the generator's 5 % retries
    assert CallRecord.objects.count() == 4 + native.accepted
    with pytest.raises(CommandError, match="pass its token"):
        call_command("gateway_send_samples", node="demo-edge", url=live_server.url, records=0, stdout=out)


def test_the_generator_is_skewed_and_has_late_and_duplicate_records() -> None:
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from bench import traffic

    now = datetime.now(UTC)
    records = traffic.generate(5000, seed=3, now=now)
    ids = Counter(r["request_id"] for r in records)
    duplicates = sum(c - 1 for c in ids.values())
    assert 150 < duplicates < 350  # ~5 %
    late = sum(1 for r in records if datetime.fromisoformat(r["ts"]) < now - timedelta(minutes=30))
    assert 20 < late < 100  # ~1 %
    keys = Counter(r["key_id"] for r in records if r["key_id"])
    top = keys.most_common(1)[0][1]
    assert top > 10 * (len(records) / len(traffic.synthetic_universe().key_ids))  # Zipf: hot keys
    statuses = Counter(r["status"] for r in records)
    assert statuses[200] > len(records) / 2 and statuses[429] > 0
