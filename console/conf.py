"""The console's settings, read from ``django.conf.settings`` with these defaults (docs/console.md).

Not in portal/settings.py on purpose: every one has a sensible default, and an operator who
wants another value sets it there (or in the environment through it) like any other setting.
"""

from __future__ import annotations

from django.conf import settings

DEFAULTS: dict[str, float] = {
    # Lifetime of a console key; the console mints a new one when less than a minute is left.
    "CONSOLE_KEY_MINUTES": 10,
    # Requests one user may send through the console per minute (both consoles together).
    "CONSOLE_REQUESTS_PER_MINUTE": 30,
    # A request through the console never holds a web worker longer than this (seconds).
    "CONSOLE_TIMEOUT_SECONDS": 15,
    # How long the relay waits for the gateway nodes to learn a freshly minted key (seconds).
    "CONSOLE_KEY_PROPAGATION_SECONDS": 8,
    # Largest request body the console sends, and most of an answer it reads back (bytes).
    "CONSOLE_MAX_REQUEST_BYTES": 64 * 1024,
    "CONSOLE_MAX_RESPONSE_BYTES": 256 * 1024,
}


def value(name: str) -> float:
    return float(getattr(settings, name, DEFAULTS[name]))


def key_minutes() -> int:
    return int(value("CONSOLE_KEY_MINUTES"))


def requests_per_minute() -> int:
    return int(value("CONSOLE_REQUESTS_PER_MINUTE"))


def timeout_seconds() -> float:
    return value("CONSOLE_TIMEOUT_SECONDS")


def propagation_seconds() -> float:
    return value("CONSOLE_KEY_PROPAGATION_SECONDS")


def max_request_bytes() -> int:
    return int(value("CONSOLE_MAX_REQUEST_BYTES"))


def max_response_bytes() -> int:
    return int(value("CONSOLE_MAX_RESPONSE_BYTES"))
