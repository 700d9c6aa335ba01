"""The log shipper against the real portal: every call record in the raw table exactly once.

Records go through ``POST /gateway/v1/logs`` of pytest-django's live server, usually through
the switchable proxy of test_portal_client.py (portal down, lost answers, canned 503s), and
the assertions read ``gateways_callrecord`` and the stored batches.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
import uuid
from pathlib import Path

import pytest

from gateway_node.contracts import CallRecord
from gateway_node.shipper import Shipper
from gateway_node.tests.test_portal_client import LoopThread, Proxy, node_token
from gateway_node.tests.upstreams import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

FAST = {"batch_seconds": 0.05, "retry_base": 0.05, "retry_cap": 0.3}


@pytest.fixture
def loop():
    thread = LoopThread()
    yield thread
    thread.stop()


def _empty_raw_table() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE gateways_callrecord")


@pytest.fixture
def token(live_server):
    from django.db import connection

    # The raw call table is not a table the transactional test flush empties: start from an
    # empty one, and leave it empty for the tests that come after.
    _empty_raw_table()
    _, token = node_token()
    connection.close()
    yield token
    _empty_raw_table()


@pytest.fixture
def proxy(live_server):
    server = Proxy(live_server.url)
    yield server
    server.close()


def records(n: int, start: int = 0) -> list[CallRecord]:
    now = dt.datetime.now(dt.UTC)
    return [
        CallRecord(
            request_id=str(uuid.uuid4()),
            ts=(now + dt.timedelta(microseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            method="GET",
            path=f"/acme/orders/v1/orders/{start + i}",
            status=200,
            latency_ms=1.5,
            upstream_latency_ms=1.0,
            response_bytes=120,
            client_ip="10.0.0.1",
        )
        for i in range(n)
    ]


def add_all(loop: LoopThread, shipper: Shipper, batch: list[CallRecord]) -> None:
    """On the loop's thread, as the gate does."""

    def add() -> None:
        for record in batch:
            shipper.add(record)

    loop.call(add)


def stored() -> dict[str, int]:
    """request_id → how many times it is in the raw table."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT request_id::text, count(*) FROM gateways_callrecord GROUP BY request_id")
        return dict(cur.fetchall())


def stored_batches() -> dict[str, tuple[int, int, int]]:
    from gateways.models import IngestBatch

    return {b.batch_id: (b.received, b.accepted, b.duplicates) for b in IngestBatch.objects.all()}


def spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob("*.ndjson.gz"))


def spooled_paths(spool: Path) -> set[str]:
    paths = set()
    for file in spool_files(spool):
        for line in gzip.decompress(file.read_bytes()).splitlines():
            paths.add(json.loads(line)["path"])
    return paths


def exactly_once(sent: list[CallRecord]) -> None:
    counts = stored()
    assert {r.request_id for r in sent} == set(counts), "every record at the portal, and nothing else"
    assert set(counts.values()) == {1}, "none twice"


# --- Down, back, lost answers ------------------------------------------------------------------


def test_portal_down_then_back_loses_nothing_and_counts_nothing_twice(token, proxy, loop, tmp_path):
    proxy.refuse = True
    shipper = Shipper(
        portal_url=proxy.url, token=token, spool_dir=tmp_path, instance="edge-w0-1",
        batch_records=50, buffer_records=100, **FAST,
    )  # fmt: skip
    loop.start(shipper.run())
    sent = records(400)
    for i in range(0, 400, 50):  # in bursts, with turns of the event loop between them
        add_all(loop, shipper, sent[i : i + 50])
    # Down: all 400 wait, the in-memory part bounded, the rest spooled to disk.
    wait_for(lambda: shipper.spooled_records >= 250 and shipper.retries >= 2, what="batches spooled while down")
    assert shipper.depth == 400 and stored() == {}
    assert len(spool_files(tmp_path)) * 50 == shipper.spooled_records

    proxy.refuse = False
    wait_for(lambda: shipper.depth == 0, what="everything acknowledged")
    exactly_once(sent)
    assert shipper.records_acked == 400 == shipper.records_accepted and shipper.records_duplicates == 0
    assert shipper.batches_sent == 8 and len(stored_batches()) == 8
    assert spool_files(tmp_path) == [] and shipper.spooled_records == 0 and shipper.spool_bytes == 0
    assert shipper.dropped_records == 0


def test_a_lost_answer_is_resent_with_the_same_batch_id_and_counted_once(token, proxy, loop, tmp_path):
    proxy.drop_answers = 1  # the portal commits the batch, the answer never arrives
    shipper = Shipper(portal_url=proxy.url, token=token, spool_dir=tmp_path, instance="edge-w0-1", **FAST)
    loop.start(shipper.run())
    sent = records(10)
    add_all(loop, shipper, sent)
    wait_for(lambda: shipper.depth == 0, what="the batch acknowledged")

    posts = [e for e in proxy.exchanges if e.path == "/gateway/v1/logs"]
    assert [(e.status, e.delivered) for e in posts] == [(200, False), (200, True)]
    assert posts[0].headers["x-batch-id"] == posts[1].headers["x-batch-id"]  # fixed when cut
    assert posts[0].headers["content-encoding"] == "gzip"
    exactly_once(sent)
    # One stored batch; the resend was answered from its stored counts.
    assert stored_batches() == {posts[0].headers["x-batch-id"]: (10, 10, 0)}
    assert shipper.retries == 1 and shipper.records_acked == 10 and shipper.records_accepted == 10


def test_503_retry_after_is_honoured_and_the_batch_keeps_its_id(token, proxy, loop, tmp_path):
    proxy.canned = [
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
    ]
    shipper = Shipper(portal_url=proxy.url, token=token, spool_dir=tmp_path, instance="edge-w0-1", **FAST)
    loop.start(shipper.run())
    sent = records(5)
    add_all(loop, shipper, sent)
    wait_for(lambda: shipper.depth == 0, what="the batch acknowledged")
    first, second = proxy.exchanges
    assert (first.status, second.status) == (503, 200)
    assert second.at - first.at >= 0.95  # Retry-After: 1, though the backoff alone was 0.05 s
    assert first.headers["x-batch-id"] == second.headers["x-batch-id"]
    exactly_once(sent)


# --- Spool --------------------------------------------------------------------------------------


def test_the_spool_is_bounded_drops_the_oldest_and_a_restart_sends_the_rest(token, live_server, loop, tmp_path, capfd):
    closed = f"http://127.0.0.1:{free_port()}"
    # A batch of 10 of these records is ~475 bytes of gzip: the spool holds three.
    shipper = Shipper(
        portal_url=closed, token=token, spool_dir=tmp_path, instance="edge-w0-1",
        batch_records=10, buffer_records=10, spool_max_bytes=1500, **FAST,
    )  # fmt: skip
    loop.start(shipper.run())
    sent = []
    for round_ in range(10):  # one batch at a time, so that they are cut (and spooled) in order
        batch = records(10, start=round_ * 10)
        sent += batch
        add_all(loop, shipper, batch)
        wait_for(lambda n=round_: shipper.batches_spooled >= n, what="a cut")
    # Batch 0 is in flight (retried in memory), 1-9 went to the spool, which kept the newest.
    assert shipper.batches_spooled == 9 and shipper.dropped_batches == 6 and shipper.dropped_records == 60
    assert 0 < shipper.spool_bytes <= 1500
    assert sum(f.stat().st_size for f in spool_files(tmp_path)) == shipper.spool_bytes
    assert spooled_paths(tmp_path) == {f"/acme/orders/v1/orders/{i}" for i in range(70, 100)}
    assert shipper.depth == 40  # 30 spooled + 10 in flight: what the heartbeat reports
    assert "LOST 10 call record(s)" in capfd.readouterr().err  # loudly

    # Stopping: the batch in flight is the oldest; with the spool full it is the one to go.
    loop.run(shipper.close(timeout=1))
    assert shipper.dropped_records == 70 and shipper.depth == 30 == shipper.spooled_records
    survivors = {r.request_id for r in sent[70:]}

    # Restart against the portal: the spool goes first, each record once.
    again = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-2", **FAST)
    assert again.depth == 30  # known before anything is sent (the heartbeat reports it)
    loop.start(again.run())
    wait_for(lambda: again.depth == 0, what="the spool sent")
    assert set(stored()) == survivors and set(stored().values()) == {1}
    assert spool_files(tmp_path) == []


def test_a_batch_in_flight_at_close_is_spooled_to_go_first(token, live_server, loop, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    shipper = Shipper(
        portal_url=closed, token=token, spool_dir=tmp_path, instance="edge-w0-1", batch_records=10,
        buffer_records=10, **FAST,
    )  # fmt: skip
    loop.start(shipper.run())
    sent = records(30)
    for i in range(3):
        add_all(loop, shipper, sent[i * 10 : (i + 1) * 10])
        wait_for(lambda n=i: shipper.batches_spooled >= n, what="a cut")
    loop.run(shipper.close(timeout=1))
    files = sorted(spool_files(tmp_path), key=lambda f: f.stat().st_mtime_ns)
    first = {json.loads(line)["path"] for line in gzip.decompress(files[0].read_bytes()).splitlines()}
    assert first == {r.path for r in sent[:10]}  # the oldest records are the oldest file

    again = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-2", **FAST)
    loop.run(again.close(timeout=5))
    exactly_once(sent)


def test_close_flushes_what_is_buffered(token, live_server, loop, tmp_path):
    shipper = Shipper(
        portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-1", batch_seconds=60
    )
    loop.start(shipper.run())
    sent = records(25)
    add_all(loop, shipper, sent)
    time.sleep(0.1)
    assert stored() == {}  # neither full nor old: still buffered
    loop.run(shipper.close(timeout=5))
    exactly_once(sent)
    assert shipper.depth == 0 and spool_files(tmp_path) == []


def test_close_with_the_portal_down_spools_everything_for_the_next_start(token, live_server, loop, tmp_path):
    closed = f"http://127.0.0.1:{free_port()}"
    shipper = Shipper(
        portal_url=closed, token=token, spool_dir=tmp_path, instance="edge-w0-1", batch_records=20, **FAST
    )
    loop.start(shipper.run())
    sent = records(50)
    add_all(loop, shipper, sent)
    started = time.monotonic()
    loop.run(shipper.close(timeout=3))
    assert time.monotonic() - started < 3.5
    assert shipper.depth == 50 == shipper.spooled_records
    assert sorted(int(f.name.split("~")[1].split(".")[0]) for f in spool_files(tmp_path)) == [10, 20, 20]

    again = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-2", **FAST)
    loop.run(again.close(timeout=5))  # close() alone sends, even without run()
    exactly_once(sent)
    assert again.depth == 0 and spool_files(tmp_path) == []


# --- What the portal refuses ----------------------------------------------------------------------


def test_413_splits_the_batch_until_it_fits(token, live_server, loop, tmp_path, settings):
    settings.GATEWAY_LOGS_MAX_RECORDS = 3
    shipper = Shipper(
        portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-1", batch_records=10, **FAST
    )
    loop.start(shipper.run())
    sent = records(10)
    add_all(loop, shipper, sent)
    wait_for(lambda: shipper.depth == 0, what="all halves acknowledged")
    exactly_once(sent)
    batches = stored_batches()
    assert all(received <= 3 for received, _, _ in batches.values()) and len(batches) == 4
    parent = next(iter(batches)).split(".")[0]
    assert set(batches) == {f"{parent}.a.a", f"{parent}.a.b", f"{parent}.b.a", f"{parent}.b.b"}
    assert shipper.splits == 3 and shipper.quarantined_batches == 0


def test_a_batch_the_portal_refuses_is_quarantined_and_the_rest_goes_on(token, live_server, loop, tmp_path):
    # A spool file damaged on disk: the portal answers 400 invalid_gzip for it.
    (tmp_path / "edge-w0-0-dead-1~5.ndjson.gz").write_bytes(b"\x1f\x8b not really gzip")
    shipper = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-1", **FAST)
    assert shipper.depth == 5
    loop.start(shipper.run())
    sent = records(7)
    add_all(loop, shipper, sent)
    wait_for(lambda: shipper.depth == 0, what="the good batch acknowledged")
    exactly_once(sent)
    assert shipper.quarantined_batches == 1 and shipper.quarantined_records == 5
    rejected = tmp_path / "rejected"
    assert (rejected / "edge-w0-0-dead-1~5.ndjson.gz").read_bytes() == b"\x1f\x8b not really gzip"
    assert "invalid_gzip" in (rejected / "edge-w0-0-dead-1~5.reason.txt").read_text()
    assert spool_files(tmp_path) == []


def test_a_refused_token_keeps_everything_visible_in_depth(token, live_server, loop, tmp_path):
    shipper = Shipper(
        portal_url=live_server.url, token="gwn_nope_nope", spool_dir=tmp_path, instance="edge-w0-1", **FAST
    )
    loop.start(shipper.run())
    sent = records(12)
    add_all(loop, shipper, sent)
    wait_for(lambda: shipper.auth_failures >= 1, what="a 401")
    time.sleep(0.2)
    assert shipper.depth == 12 and stored() == {} and "401" in shipper.last_error
    assert shipper.auth_failures == 1  # "retry slowly": not again within retry_cap
    loop.run(shipper.close(timeout=1))
    assert shipper.spooled_records == 12

    # The operator gives the node its token: nothing was lost.
    again = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-2", **FAST)
    loop.run(again.close(timeout=5))
    exactly_once(sent)


def test_batch_ids_are_unique_across_restarts_of_the_same_worker(token, live_server, loop, tmp_path):
    """Same instance name twice (a worker restarted with the same pid): the second run's
    batches must not be taken for the first one's and answered from stored counts."""
    first, second = records(3), records(3)
    for batch in (first, second):
        shipper = Shipper(portal_url=live_server.url, token=token, spool_dir=tmp_path, instance="edge-w0-7")
        add_all(loop, shipper, batch)
        loop.run(shipper.close(timeout=5))
    exactly_once(first + second)
    assert len(stored_batches()) == 2
