import re

import pytest
from django.core import mail


@pytest.fixture
def invite(client, alice, django_capture_on_commit_callbacks):
    """Alice invites someone through the members page; returns the e-mailed link path."""

    def _invite(email="dora@example.com", role="developer"):
        client.force_login(alice)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/t/acme/invitations/", {"email": email, "role": role})
        assert response.status_code == 302, response.content.decode()
        link = re.search(r"http://\S+(/invitations/\S+/)", mail.outbox[-1].body).group(1)
        client.logout()
        return link

    return _invite
