"""Call records on their way to the portal: buffer, batches, retries, the disk spool.

The gate hands every finished call to :meth:`Shipper.add` (an append, nothing more). Two
background loops do the rest:

- the **cutter** turns the buffer into batches, by size (``batch_records``) or age
  (``batch_seconds``): NDJSON encoded by msgspec, gzip-compressed, each with a batch id that
  is fixed there and then and sent with every retry (``X-Batch-Id``), so a resend after a lost
  answer is answered from the portal's stored counts and never counted twice. When more than
  ``buffer_records`` records wait in memory (the portal is away), the oldest batches go to the
  spool on disk;
- the **sender** posts one batch at a time: spooled ones first (oldest first), then the
  newer ones from memory. It retries with exponential backoff and jitter, splits a batch the
  portal finds too big (413), quarantines one it refuses as malformed (400), and keeps
  everything while the token is refused (401).

The spool (``spool_dir``, one file per batch, ``<batch id>~<records>.ndjson.gz``, exactly the
body sent) is bounded by ``spool_max_bytes``: when full, the oldest batch is dropped, loudly.
On start the batches found there are sent first; :meth:`Shipper.close` sends what it can and
spools the rest. See docs/gateway-node-shipping.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import os
import random
import re
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gateway_node.contracts import CallRecord
from gateway_node.portal_client import Answer, PortalError, PortalHttp, say

LOGS_PATH = "/gateway/v1/logs"
SPOOL_SUFFIX = ".ndjson.gz"
REJECTED_DIR = "rejected"
#: zlib level 6: a 1000-record batch (~370 KB of NDJSON) shrinks to ~27 KB in ~1.8 ms.
GZIP_LEVEL = 6
#: Bodies at least this big are compressed in a worker thread, not on the event loop.
THREAD_COMPRESS_BYTES = 64 * 1024
#: The portal's limit on X-Batch-Id.
MAX_BATCH_ID = 100
#: The instance part of a batch id is cut to this, leaving room for the boot token, the
#: counter and the ``.a``/``.b`` suffixes of split batches.
MAX_INSTANCE = 48
#: A Retry-After longer than this is not believed (a misconfigured proxy must not stall shipping).
MAX_RETRY_AFTER = 300.0

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(slots=True)
class Batch:
    """A cut batch: its id (final), record count, and its gzip body in memory or in a spool file."""

    batch_id: str
    records: int
    size: int  # bytes of the gzip body
    body: bytes | None = None
    path: Path | None = None


def _compress_now(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


async def _compress(data: bytes) -> bytes:
    if len(data) < THREAD_COMPRESS_BYTES:
        return _compress_now(data)
    return await asyncio.to_thread(_compress_now, data)  # zlib lets go of the GIL meanwhile


def _retry_after(value: str | None) -> float:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date), 0 if none."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, min(when.timestamp() - time.time(), MAX_RETRY_AFTER))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class Shipper:
    """Ships call records to ``POST /gateway/v1/logs``; see the module docstring."""

    def __init__(
        self,
        *,
        portal_url: str,
        token: str,
        spool_dir: Path,
        instance: str,
        batch_records: int = 1000,
        batch_seconds: float = 1.0,
        buffer_records: int = 100_000,
        spool_max_bytes: int = 256 * 1024 * 1024,
        timeout: float = 10.0,
        retry_base: float = 0.5,
        retry_cap: float = 30.0,
    ) -> None:
        self.http = PortalHttp(portal_url, token, timeout=timeout)
        self.spool_dir = Path(spool_dir)
        self.instance = _UNSAFE.sub("-", instance)[:MAX_INSTANCE] or "node"
        self.batch_records = max(1, batch_records)
        self.batch_seconds = batch_seconds
        self.buffer_records = max(1, buffer_records)
        self.spool_max_bytes = spool_max_bytes
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        # A random token per Shipper: batch ids are unique per node *token* at the portal, and
        # a restarted worker (same name, maybe the same pid) must never reuse an old batch id:
        # the portal would answer it with the old batch's counts and store nothing.
        self._boot = uuid.uuid4().hex[:10]
        self._counter = 0

        self._buffer: list[CallRecord] = []
        # A safety net, not the memory bound (the cutter keeps that, by spooling): the uncut
        # buffer reaches it only if the cutter does not run at all, or cannot get a turn on
        # the event loop while a burst twice the whole memory budget comes in.
        self._buffer_cap = 2 * self.buffer_records + self.batch_records
        self._ready: deque[Batch] = deque()  # cut, in memory, oldest first
        self._ready_records = 0
        self._spool: deque[Batch] = deque()  # spooled and not in flight, oldest first
        self._spool_queued_records = 0
        self._spool_bytes = 0  # every spool file, in flight or not
        self._inflight: list[Batch] = []  # being sent: one batch, or the halves of a split one
        self._inflight_records = 0
        self._encoder = msgspec.json.Encoder()
        self._full = asyncio.Event()  # the buffer holds a whole batch
        self._work = asyncio.Event()  # a batch is waiting for the sender
        self._stop = asyncio.Event()  # close() began: end a backoff pause
        self._closing = False
        self._closed = False
        self._cutter: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._failing = ""  # the sender's current trouble, reported once when it starts

        # What happened, as plain attributes for /metrics (counters only grow).
        self.batches_sent = 0  # batches the portal acknowledged (200)
        self.records_acked = 0  # records in them
        self.records_accepted = 0  # the portal's counts for them
        self.records_duplicates = 0
        self.records_rejected = 0  # malformed records the portal quarantined
        self.retries = 0  # attempts that failed and were retried
        self.batches_spooled = 0  # batches written to the spool
        self.spooled_records = 0  # gauge: records in spool files now
        self.dropped_batches = 0  # batches lost: spool full, spool not writable or not readable
        self.dropped_records = 0  # records lost: dropped batches and buffer overflow
        self.overflow_records = 0  # of which refused by add() because the cutter was not running
        self.quarantined_batches = 0  # whole batches the portal refused (400), kept in rejected/
        self.quarantined_records = 0
        self.splits = 0  # batches split in halves after a 413
        self.auth_failures = 0  # 401/403 answers
        self.last_error = ""
        self.last_ack_at: float | None = None

        self._reported_overflow = 0
        self._scan_spool()

    # -- the hot path

    def add(self, record: CallRecord) -> None:
        """Queue one call record: O(1), no I/O, no task."""
        buffer = self._buffer
        buffer.append(record)
        if len(buffer) >= self.batch_records:
            self._full.set()
            if len(buffer) > self._buffer_cap:
                # Only when nothing cuts the buffer (run() not started or stuck): refuse the
                # newest rather than grow without bound. Counted; the cutter reports it.
                buffer.pop()
                self.overflow_records += 1
                self.dropped_records += 1

    @property
    def depth(self) -> int:
        """Records not yet acknowledged by the portal: buffered, cut, in flight and spooled."""
        return len(self._buffer) + self._ready_records + self._spool_queued_records + self._inflight_records

    @property
    def spool_bytes(self) -> int:
        return self._spool_bytes

    # -- lifecycle

    async def run(self) -> None:
        """Cut and send until :meth:`close` (which ends both loops); cancelling it stops them too."""
        if self._closing:
            return
        self._cutter = asyncio.create_task(self._cut_loop())
        self._sender = asyncio.create_task(self._send_loop())
        try:
            await asyncio.wait([self._cutter, self._sender])
        finally:
            if not self._closing:  # cancelled without close(): what is in memory stays there
                self._cutter.cancel()
                self._sender.cancel()

    async def close(self, timeout: float = 10.0) -> None:
        """Send everything within ``timeout`` seconds; spool what could not be sent.

        A send that fails during close is not retried: its batch, and everything after it,
        goes to the spool and leaves at the next start.
        """
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._closing = True
        self._stop.set()
        self._work.set()
        if self._cutter is not None and not self._cutter.done():
            self._cutter.cancel()  # a cut cancelled mid-way leaves its records in the buffer
            await asyncio.wait([self._cutter])
        try:
            while self._buffer:
                await self._cut(self.batch_records)
        except Exception as exc:  # noqa: BLE001 - the records stay in the buffer and are counted lost
            say(f"log shipper: cannot cut the last batch: {exc}")
        sender = self._sender
        if sender is None or sender.done():
            sender = self._sender = asyncio.create_task(self._send_loop())
        done, _ = await asyncio.wait([sender], timeout=max(0.0, deadline - loop.time()))
        if not done:
            sender.cancel()  # a batch cancelled mid-request is resent later with the same id
            await asyncio.wait([sender])
        self._spool_memory()
        self._closed = True
        if self._buffer:
            self.dropped_records += len(self._buffer)
            say(f"log shipper: {len(self._buffer)} call record(s) could not be encoded and are lost")
            self._buffer.clear()
        if self.depth:
            say(f"log shipper: stopped with {self.depth} call record(s) in the spool; they go out at the next start")

    # -- cutting

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self.instance}-{self._boot}-{self._counter}"

    async def _cut(self, count: int | None) -> None:
        """Turn the oldest ``count`` (None: all) buffered records into a batch."""
        buffer = self._buffer
        n = len(buffer) if count is None else min(count, len(buffer))
        if n == 0:
            return
        data = self._encoder.encode_lines(buffer[:n])
        body = await _compress(data)
        # Only now, with the batch made: a cut cancelled during compression loses nothing.
        # add() only appends, so the first n are still the ones encoded.
        del buffer[:n]
        self._ready.append(Batch(self._next_id(), n, len(body), body=body))
        self._ready_records += n
        self._work.set()

    async def _cut_loop(self) -> None:
        while not self._closing:
            aged = False
            try:
                async with asyncio.timeout(self.batch_seconds):
                    await self._full.wait()
            except TimeoutError:
                aged = True
            self._full.clear()
            try:
                while len(self._buffer) >= self.batch_records:
                    await self._cut(self.batch_records)
                if aged and self._buffer:
                    await self._cut(None)
                self._relieve_memory()
            except Exception as exc:  # noqa: BLE001 - one bad cut must not stop shipping for good
                say(f"log shipper: cutting a batch failed: {exc.__class__.__name__}: {exc}")
            if self.overflow_records != self._reported_overflow:
                say(
                    f"log shipper: the buffer overflowed; {self.overflow_records - self._reported_overflow} "
                    f"call record(s) were refused ({self.overflow_records} in all)"
                )
                self._reported_overflow = self.overflow_records

    def _relieve_memory(self) -> None:
        """Spool the oldest in-memory batches while more than ``buffer_records`` records wait in memory."""
        in_memory = len(self._buffer) + self._ready_records
        in_memory += sum(b.records for b in self._inflight if b.path is None)
        while in_memory > self.buffer_records and self._ready:
            batch = self._ready.popleft()
            self._ready_records -= batch.records
            in_memory -= batch.records
            if self._spool_batch(batch):
                self._spool.append(batch)
                self._spool_queued_records += batch.records

    # -- the spool

    def _scan_spool(self) -> None:
        """Index the batches a previous run left in the spool, oldest first."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        found: list[tuple[int, str, Batch]] = []
        for entry in os.scandir(self.spool_dir):
            if not entry.is_file():
                continue
            name = entry.name
            if name.startswith("."):
                if name.endswith(".tmp"):  # a write that never completed: its process died
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                continue
            if not name.endswith(SPOOL_SUFFIX):
                continue
            batch_id, sep, count = name[: -len(SPOOL_SUFFIX)].rpartition("~")
            if not sep or not batch_id or not count.isdigit():
                say(f"log shipper: ignoring {entry.path}: not a spooled batch name")
                continue
            stat = entry.stat()
            found.append((stat.st_mtime_ns, name, Batch(batch_id, int(count), stat.st_size, path=Path(entry.path))))
        found.sort(key=lambda item: (item[0], item[1]))
        for _, _, batch in found:
            self._spool.append(batch)
            self._spool_queued_records += batch.records
            self.spooled_records += batch.records
            self._spool_bytes += batch.size
        if found:
            say(f"log shipper: {len(found)} spooled batch(es), {self.spooled_records} call record(s), go out first")

    def _spool_path(self, batch: Batch) -> Path:
        return self.spool_dir / f"{batch.batch_id}~{batch.records}{SPOOL_SUFFIX}"

    def _spool_batch(self, batch: Batch, *, evict: bool = True) -> bool:
        """Write an in-memory batch to the spool, dropping the oldest spooled ones to make room
        (``evict``; without it a batch that does not fit is itself the one dropped).

        Synchronous on purpose: a batch is tens of KB into the page cache (tens of µs), and
        no other coroutine can see a batch half-moved. No fsync: a process crash loses
        nothing written; only a machine crash can lose the last seconds the OS had not flushed.
        """
        assert batch.body is not None
        while evict and self._spool_bytes + batch.size > self.spool_max_bytes and self._spool:
            self._drop_oldest()
        if self._spool_bytes + batch.size > self.spool_max_bytes:
            self._lose(batch, f"the spool is full ({self.spool_max_bytes} bytes)")
            return False
        path = self._spool_path(batch)
        try:
            _write_atomically(path, batch.body)
        except OSError as exc:
            # Keeping it in memory instead would break the memory bound for as long as the
            # disk is broken; the operator sees the loss in dropped_records.
            self._lose(batch, f"cannot write to the spool: {exc}")
            return False
        batch.path, batch.body = path, None
        self._spool_bytes += batch.size
        self.spooled_records += batch.records
        self.batches_spooled += 1
        return True

    def _drop_oldest(self) -> None:
        victim = self._spool.popleft()
        self._spool_queued_records -= victim.records
        self._unspool(victim)
        self._lose(victim, f"the spool is full ({self.spool_max_bytes} bytes); dropped the oldest batch")

    def _unspool(self, batch: Batch) -> None:
        """Delete a batch's spool file and take it out of the spool's figures."""
        if batch.path is None:
            return
        with contextlib.suppress(FileNotFoundError):
            batch.path.unlink()
        self._spool_bytes -= batch.size
        self.spooled_records -= batch.records
        batch.path = None

    def _lose(self, batch: Batch, why: str) -> None:
        self.dropped_batches += 1
        self.dropped_records += batch.records
        say(
            f"log shipper: LOST {batch.records} call record(s) of batch {batch.batch_id}: {why} "
            f"({self.dropped_records} record(s) lost since start)"
        )

    def _spool_memory(self) -> None:
        """At close: every batch still in memory goes to the spool.

        The batch in flight is older than everything spooled, so it does not push a newer one
        out (if it does not fit, it is the oldest: it goes), and its file is dated before the
        oldest spooled one, so that the next start sends it first and drops it first.
        """
        oldest_ns: int | None = None
        if self._spool and self._spool[0].path is not None:
            with contextlib.suppress(OSError):
                oldest_ns = self._spool[0].path.stat().st_mtime_ns
        for batch in reversed(self._inflight):
            self._inflight_records -= batch.records
            if batch.path is None:
                if not self._spool_batch(batch, evict=False):
                    continue
                if oldest_ns is not None and batch.path is not None:
                    oldest_ns -= 1_000_000
                    with contextlib.suppress(OSError):
                        os.utime(batch.path, ns=(oldest_ns, oldest_ns))
            self._spool.appendleft(batch)
            self._spool_queued_records += batch.records
        self._inflight.clear()
        while self._ready:
            batch = self._ready.popleft()
            self._ready_records -= batch.records
            if self._spool_batch(batch):
                self._spool.append(batch)
                self._spool_queued_records += batch.records

    # -- sending

    def _take(self) -> Batch | None:
        """The batch to send next: the one in flight, else the oldest spooled, else the oldest in memory."""
        if self._inflight:
            return self._inflight[0]
        if self._spool:
            batch = self._spool.popleft()
            self._spool_queued_records -= batch.records
        elif self._ready:
            batch = self._ready.popleft()
            self._ready_records -= batch.records
        else:
            return None
        self._inflight.append(batch)
        self._inflight_records += batch.records
        return batch

    def _done(self, batch: Batch) -> None:
        """The batch is finished with (acknowledged, quarantined or lost): forget it."""
        self._inflight.remove(batch)
        self._inflight_records -= batch.records
        self._unspool(batch)

    async def _send_loop(self) -> None:
        failures = 0
        while True:
            batch = self._take()
            if batch is None:
                if self._closing:
                    return
                self._work.clear()
                await self._work.wait()
                continue
            try:
                delay = await self._attempt(batch)
            except Exception as exc:  # noqa: BLE001 - a bug here must not end shipping: retry after a pause
                self.last_error = f"{exc.__class__.__name__}: {exc}"
                say(f"log shipper: unexpected error sending batch {batch.batch_id}: {self.last_error}")
                delay = self.retry_cap
            if delay is None:
                failures = 0
                continue
            failures += 1
            self.retries += 1
            if self._closing:
                return  # at shutdown a failure is final: close() spools the rest
            backoff = min(self.retry_cap, self.retry_base * 2 ** min(failures - 1, 30))
            pause = max(delay, backoff * random.uniform(0.5, 1.0))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._stop.wait()  # close() cuts the pause short for one last try

    async def _attempt(self, batch: Batch) -> float | None:
        """Send ``batch`` once. None when it is dealt with; else the least pause before retrying."""
        body = self._body(batch)
        if body is None:
            return None
        try:
            answer = await self.http.request(
                "POST",
                LOGS_PATH,
                body=body,
                headers={
                    "Content-Type": "application/x-ndjson",
                    "Content-Encoding": "gzip",
                    "X-Batch-Id": batch.batch_id,
                },
            )
        except PortalError as exc:
            self._trouble("unreachable", f"portal unreachable ({exc}); keeping the call records")
            return 0.0
        status = answer.status
        if 200 <= status < 300:
            self._acknowledged(batch, answer)
            return None
        if status == 413:
            await self._split(batch, body)
            return None
        if status in (400, 415, 422):
            self._quarantine(batch, body, f"HTTP {status}: {_detail(answer)}")
            return None
        if status in (401, 403):
            # The token was revoked or rotated: nothing is lost, but nothing leaves either
            # until the operator gives the node a new token; depth grows for all to see.
            self.auth_failures += 1
            self._trouble(f"http {status}", f"the portal refuses the node token ({status}); keeping the call records")
            return self.retry_cap
        self._trouble(f"http {status}", f"the portal answered {status} ({_detail(answer)}); will retry")
        return _retry_after(answer.headers.get("retry-after"))

    def _body(self, batch: Batch) -> bytes | None:
        if batch.body is not None:
            return batch.body
        assert batch.path is not None
        try:
            return batch.path.read_bytes()
        except OSError as exc:
            self._done(batch)
            self._lose(batch, f"cannot read its spool file: {exc}")
            return None

    def _acknowledged(self, batch: Batch, answer: Answer) -> None:
        self._done(batch)
        self.batches_sent += 1
        self.records_acked += batch.records
        self.last_ack_at = time.time()
        try:
            counts = msgspec.json.decode(answer.body)
            self.records_accepted += int(counts.get("accepted", 0))
            self.records_duplicates += int(counts.get("duplicates", 0))
            self.records_rejected += int(counts.get("rejected", 0))
        except (msgspec.DecodeError, AttributeError, TypeError, ValueError):
            pass  # a 200 means committed; the counts are only for show
        if self._failing:
            say("log shipper: the portal takes call records again")
            self._failing = ""
            self.last_error = ""

    async def _split(self, batch: Batch, body: bytes) -> None:
        """413: send the batch as two halves, with ids derived from its own (nothing of it was stored)."""
        try:
            lines = gzip.decompress(body).splitlines(keepends=True)
        except (OSError, EOFError, zlib.error) as exc:
            self._quarantine(batch, body, f"HTTP 413 and the batch cannot be read back: {exc}")
            return
        if len(lines) < 2:
            self._quarantine(batch, body, "HTTP 413 for a single record")
            return
        middle = len(lines) // 2
        halves: list[Batch] = []
        for suffix, part in (("a", lines[:middle]), ("b", lines[middle:])):
            child_id = f"{batch.batch_id}.{suffix}"
            if len(child_id) > MAX_BATCH_ID:
                child_id = self._next_id()
            half_body = await _compress(b"".join(part))
            halves.append(Batch(child_id, len(part), len(half_body), body=half_body))
        if batch.path is not None:
            # It was spooled: so are the halves, before the original goes (a crash keeps one or the other).
            for half in halves:
                path = self._spool_path(half)
                assert half.body is not None
                _write_atomically(path, half.body)
                half.path, half.body = path, None
                self._spool_bytes += half.size
                self.spooled_records += half.records
        self._done(batch)
        self._inflight[0:0] = halves
        self._inflight_records += batch.records
        self.splits += 1

    def _quarantine(self, batch: Batch, body: bytes, why: str) -> None:
        """Keep a batch the portal will never take in ``rejected/`` with the reason, and move on."""
        folder = self.spool_dir / REJECTED_DIR
        stem = f"{batch.batch_id}~{batch.records}"
        try:
            folder.mkdir(exist_ok=True)
            _write_atomically(folder / f"{stem}{SPOOL_SUFFIX}", body)
            _write_atomically(folder / f"{stem}.reason.txt", (why + "\n").encode())
        except OSError as exc:
            self._done(batch)
            self._lose(batch, f"refused by the portal ({why}) and cannot be kept in {folder}: {exc}")
            return
        self._done(batch)
        self.quarantined_batches += 1
        self.quarantined_records += batch.records
        say(f"log shipper: the portal refused batch {batch.batch_id} ({why}); kept in {folder}, not retried")

    def _trouble(self, state: str, message: str) -> None:
        self.last_error = message
        if state != self._failing:
            say(f"log shipper: {message}")
            self._failing = state


def _detail(answer: Answer) -> str:
    return answer.body[:300].decode("utf-8", "replace").strip()
