"""The call-log intake behind ``POST /gateway/v1/logs`` (docs/gateway-protocol.md, "Logs").

Hot path, per batch: bounded inflate → split into entries → validate and normalise each in
Python (plain tuples) → drop repeats within the batch → one transaction: the IngestBatch row
with its counts, ONE lookup query for the enrichment (API version by id or longest base path;
key → application, consumer, live subscription, plan), ONE ``COPY`` of the enriched rows
straight into ``gateways_callrecord`` (each row written once; the primary key rejects a
record already stored), the quarantine rows. When that COPY meets a stored record the
transaction rolls back and the batch takes the conflict path: COPY into a TEMP staging table
and ONE ``INSERT INTO gateways_callrecord SELECT … ON CONFLICT DO NOTHING`` that enriches in
SQL and skips the stored ones. ``received = accepted + duplicates + rejected`` always holds:
every non-blank entry is exactly one of the three.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, DataError, IntegrityError, connection, transaction
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format

from core.errors import PayloadTooLarge
from gateways.formats import PARSERS, STAGING_COLUMNS, Reject, detect, sanitize
from gateways.models import GatewayNode, IngestBatch, LogFormat, QuarantinedRecord
from subscriptions.services import keys_mark_used

logger = logging.getLogger(__name__)

#: Inflate output is produced at most this many bytes at a time, so a bomb never allocates
#: more than the cap plus one chunk.
INFLATE_CHUNK = 256 * 1024
#: Warnings listed in an answer (the counts are exact regardless).
MAX_WARNINGS = 100


def inflate(body: bytes, *, limit: int) -> bytes:
    """Gunzip ``body`` without ever holding more than ``limit`` (+ one chunk) inflated bytes.

    Raises PayloadTooLarge the moment the output passes ``limit``; a corrupt stream is an
    InvalidInput-like 400 (``ValueError``). Concatenated gzip members are inflated in turn.
    """
    out: list[bytes] = []
    total = 0
    data = body
    while data:
        stream = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        while True:
            try:
                chunk = stream.decompress(data, INFLATE_CHUNK)
            except zlib.error as exc:
                raise ValueError(f"corrupt gzip body: {exc}") from None
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"The inflated body is larger than {limit} bytes.", code="too_large")
            out.append(chunk)
            data = stream.unconsumed_tail
            if stream.eof:
                break
            if not data and not chunk:
                raise ValueError("truncated gzip body")
            # Input left over, or zlib still holding output for the input it has: go on.
        data = stream.unused_data.lstrip(b"\x00")  # some writers pad members with NULs
    return b"".join(out)


@dataclass
class Entry:
    line: int
    raw: str
    value: Any = None
    error: str = ""
    detail: str = ""


def split_entries(text: bytes) -> list[Entry]:
    """A body as entries: a JSON array (or one object) when it parses as one, else NDJSON lines.

    Blank lines are not records. A line holding an array contributes each element under the
    line's number; a line that is not JSON (truncated, garbage, bad UTF-8) is one rejected
    entry.
    """
    stripped = text.lstrip()
    if stripped[:1] in (b"[", b"{"):
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError):
            whole = None
        else:
            if b"\\u" in text:
                whole = sanitize(whole)
            if isinstance(whole, list):
                return [Entry(i + 1, "", item) for i, item in enumerate(whole)]
            if isinstance(whole, dict):
                return [Entry(1, "", whole)]
    numbered = [(number, line) for number, line in enumerate(text.split(b"\n"), start=1) if line.strip()]
    # Fast path: all lines well-formed objects → one C-level parse of them as one array.
    if numbered and all(line.lstrip()[:1] == b"{" for _n, line in numbered):
        try:
            # orjson: about 2.5 times the stdlib's speed on a batch. What it refuses and the
            # stdlib takes (lone surrogates, NaN, integers past 64 bits) goes line by line below.
            values = orjson.loads(b"[" + b",".join(line for _n, line in numbered) + b"]")
        except (ValueError, RecursionError):
            values = None
        if values is not None and len(values) == len(numbered):
            if b"\\u" in text:
                values = sanitize(values)
            return [
                Entry(number, "", value) if isinstance(value, dict) else Entry(number, "", value, error="not_an_object")
                for (number, _line), value in zip(numbered, values, strict=True)
            ]
    entries: list[Entry] = []
    for number, raw_line in enumerate(text.split(b"\n"), start=1):
        line = raw_line.strip()
        if not line:
            continue
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            entries.append(Entry(number, line.decode("utf-8", "replace"), error="invalid_utf8"))
            continue
        try:
            value = json.loads(decoded)
        except (ValueError, RecursionError):
            entries.append(Entry(number, decoded, error="invalid_json"))
            continue
        if "\\u" in decoded:
            value = sanitize(value)
        if isinstance(value, list):
            entries.extend(Entry(number, "", item) for item in value)
        else:
            entries.append(Entry(number, decoded, value))
    return entries


@dataclass
class Outcome:
    """What the node is told; the stored IngestBatch holds the same counts for a retry."""

    batch_id: str
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def stored_outcome(batch: IngestBatch) -> Outcome:
    """The answer of a batch already ingested (a node's retry): its counts and reasons, nothing inserted."""
    errors = [
        {"line": line, "reason": reason}
        for line, reason in batch.quarantined.order_by("line", "id").values_list("line", "reason")
    ]
    return Outcome(
        batch_id=batch.batch_id,
        received=batch.received,
        accepted=batch.accepted,
        duplicates=batch.duplicates,
        rejected=batch.rejected,
        errors=errors,
        replayed=True,
    )


def normalise(
    entries: list[Entry], fmt: str | None, now: datetime
) -> tuple[list[tuple[Any, ...]], list[Entry], list[dict[str, Any]], str]:
    """Valid rows, rejected entries (``error`` set), warnings, and the batch's format."""
    rows: list[tuple[Any, ...]] = []
    rejects: list[Entry] = []
    warnings: list[dict[str, Any]] = []
    batch_format = fmt or ""
    for entry in entries:
        if entry.error:
            rejects.append(entry)
            continue
        if not isinstance(entry.value, dict):
            entry.error = "not_an_object"
            rejects.append(entry)
            continue
        kind = fmt or detect(entry.value)
        batch_format = batch_format or kind
        try:
            parsed = PARSERS[kind](entry.value, entry.line, now)
        except Reject as exc:
            entry.error = exc.reason
            entry.detail = exc.detail[:300]
            rejects.append(entry)
            continue
        rows.append(parsed.row)
        for note in parsed.warnings:
            if len(warnings) < MAX_WARNINGS:
                warnings.append({"line": entry.line, "reason": note})
    return rows, rejects, warnings, batch_format or LogFormat.NATIVE


STAGING_TYPES = [
    "int4", "uuid", "timestamptz", "text", "int8", "text[]", "text", "text", "text", "text", "int8", "int2",
    "float8", "float8", "int8", "int8", "text", "text", "text", "text", "text", "int4", "int4", "numeric",
    "text", "int4", "float8",
]  # fmt: skip

STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS gateways_staging (
    line integer, request_id uuid, ts timestamptz, source text, api_version_id bigint,
    prefixes text[], endpoint text, method text, path text, key_id text, application_id bigint,
    status smallint, latency_ms double precision, upstream_latency_ms double precision,
    request_bytes bigint, response_bytes bigint, client_ip text, user_agent text, error text,
    ai_provider text, ai_model text, ai_input_tokens integer, ai_output_tokens integer,
    ai_cost numeric(18,8), ai_route text, ai_cached_tokens integer, ai_ttft_ms double precision
) ON COMMIT DELETE ROWS
"""

#: The one statement that moves staged rows into the raw table, enriched. The API version is
#: the one named by id, else the one whose base path is the longest prefix of the path (the
#: candidate prefixes were computed in Python, so this is an index lookup on the unique
#: base_path, not a scan). The key gives its application; a record naming only an
#: application (Kong/APISIX consumer ``app_<id>``) gives that one. The subscription is the
#: application's live one for the version's API (at most one: a partial unique index).
INSERT_SQL = """
INSERT INTO gateways_callrecord (
    request_id, ts, node_id, batch_id, source, api_version_id, api_id, provider_tenant_id,
    endpoint, method, path, api_key_id, key_id, application_id, consumer_tenant_id, plan_id,
    subscription_id, status, latency_ms, upstream_latency_ms, request_bytes, response_bytes,
    client_ip, user_agent, error, ai_provider, ai_model, ai_input_tokens, ai_output_tokens, ai_cost,
    ai_route, ai_cached_tokens, ai_ttft_ms
)
SELECT s.request_id, s.ts, %(node)s, %(batch)s, s.source,
       coalesce(vid.id, vbp.id), coalesce(vid.api_id, vbp.api_id), coalesce(vid.tenant_id, vbp.tenant_id),
       left(s.endpoint, 300), left(s.method, 10), left(s.path, 2048), k.id, s.key_id, app.id, app.tenant_id,
       sub.plan_id, sub.id, s.status, s.latency_ms, s.upstream_latency_ms, s.request_bytes,
       s.response_bytes, s.client_ip::inet, left(s.user_agent, 512), left(s.error, 64), left(s.ai_provider, 64),
       left(s.ai_model, 128), s.ai_input_tokens, s.ai_output_tokens, s.ai_cost,
       left(s.ai_route, 160), s.ai_cached_tokens, s.ai_ttft_ms
FROM gateways_staging s
LEFT JOIN apis_apiversion vid ON vid.id = s.api_version_id
LEFT JOIN LATERAL (
    SELECT v.id, v.api_id, v.tenant_id FROM apis_apiversion v
    WHERE vid.id IS NULL AND v.base_path = ANY(s.prefixes)
    ORDER BY length(v.base_path) DESC LIMIT 1
) vbp ON true
LEFT JOIN subscriptions_apikey k ON k.key_id = s.key_id AND s.key_id <> ''
LEFT JOIN subscriptions_application app ON app.id = coalesce(k.application_id, s.application_id)
LEFT JOIN subscriptions_subscription sub
       ON sub.application_id = app.id AND sub.api_id = coalesce(vid.api_id, vbp.api_id)
      AND sub.status IN ('active', 'suspended')
ON CONFLICT DO NOTHING
"""


#: The raw table's columns the intake writes (``received_at`` is the column default, now()).
RAW_COLUMNS = (
    "request_id", "ts", "node_id", "batch_id", "source", "api_version_id", "api_id", "provider_tenant_id",
    "endpoint", "method", "path", "api_key_id", "key_id", "application_id", "consumer_tenant_id", "plan_id",
    "subscription_id", "status", "latency_ms", "upstream_latency_ms", "request_bytes", "response_bytes",
    "client_ip", "user_agent", "error", "ai_provider", "ai_model", "ai_input_tokens", "ai_output_tokens", "ai_cost",
    "ai_route", "ai_cached_tokens", "ai_ttft_ms",
)  # fmt: skip

#: Everything the enrichment needs for one batch, in one round trip: the versions named by id
#: or by a candidate base path, the keys named (with their application), the applications named
#: directly, and the live subscriptions of all those applications. The same rules as INSERT_SQL.
LOOKUP_SQL = """
SELECT 'v', v.id, v.api_id, v.tenant_id, NULL::bigint, v.base_path FROM apis_apiversion v
 WHERE v.id = ANY(%(versions)s) OR v.base_path = ANY(%(prefixes)s)
UNION ALL
SELECT 'k', k.id, app.id, app.tenant_id, NULL, k.key_id FROM subscriptions_apikey k
  LEFT JOIN subscriptions_application app ON app.id = k.application_id
 WHERE k.key_id = ANY(%(keys)s)
UNION ALL
SELECT 'a', app.id, app.tenant_id, NULL, NULL, NULL FROM subscriptions_application app WHERE app.id = ANY(%(apps)s)
UNION ALL
SELECT 's', sub.id, sub.application_id, sub.api_id, sub.plan_id, NULL FROM subscriptions_subscription sub
 WHERE sub.status IN ('active', 'suspended') AND sub.application_id IN (
       SELECT unnest(%(apps)s::bigint[])
       UNION SELECT application_id FROM subscriptions_apikey WHERE key_id = ANY(%(keys)s))
"""


def _dedupe(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows without repeats of a (request_id, ts) already in the batch (first one kept)."""
    seen: set[tuple[Any, Any]] = set()
    out = []
    for row in rows:
        key = (row[1], row[2])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _enrich(rows: list[tuple[Any, ...]], node_id: int, batch_pk: int) -> list[tuple[Any, ...]]:
    """The raw-table rows (RAW_COLUMNS order) of staged rows, enriched like INSERT_SQL does.

    API version: the one named by id, else the existing base path that is the longest of the
    row's candidate prefixes. Key → its application; else the application the row names. The
    subscription is that application's live one for the version's API.
    """
    versions_wanted: set[int] = set()
    prefixes: set[str] = set()
    keys: set[str] = set()
    apps_wanted: set[int] = set()
    for row in rows:
        if row[4] is not None:
            versions_wanted.add(row[4])
        prefixes.update(row[5])
        if row[9]:
            keys.add(row[9])
        if row[10] is not None:
            apps_wanted.add(row[10])
    by_id: dict[int, tuple[int, int, int]] = {}
    by_path: dict[str, tuple[int, int, int]] = {}
    key_of: dict[str, tuple[int, int | None, int | None]] = {}
    app_tenant: dict[int, int] = {}
    subscription: dict[tuple[int, int], tuple[int, int]] = {}
    with connection.cursor() as cur:
        cur.execute(
            LOOKUP_SQL,
            {
                "versions": list(versions_wanted),
                "prefixes": list(prefixes),
                "keys": list(keys),
                "apps": list(apps_wanted),
            },
        )
        for kind, a, b, c, d, text in cur.fetchall():
            if kind == "v":
                by_id[a] = by_path[text] = (a, b, c)
            elif kind == "k":
                key_of[text] = (a, b, c)
            elif kind == "a":
                app_tenant[a] = b
            else:
                subscription[(b, c)] = (a, d)
    out = []
    for row in rows:
        version = by_id.get(row[4]) if row[4] is not None else None
        if version is None:
            # Prefixes come longest first (formats.path_prefixes), and a base path is unique.
            for prefix in row[5]:
                version = by_path.get(prefix)
                if version is not None:
                    break
        version_id, api_id, provider = version or (None, None, None)
        key = key_of.get(row[9]) if row[9] else None
        if key is not None:
            key_pk, app_id, consumer = key
        else:
            key_pk, app_id = None, row[10]
            consumer = app_tenant.get(app_id) if app_id is not None else None
            if consumer is None:
                app_id = None
        sub = subscription.get((app_id, api_id)) if app_id is not None and api_id is not None else None
        sub_id, plan_id = sub or (None, None)
        out.append(
            (
                row[1], row[2], node_id, batch_pk, row[3], version_id, api_id, provider,
                row[6][:300], row[7][:10], row[8][:2048], key_pk, row[9], app_id, consumer, plan_id,
                sub_id, row[11], row[12], row[13], row[14], row[15],
                row[16], row[17][:512], row[18][:64], row[19][:64], row[20][:128], row[21], row[22], row[23],
                row[24][:160], row[25], row[26],
            )
        )  # fmt: skip
    return out


#: RAW_COLUMNS' types, for the direct binary COPY (psycopg's C dumpers, no text parsing by the server).
RAW_TYPES = [
    "uuid", "timestamptz", "int8", "int8", "text", "int8", "int8", "int8", "text", "text", "text", "int8", "text",
    "int8", "int8", "int8", "int8", "int2", "float8", "float8", "int8", "int8", "inet", "text", "text", "text",
    "text", "int4", "int4", "numeric", "text", "int4", "float8",
]  # fmt: skip

_INET_OID = postgres.types["inet"].oid


class _InetTextBinaryDumper(Dumper):
    """An address already validated as text (formats._ip) in PostgreSQL's binary inet format.

    psycopg's own inet dumper wants ipaddress objects, which cost more to build than the rest
    of the row; inet_pton is what validated the text in the first place.
    """

    format = Format.BINARY
    oid = _INET_OID

    def dump(self, obj: str) -> bytes:
        if ":" in obj:  # family (PGSQL_AF_INET6 = 3), bits, is_cidr, length, address
            return b"\x03\x80\x00\x10" + socket.inet_pton(socket.AF_INET6, obj)
        return b"\x02\x20\x00\x04" + socket.inet_pton(socket.AF_INET, obj)


def _copy_raw(rows: list[tuple[Any, ...]]) -> None:
    """COPY enriched rows straight into the raw table (binary); a row already there aborts it
    (UniqueViolation), and so does a value the binary format cannot carry (``DataError``): the
    caller then takes the staging path, which stores what the text path would."""
    # psycopg's own errors become Django's (IntegrityError, OperationalError → the view's 503).
    with connection.wrap_database_errors, connection.cursor() as wrapper:
        cur = wrapper.cursor
        cur.adapters.register_dumper(None, _InetTextBinaryDumper)
        try:
            with cur.copy(f"COPY gateways_callrecord ({', '.join(RAW_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(RAW_TYPES)
                for row in rows:
                    copy.write_row(row)
        except (ValueError, OverflowError, OSError, struct.error) as exc:  # not representable in binary
            raise DataError(str(exc)) from exc


def _copy_rows(rows: list[tuple[Any, ...]]) -> None:
    with connection.cursor() as wrapper:
        cur = wrapper.cursor
        cur.execute(STAGING_DDL)
        # Empty already after any commit (ON COMMIT DELETE ROWS); this covers an enclosing
        # transaction that has not committed yet (a caller's atomic block, the test suite).
        cur.execute("DELETE FROM gateways_staging")
        columns = ", ".join(STAGING_COLUMNS)
        with cur.copy(f"COPY gateways_staging ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            # Binary COPY with declared types: psycopg's C dumpers, no text escaping either side.
            copy.set_types(STAGING_TYPES)
            for row in rows:
                copy.write_row(row)


def _insert(node_id: int, batch_pk: int) -> int:
    with connection.cursor() as cur:
        cur.execute(INSERT_SQL, {"node": node_id, "batch": batch_pk})
        return cur.rowcount


def ingest(
    *,
    node: GatewayNode,
    body: bytes,
    fmt: str | None,
    batch_id: str | None,
    body_bytes: int,
    now: datetime | None = None,
) -> Outcome:
    """Ingest one decoded (inflated) body as ``node``; returns the answer, after commit.

    With a ``batch_id`` already stored for this node, nothing is inserted and the stored
    counts are returned. Database errors (OperationalError, InterfaceError) propagate: the
    view answers 503 and the node retries the same batch.
    """
    now = now or datetime.now(UTC)
    if batch_id:
        existing = IngestBatch.objects.filter(node=node, batch_id=batch_id).first()
        if existing is not None:
            return stored_outcome(existing)
    entries = split_entries(body)
    if len(entries) > settings.GATEWAY_LOGS_MAX_RECORDS:
        raise PayloadTooLarge(f"More than {settings.GATEWAY_LOGS_MAX_RECORDS} records in one batch.")
    rows, rejects, warnings, batch_format = normalise(entries, fmt, now)
    outcome = Outcome(batch_id=batch_id or f"auto-{uuid.uuid4()}", received=len(entries), warnings=warnings)
    outcome.rejected = len(rejects)
    unique = _dedupe(rows)
    try:
        try:
            _store(node, outcome, batch_format, body_bytes, rows, unique, rejects, now, direct=True)
        except _Conflict:
            # A record of this batch is already stored (a node resending records under a new
            # batch id, or a concurrent batch holding the same ones): the whole COPY rolled back,
            # and the batch goes through staging and INSERT … ON CONFLICT DO NOTHING instead.
            _store(node, outcome, batch_format, body_bytes, rows, unique, rejects, now, direct=False)
    except IntegrityError:
        # The same batch id committed by a concurrent request (a node retrying too early):
        # that one's counts are the answer; this one inserted nothing (rolled back).
        existing = IngestBatch.objects.filter(node=node, batch_id=outcome.batch_id).first()
        if existing is None:
            raise
        return stored_outcome(existing)
    outcome.errors = [{"line": entry.line, "reason": entry.error} for entry in rejects]
    _mark_keys_used(unique)
    return outcome


def _mark_keys_used(rows: list[tuple[Any, ...]]) -> None:
    """Move the "last used" of the keys whose calls were served in this batch (after commit).

    A failure here loses nothing: the batch is committed, and the next batch of that key
    writes the time again.
    """
    last: dict[str, datetime] = {}
    for row in rows:
        key_id, ts, error = row[9], row[2], row[18]
        if key_id and not error and (key_id not in last or ts > last[key_id]):
            last[key_id] = ts
    if not last:
        return
    try:
        keys_mark_used(last)
    except DatabaseError:
        logger.warning("could not record the last use of %d key(s)", len(last), exc_info=True)


class _Conflict(Exception):
    """The direct COPY met a record already stored (or a value only the SQL path normalises)."""


def _store(
    node: GatewayNode,
    outcome: Outcome,
    batch_format: str,
    body_bytes: int,
    rows: list[tuple[Any, ...]],
    unique: list[tuple[Any, ...]],
    rejects: list[Entry],
    now: datetime,
    *,
    direct: bool,
) -> None:
    """One transaction: the IngestBatch row, the records, the quarantine; sets the counts.

    ``direct``: the batch's distinct records are enriched in Python (one lookup query) and
    COPied straight into the raw table, each row written once; ``_Conflict`` (everything rolled
    back) when one is already there. Otherwise the staging path: COPY into a temp table, then
    one INSERT … SELECT … ON CONFLICT DO NOTHING, which skips the stored ones.
    """
    with transaction.atomic():
        if direct:
            outcome.accepted, outcome.duplicates = len(unique), len(rows) - len(unique)
        batch = IngestBatch.objects.create(
            node=node,
            batch_id=outcome.batch_id,
            format=batch_format,
            received=outcome.received,
            bytes=body_bytes,
            accepted=outcome.accepted if direct else 0,
            duplicates=outcome.duplicates if direct else 0,
            rejected=outcome.rejected,
        )
        if direct:
            if unique:
                try:
                    _copy_raw(_enrich(unique, node.pk, batch.pk))
                except (IntegrityError, DataError) as exc:
                    raise _Conflict from exc
        else:
            accepted = 0
            if rows:
                _copy_rows(rows)
                accepted = _insert(node.pk, batch.pk)
            outcome.accepted, outcome.duplicates = accepted, len(rows) - accepted
            IngestBatch.objects.filter(pk=batch.pk).update(accepted=outcome.accepted, duplicates=outcome.duplicates)
        QuarantinedRecord.objects.bulk_create(
            [
                QuarantinedRecord(
                    batch=batch,
                    node=node,
                    line=entry.line,
                    reason=entry.error[:64],
                    detail=entry.detail.replace("\x00", ""),
                    raw=(entry.raw or _dump(entry.value))[: QuarantinedRecord.RAW_MAX_CHARS].replace("\x00", ""),
                    created_at=now,
                )
                for entry in rejects
            ]
        )


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, default=str)[: QuarantinedRecord.RAW_MAX_CHARS]
    except (TypeError, ValueError):
        return repr(value)[: QuarantinedRecord.RAW_MAX_CHARS]
