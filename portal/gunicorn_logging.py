"""gunicorn access logs without invitation tokens (the launcher passes ``--logger-class``)."""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from core.redact import redact


class RedactingLogger(Logger):
    """Redacts the request line, path, query and every header (Referer!) of each access log line."""

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
