"""Each field limit is written once, on the model field; forms and serializers read it from there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apis.api.serializers import ApiWriteSerializer, VersionWriteSerializer
from apis.forms import ApiForm, PlanForm, VersionForm
from apis.models import Api, ApiVersion, Plan
from core.limits import max_length, max_value
from notifications.api.serializers import WebhookCreateSerializer
from notifications.forms import WebhookForm
from notifications.models import Webhook
from subscriptions.api.serializers import ApplicationUpdateSerializer, ReasonSerializer
from subscriptions.forms import ApplicationForm, PlanChangeForm, ReasonForm
from subscriptions.models import Application, Subscription
from tenants.api.serializers import TenantCreateSerializer
from tenants.forms import TenantCreateForm

ROOT = Path(__file__).resolve().parents[2]
FILES = ["*/forms.py", "*/api/serializers.py"]
#: Limits of inputs that have no model field of their own (JSON list sizes, upstream URLs).
ALLOWED = {
    ("apis/api/serializers.py", "max_length=20"),  # tags per API
    ("apis/api/serializers.py", "max_length=500"),  # an upstream URL inside the upstreams JSON
    ("apis/api/serializers.py", "max_value=1000"),  # an upstream weight inside the upstreams JSON
    ("subscriptions/api/serializers.py", "max_length=200"),  # ids per bulk decision
}


def test_no_form_or_serializer_repeats_a_number() -> None:
    found = set()
    for pattern in FILES:
        for path in ROOT.glob(pattern):
            if ".venv" in path.parts:
                continue
            for match in re.finditer(r"\b(max_length|max_value)=\d[\d_]*", path.read_text()):
                found.add((str(path.relative_to(ROOT)), match.group(0)))
    assert found - ALLOWED == set()


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        (ApiForm.base_fields["description"], max_length(Api, "description")),
        (ApiWriteSerializer().fields["description"], max_length(Api, "description")),
        (VersionForm.base_fields["release_notes"], max_length(ApiVersion, "release_notes")),
        (PlanForm.base_fields["description"], max_length(Plan, "description")),
        (ApplicationForm.base_fields["description"], max_length(Application, "description")),
        (ApplicationUpdateSerializer().fields["description"], max_length(Application, "description")),
        (PlanChangeForm.base_fields["note"], max_length(Subscription, "plan_change_note")),
        (ReasonForm.base_fields["reason"], max_length(Subscription, "reason")),
        (ReasonSerializer().fields["reason"], max_length(Subscription, "reason")),
        (WebhookForm.base_fields["url"], max_length(Webhook, "url")),
        (WebhookCreateSerializer().fields["url"], max_length(Webhook, "url")),
        (TenantCreateForm.base_fields["slug"], 50),
        (TenantCreateSerializer().fields["slug"], 50),
    ],
)
def test_forms_and_serializers_carry_the_model_limit(field, limit) -> None:
    assert field.max_length == limit


def test_numeric_limits_come_from_the_model_validators() -> None:
    assert VersionForm.base_fields["read_timeout_ms"].max_value == max_value(ApiVersion, "read_timeout_ms") == 300_000
    assert VersionWriteSerializer().fields["connect_timeout_ms"].max_value == 300_000


def test_an_over_long_description_is_refused_by_the_form(client, acme, alice) -> None:
    """Application descriptions had no limit in the form or serializer (only deep in the service)."""
    client.force_login(alice)
    text = "x" * (max_length(Application, "description") + 1)
    response = client.post("/t/acme/apps/", {"name": "App", "description": text})
    assert response.status_code == 400
    assert "Ensure this value has at most 5000 characters" in response.content.decode()
