"""Keep one-time secrets that travel in URLs (invitation links) out of every log line."""

from __future__ import annotations

import logging
import re

#: ``/invitations/<token>/`` is the link e-mailed to invitees; anyone who reads an access log
#: line with the token could accept the invitation. The REST accept endpoint takes the token in
#: the body, and ``/invitations/accept/`` is a fixed path, not a token.
_INVITATION_TOKEN = re.compile(r"(/invitations/)(?!accept/)[^/?#\s\"]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` with every invitation token replaced by ``[redacted]``."""
    return _INVITATION_TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactSecretsFilter(logging.Filter):
    """A logging filter for Django's request loggers ("Not Found: /invitations/<token>/")."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
