"""OpenAPI uploads: the size limit holds while reading (413), YAML goes through the C loader with
its protections, and large documents are validated by a Celery task that reports
"processing" / "failed with …" without ever losing the accepted document."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from apis import openapi, services
from apis.api.views import RawSpecParser
from apis.models import ApiVersion, SpecStatus
from apis.openapi import SpecInvalid
from apis.tasks import process_spec_task
from apis.tests.factories import minimal_spec
from core.errors import Conflict, PayloadTooLarge

V1_API = "/api/v1/tenants/acme/apis/orders/versions/v1/"
V1_WEB = "/t/acme/apis/orders/versions/v1/"


@pytest.fixture
def as_alice(api, alice):
    api.force_authenticate(alice)
    return api


def _reload(version: ApiVersion) -> ApiVersion:
    return ApiVersion.objects.unscoped().get(pk=version.pk)


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.consumed = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.consumed += len(chunk)
        return chunk


# --- Size limit while reading ----------------------------------------------------------------


@override_settings(OPENAPI_MAX_BYTES=100_000)
def test_read_limited_stops_at_the_limit_without_reading_the_rest():
    body = CountingStream(b"x" * 5_000_000)
    with pytest.raises(PayloadTooLarge) as error:
        openapi.read_limited(body.read)
    assert error.value.status_code == 413 and error.value.code == "too_large"
    assert body.consumed <= 100_000 + openapi.READ_CHUNK_BYTES
    assert openapi.read_limited(CountingStream(b"y" * 100_000).read) == b"y" * 100_000


@override_settings(OPENAPI_MAX_BYTES=100_000)
def test_raw_body_parser_refuses_on_the_declared_length_before_reading(rf):
    body = CountingStream(b"x" * 1_000_000)
    request = rf.put("/", data=b"", content_type="application/yaml")
    request.META["CONTENT_LENGTH"] = "1000000"
    with pytest.raises(PayloadTooLarge):
        RawSpecParser().parse(body, parser_context={"request": request})
    assert body.consumed == 0
    # A lying (or absent) Content-Length does not help: reading stops just past the limit.
    request.META["CONTENT_LENGTH"] = "10"
    with pytest.raises(PayloadTooLarge):
        RawSpecParser().parse(body, parser_context={"request": request})
    assert body.consumed <= 100_000 + openapi.READ_CHUNK_BYTES


@override_settings(OPENAPI_MAX_BYTES=50_000)
def test_rest_multipart_file_over_the_limit_is_413_and_nothing_changes(as_alice, orders, orders_v1):
    before = _reload(orders_v1).spec
    upload = SimpleUploadedFile("big.json", b"{" + b" " * 200_000 + b"}", content_type="application/json")
    response = as_alice.put(V1_API + "openapi/", {"file": upload}, format="multipart")
    assert response.status_code == 413
    body = response.json()["error"]
    assert body["code"] == "too_large"
    assert "limit is 49 KB" in body["message"]
    assert body["fields"] == {"file": [body["message"]]}
    assert _reload(orders_v1).spec == before


@override_settings(OPENAPI_MAX_BYTES=50_000)
def test_web_file_over_the_limit_is_a_form_error_with_413(client, alice, orders, orders_v1):
    client.force_login(alice)
    before = _reload(orders_v1).spec
    upload = SimpleUploadedFile("big.yaml", b"a: " + b"x" * 200_000, content_type="application/yaml")
    response = client.post(V1_WEB + "openapi/", {"openapi_file": upload})
    assert response.status_code == 413
    assert "The OpenAPI document is too large; the limit is 49 KB." in response.content.decode()
    assert _reload(orders_v1).spec == before


@override_settings(OPENAPI_MAX_BYTES=5_000, DATA_UPLOAD_MAX_MEMORY_SIZE=20_000)
def test_web_paste_over_the_limits_is_413_naming_the_limit(client, alice, orders, orders_v1):
    client.force_login(alice)
    # Between the OpenAPI limit and Django's form-field cap: a form error on the version page.
    response = client.post(V1_WEB + "openapi/", {"openapi": "a: " + "x" * 10_000})
    assert response.status_code == 413
    assert "the limit is 5 KB" in response.content.decode()
    # Past Django's cap (Django stops reading there): still a 413 page naming the limit, not a bare 400.
    response = client.post(V1_WEB + "openapi/", {"openapi": "a: " + "x" * 50_000})
    assert response.status_code == 413
    assert "the limit is 5 KB" in response.content.decode()


def test_web_upload_still_checks_csrf(alice, orders, orders_v1):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(V1_WEB + "openapi/", {"openapi": json.dumps(minimal_spec("/a"))})
    assert response.status_code == 403


# --- YAML with the C loader --------------------------------------------------------------------


def test_yaml_uses_the_c_loader_and_keeps_dates_as_strings():
    assert issubclass(openapi._Loader, yaml.CSafeLoader)
    document = openapi.parse('openapi: 3.0.3\ninfo: {title: t, version: "1", x-date: 2024-06-01}\npaths: {}\n')
    assert document["info"]["x-date"] == "2024-06-01"


def test_deep_yaml_nesting_is_refused_instead_of_crashing_the_process():
    # libyaml's C composer segfaults on ~100,000 levels; the event pre-check refuses first.
    for bomb in ("- " * 200_000 + "x", "[" * 200_000, "a:\n" + "".join(" " * i + "b:\n" for i in range(1, 400))):
        with pytest.raises(SpecInvalid, match="nested more than"):
            openapi.parse(bomb)


def test_yaml_aliases_are_refused_by_the_c_loader_path():
    with pytest.raises(SpecInvalid, match="line 3: YAML aliases"):
        openapi.parse('openapi: 3.0.0\na: &a ["x"]\nb: [*a, *a]\n')


@pytest.mark.parametrize(
    "document",
    [b"openapi: 3.0.3\ninfo: {title: \"a\x00b\", version: '1'}\npaths: {}\n", b'{"openapi": "3.0.3", "x": "\\u0000"}'],
)
def test_nul_characters_are_a_400_not_a_500(as_alice, orders, orders_v1, document):
    response = as_alice.put(V1_API + "openapi/", document, content_type="application/yaml")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_openapi"
    assert "NUL" in response.json()["error"]["message"]


@override_settings(OPENAPI_MAX_ENDPOINTS=3)
def test_too_many_endpoints_is_refused(as_alice, orders, orders_v1):
    response = as_alice.put(
        V1_API + "openapi/", json.dumps(minimal_spec("/a", "/b", "/c", "/d")), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_endpoints"
    assert "the limit is 3" in response.json()["error"]["message"]


# --- Large documents: validated by a Celery task -----------------------------------------------


def _large_spec(count: int) -> dict:
    return minimal_spec(*[f"/items-{i}" for i in range(count)])


@override_settings(OPENAPI_INLINE_MAX_BYTES=2_000)
def test_large_document_is_processed_by_the_task(
    as_alice, client, alice, orders, orders_v1, django_capture_on_commit_callbacks
):
    document = json.dumps(_large_spec(60))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = as_alice.put(V1_API + "openapi/", document, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["spec_status"] == "processing"
    version = _reload(orders_v1)
    assert version.spec_status == SpecStatus.PROCESSING and version.endpoints.count() == 7  # old one in place
    client.force_login(alice)
    assert "processing" in client.get(V1_WEB).content.decode()
    # The committed upload queues the task (eager in tests), which validates and extracts.
    assert len(callbacks) == 1
    callbacks[0]()
    version = _reload(orders_v1)
    assert version.spec_status == SpecStatus.READY and version.spec_pending == "" and version.spec_job is None
    assert version.endpoints.count() == 60
    assert as_alice.get(V1_API).json()["spec_status"] == "ready"


@override_settings(OPENAPI_INLINE_MAX_ENDPOINTS=5)
def test_many_endpoints_go_to_the_task_even_when_small(alice_m, orders, orders_v1):
    version = services.version_upload_spec(actor=alice_m, version=orders_v1, document=_large_spec(6))
    assert version.spec_status == SpecStatus.PROCESSING
    assert process_spec_task(version.pk, str(version.spec_job)) == "ready"
    assert _reload(version).endpoints.count() == 6


@override_settings(OPENAPI_INLINE_MAX_BYTES=100)
def test_invalid_large_document_fails_with_the_reason_and_keeps_the_previous_one(
    as_alice, client, alice, alice_m, orders, orders_v1
):
    before = _reload(orders_v1).spec
    bad = minimal_spec("/orders/{id}")  # path parameter not declared
    version = services.version_upload_spec(actor=alice_m, version=orders_v1, document=bad)
    assert process_spec_task(version.pk, str(version.spec_job)) == "failed"
    version = _reload(version)
    assert version.spec_status == SpecStatus.FAILED
    assert "/orders/{id}" in version.spec_error
    assert version.spec == before and version.endpoints.count() == 7
    client.force_login(alice)
    page = client.get(V1_WEB).content.decode()
    assert "failed with:" in page and "The previous document is still in place." in page
    body = as_alice.get(V1_API).json()
    assert body["spec_status"] == "failed" and "/orders/{id}" in body["spec_error"]


@override_settings(OPENAPI_INLINE_MAX_BYTES=100, OPENAPI_TASK_SOFT_TIME_LIMIT=0.000_001)
def test_time_limit_failure_keeps_the_previous_document(alice_m, orders, orders_v1):
    before = _reload(orders_v1).spec
    version = services.version_upload_spec(actor=alice_m, version=orders_v1, document=_large_spec(300))
    assert process_spec_task(version.pk, str(version.spec_job)) == "failed"
    version = _reload(version)
    assert version.spec_status == SpecStatus.FAILED
    assert "took longer than the 1e-06 s limit" in version.spec_error
    assert version.spec == before and version.endpoints.count() == 7


@override_settings(OPENAPI_INLINE_MAX_BYTES=100)
def test_a_newer_upload_supersedes_a_queued_one(alice_m, orders, orders_v1):
    queued = services.version_upload_spec(actor=alice_m, version=orders_v1, document=_large_spec(3))
    job = str(queued.spec_job)
    with override_settings(OPENAPI_INLINE_MAX_BYTES=1_000_000):
        services.version_upload_spec(actor=alice_m, version=orders_v1, document=minimal_spec("/x"))
    assert process_spec_task(queued.pk, job) == "superseded"
    version = _reload(queued)
    assert version.spec_status == SpecStatus.READY and list(version.endpoints.values_list("path", flat=True)) == ["/x"]


@override_settings(OPENAPI_INLINE_MAX_BYTES=100)
def test_sweep_requeues_stuck_uploads_and_gives_up_on_very_old_ones(alice_m, orders, orders_v1):
    version = services.version_upload_spec(actor=alice_m, version=orders_v1, document=_large_spec(3))
    ApiVersion.objects.unscoped().filter(pk=version.pk).update(spec_submitted_at=timezone.now() - timedelta(minutes=3))
    assert services.versions.version_sweep_specs() == 1  # re-queued; eager, so processed at once
    assert _reload(version).spec_status == SpecStatus.READY
    version = services.version_upload_spec(actor=alice_m, version=orders_v1, document=_large_spec(4))
    ApiVersion.objects.unscoped().filter(pk=version.pk).update(spec_submitted_at=timezone.now() - timedelta(hours=1))
    assert services.versions.version_sweep_specs() == 0
    assert _reload(version).spec_status == SpecStatus.FAILED
    assert "did not finish" in _reload(version).spec_error


@override_settings(OPENAPI_INLINE_MAX_BYTES=100)
def test_a_version_whose_first_document_is_processing_cannot_be_published_yet(alice_m, orders):
    version = services.version_create(
        actor=alice_m,
        api=orders,
        label="v2",
        base_path="/orders/v2",
        upstreams=[{"url": "https://orders.internal.acme.example", "weight": 1}],
        openapi_document=_large_spec(3),
    )
    assert version.spec_status == SpecStatus.PROCESSING and version.spec is None
    with pytest.raises(Conflict, match="still being validated"):
        services.version_publish(actor=alice_m, version=version)
    assert process_spec_task(version.pk, str(version.spec_job)) == "ready"
    assert services.version_publish(actor=alice_m, version=_reload(version)).status == "published"


@override_settings(OPENAPI_MAX_BYTES=50_000)
def test_web_new_version_with_an_oversize_file_is_413_and_creates_nothing(client, alice, orders):
    client.force_login(alice)
    upload = SimpleUploadedFile("big.json", b"{" + b" " * 200_000 + b"}", content_type="application/json")
    data = {"label": "v3", "base_path": "/orders/v3", "connect_timeout_ms": 5000, "read_timeout_ms": 30000}
    response = client.post("/t/acme/apis/orders/versions/new/", {**data, "openapi_file": upload})
    assert response.status_code == 413
    assert "the limit is 49 KB" in response.content.decode()
    assert not ApiVersion.objects.unscoped().filter(api=orders, label="v3").exists()
