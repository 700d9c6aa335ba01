"""Streamed CSV exports: a rollup time series, and filtered call records (bounded)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from analytics import selectors

SERIES_COLUMNS = [
    "t",
    "calls",
    "errors_4xx",
    "errors_5xx",
    "refused",
    "error_rate",
    "avg_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
]
CALL_EXPORT_COLUMNS = [
    "request_id", "ts", "api_id", "api_version_id", "endpoint", "method", "path", "application_id", "api_key_id",
    "key_id", "status", "error", "latency_ms", "upstream_latency_ms", "request_bytes", "response_bytes",
    "client_ip", "user_agent", "ai_route", "ai_provider", "ai_model", "ai_input_tokens", "ai_output_tokens",
    "ai_cached_tokens", "ai_cost", "ai_ttft_ms",
]  # fmt: skip


AI_COLUMNS = [
    "group", "label", "ai_route", "ai_provider", "ai_model", "api_id", "consumer_tenant_id", "application_id",
    "provider_tenant_id", "calls", "errors", "input_tokens", "output_tokens", "cached_tokens", "cost",
    "cost_unknown", "ttft_p50_ms", "ttft_p95_ms", "p95_ms",
]  # fmt: skip


class _Echo:
    """A file-like object whose write returns the line, for csv.writer inside a generator."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    # A leading =, +, - or @ would run as a formula in spreadsheets (paths, user agents…).
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"}:
        return f"'{value}"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return "" if value is None else value


def _rows(columns: list[str], records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(columns)
    for record in records:
        yield writer.writerow([_cell(record.get(column)) for column in columns])


def _response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def timeseries_csv(scope: selectors.Scope, window: selectors.Window, filename: str) -> StreamingHttpResponse:
    """The time series (one row per chart bucket) read from rollups."""
    return _response(_rows(SERIES_COLUMNS, selectors.timeseries(scope, window)), filename)


def calls_csv(scope: selectors.Scope, flt: selectors.CallFilter, filename: str) -> StreamingHttpResponse:
    """Matching call records, newest first, fetched in keyset pages while the response streams.

    Bounded by ``ANALYTICS_EXPORT_MAX_ROWS``; the rows are read lazily, so memory stays flat.
    """
    return _response(_rows(CALL_EXPORT_COLUMNS, selectors.iter_calls(scope, flt)), filename)


def _ai_records(scope: selectors.Scope, window: selectors.Window) -> Iterator[dict[str, Any]]:
    usage = selectors.ai_usage(scope, window)
    yield {"group": "total", "label": "all AI calls", **usage["totals"]}
    for item in usage["models"]:
        yield {"group": "model", **item["key"], **item}
    for item in usage["items"]:
        yield {"group": usage["by"], **item["key"], **item}


def ai_csv(scope: selectors.Scope, window: selectors.Window, filename: str) -> StreamingHttpResponse:
    """AI usage of the window: the totals, then one row per model and per application / API (rollups)."""
    return _response(_rows(AI_COLUMNS, _ai_records(scope, window)), filename)
