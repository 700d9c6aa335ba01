"""Counters for ``/metrics`` (Prometheus text format), kept per worker process and summed
by the supervisor when scraped."""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

#: Upper bounds (ms) of the request duration histogram.
LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


class Metrics:
    """What one worker has seen. Plain attributes and dicts: an increment costs nanoseconds."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}  # status class ("2xx") → count
        self.refused: dict[str, int] = {}  # reason → count
        self.upstream_errors: dict[str, int] = {}  # error → count
        self.latency_counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.latency_sum_ms = 0.0
        self.config_version: int | None = None
        self.config_applied_at: float | None = None
        self.ai_calls: dict[str, int] = {}  # provider slug → AI calls it answered (or was tried last for)
        self.ai_tokens: dict[str, int] = {}  # "input" / "output" → tokens as the providers counted them

    def observe(self, status: int, latency_ms: float, error: str, *, refused: bool) -> None:
        klass = f"{status // 100}xx"
        self.requests[klass] = self.requests.get(klass, 0) + 1
        if error:
            bucket = self.refused if refused else self.upstream_errors
            bucket[error] = bucket.get(error, 0) + 1
        self.latency_counts[bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1
        self.latency_sum_ms += latency_ms

    def observe_ai(self, provider: str, input_tokens: int | None, output_tokens: int | None) -> None:
        self.ai_calls[provider] = self.ai_calls.get(provider, 0) + 1
        if input_tokens:
            self.ai_tokens["input"] = self.ai_tokens.get("input", 0) + input_tokens
        if output_tokens:
            self.ai_tokens["output"] = self.ai_tokens.get("output", 0) + output_tokens

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """A JSON-able copy, with the shipper's and poller's figures passed in ``extra``."""
        return {
            "requests": dict(self.requests),
            "refused": dict(self.refused),
            "upstream_errors": dict(self.upstream_errors),
            "latency_counts": list(self.latency_counts),
            "latency_sum_ms": self.latency_sum_ms,
            "config_version": self.config_version,
            "config_applied_at": self.config_applied_at,
            "ai_calls": dict(self.ai_calls),
            "ai_tokens": dict(self.ai_tokens),
            **extra,
        }


def _labels(name: str, values: dict[str, int], label: str, help_text: str, kind: str = "counter") -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for key in sorted(values):
        lines.append(f'{name}{{{label}="{key}"}} {values[key]}')
    return lines


def render(snapshots: list[dict[str, Any]]) -> str:
    """The Prometheus text exposition of the sum of every worker's snapshot."""

    def total(field: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for snap in snapshots:
            for key, value in (snap.get(field) or {}).items():
                out[key] = out.get(key, 0) + int(value)
        return out

    def plain(field: str) -> float:
        return sum(float(snap.get(field) or 0) for snap in snapshots)

    lines: list[str] = []
    lines += _labels("gateway_requests_total", total("requests"), "code", "Calls answered, by status class.")
    lines += _labels("gateway_refused_total", total("refused"), "reason", "Calls the node refused, by reason.")
    lines += _labels(
        "gateway_upstream_errors_total", total("upstream_errors"), "error", "Calls that failed upstream, by error."
    )
    lines += _labels(
        "gateway_ai_calls_total", total("ai_calls"), "provider", "AI calls, by the provider that answered."
    )
    lines += _labels(
        "gateway_ai_tokens_total", total("ai_tokens"), "direction", "AI tokens, input and output, as providers count."
    )
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for snap in snapshots:
        for i, value in enumerate(snap.get("latency_counts") or ()):
            counts[i] += int(value)
    lines += [
        "# HELP gateway_request_duration_seconds Time from the request head to the last byte sent.",
        "# TYPE gateway_request_duration_seconds histogram",
    ]
    running = 0
    for bound, count in zip(LATENCY_BUCKETS_MS, counts, strict=False):
        running += count
        lines.append(f'gateway_request_duration_seconds_bucket{{le="{bound / 1000:g}"}} {running}')
    running += counts[-1]
    lines.append(f'gateway_request_duration_seconds_bucket{{le="+Inf"}} {running}')
    lines.append(f"gateway_request_duration_seconds_sum {plain('latency_sum_ms') / 1000:.6f}")
    lines.append(f"gateway_request_duration_seconds_count {running}")
    gauges = [
        ("gateway_log_buffer_records", "buffered_records", "Call records not yet acknowledged by the portal."),
        ("gateway_log_spooled_records", "spooled_records", "Call records spooled to disk while the portal is away."),
        ("gateway_log_dropped_records_total", "dropped_records", "Call records dropped because the spool was full."),
        ("gateway_log_batches_sent_total", "batches_sent", "Log batches the portal acknowledged."),
        ("gateway_log_records_acked_total", "records_acked", "Call records the portal acknowledged."),
        ("gateway_log_retries_total", "log_retries", "Log batch sends retried."),
        ("gateway_log_quarantined_records_total", "quarantined_records", "Records of batches the portal refused."),
        ("gateway_log_auth_failures_total", "log_auth_failures", "Log sends refused for the node token (401/403)."),
        ("gateway_config_poll_failures_total", "config_failures", "Config polls that failed."),
        ("gateway_workers", "workers", "Worker processes answering."),
    ]
    for name, field, help_text in gauges:
        kind = "counter" if name.endswith("_total") else "gauge"
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {plain(field):g}"]
    versions = [int(snap["config_version"]) for snap in snapshots if snap.get("config_version") is not None]
    lines += [
        "# HELP gateway_config_version Config version applied (the lowest across workers).",
        "# TYPE gateway_config_version gauge",
        f"gateway_config_version {min(versions) if versions else -1}",
    ]
    applied = [float(snap["config_applied_at"]) for snap in snapshots if snap.get("config_applied_at")]
    polled = [float(snap["config_checked_at"]) for snap in snapshots if snap.get("config_checked_at")]
    heard = polled or applied
    now = time.time()
    lines += [
        "# HELP gateway_config_age_seconds Seconds since the oldest worker last heard from the portal.",
        "# TYPE gateway_config_age_seconds gauge",
        f"gateway_config_age_seconds {now - min(heard) if heard else -1:.3f}",
    ]
    return "\n".join(lines) + "\n"
