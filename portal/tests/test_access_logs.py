"""Invitation tokens never reach a log line: gunicorn's access log and Django's request loggers."""

import logging
from datetime import timedelta
from types import SimpleNamespace

from gunicorn.config import Config

from core.redact import redact
from portal.gunicorn_logging import RedactingLogger
from tenants.models import Membership
from tenants.services import invitation_create

TOKEN = "Abc123xyzAbc123xyzAbc123xyzAbc123xyz0000"


def test_redact_keeps_the_route_and_drops_the_token():
    assert redact(f"GET /invitations/{TOKEN}/ HTTP/1.1") == "GET /invitations/[redacted]/ HTTP/1.1"
    assert redact(f"https://portal.example/invitations/{TOKEN}/?x=1") == (
        "https://portal.example/invitations/[redacted]/?x=1"
    )
    assert redact("POST /api/v1/invitations/accept/ HTTP/1.1") == "POST /api/v1/invitations/accept/ HTTP/1.1"


def test_gunicorn_access_line_has_no_token(capsys):
    config = Config()
    config.set("accesslog", "-")
    logger = RedactingLogger(config)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/invitations/{TOKEN}/",
        "PATH_INFO": f"/invitations/{TOKEN}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://portal.example/invitations/{TOKEN}/",
        "HTTP_USER_AGENT": "test",
    }
    response = SimpleNamespace(status="302 Found", sent=0, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    logger.access(response, request, environ, timedelta(milliseconds=5))
    line = capsys.readouterr().out
    assert "/invitations/[redacted]/" in line and "203.0.113.9" in line
    assert TOKEN not in line


def test_django_request_log_has_no_token(client, globex, charlie, caplog):
    actor = Membership.objects.for_tenant(globex).get(user=charlie)
    _invitation, token = invitation_create(actor=actor, email="someone@example.com", role="developer")
    client.force_login(charlie)  # signed in as the wrong person: a 403 that Django logs as a warning
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.post(f"/invitations/{token}/", {"decision": "accept"})
    assert response.status_code == 403
    messages = [record.getMessage() for record in caplog.records]
    assert any("/invitations/[redacted]/" in message for message in messages), messages
    assert not any(token in message for message in messages)
