"""Validation in one round: conflicts (a slug, label, base path or name taken) come with the field
errors; every form with errors has a summary linking to its fields and marks them for assistive
technology; a problem of an uploaded OpenAPI file is shown under the file input."""

import re

from django.core.files.uploadedfile import SimpleUploadedFile


def _html(response) -> str:
    return response.content.decode()


def _field_errors(html: str, field_id: str) -> str:
    found = re.search(rf'<div id="{field_id}_error">(.*?)</div>\s*</div>', html, re.S)
    return found.group(1) if found else ""


def test_api_form_shows_the_taken_slug_with_the_field_errors(client, alice, orders):
    client.force_login(alice)
    response = client.post("/t/acme/apis/new/", {"name": "", "slug": "orders", "visibility": "nope"})
    html = _html(response)
    assert response.status_code == 400
    assert "You already have an API with the slug “orders”." in _field_errors(html, "id_slug")
    assert "This field is required." in _field_errors(html, "id_name")
    # The summary on top links every problem to its field.
    summary = html.split('class="alert alert-danger error-summary"')[1].split("</div>")[0]
    assert "There are 3 problems" in summary
    assert '<a href="#id_slug"' in summary and '<a href="#id_name"' in summary and '<a href="#id_visibility"' in summary
    # Invalid fields say so, and point at their error message (which exists on the page).
    slug_input = re.search(r"<input[^>]*id=\"id_slug\"[^>]*>", html).group(0)
    assert 'aria-invalid="true"' in slug_input and 'aria-describedby="id_slug_helptext id_slug_error"' in slug_input
    assert 'id="id_slug_helptext"' in html


def test_a_conflict_alone_has_its_own_status_and_a_valid_form_has_no_summary(client, alice, orders):
    client.force_login(alice)
    response = client.post("/t/acme/apis/new/", {"name": "Orders again", "slug": "orders", "visibility": "public"})
    assert response.status_code == 400 and "There is a problem" in _html(response)  # slug_taken is a 400
    assert "error-summary" not in _html(client.get("/t/acme/apis/new/"))


def test_version_form_shows_label_and_base_path_taken_with_field_errors(client, alice, orders, orders_v1):
    client.force_login(alice)
    data = {"label": "v1", "base_path": "/orders/v1", "connect_timeout_ms": "x", "read_timeout_ms": 30000}
    response = client.post("/t/acme/apis/orders/versions/new/", data)
    html = _html(response)
    assert response.status_code == 400
    assert "already has a version “v1”" in _field_errors(html, "id_label")
    assert "already in use" in _field_errors(html, "id_base_path")
    assert _field_errors(html, "id_connect_timeout_ms")


def test_plan_form_shows_the_taken_name_with_field_errors(client, alice, orders, free_plan):
    client.force_login(alice)
    response = client.post("/t/acme/apis/orders/plans/new/", {"name": free_plan.name, "rate_limit_per_second": "-1"})
    html = _html(response)
    assert response.status_code == 400
    assert "already has a plan called" in _field_errors(html, "id_name")


def test_onboarding_shows_the_taken_slug_with_the_missing_name(client, alice, acme):
    client.force_login(alice)
    response = client.post("/onboarding/", {"name": "", "slug": "acme"})
    html = _html(response)
    assert response.status_code == 400
    assert "already taken" in _field_errors(html, "id_slug") and _field_errors(html, "id_name")


def test_an_invalid_uploaded_file_is_reported_under_the_file_input(client, alice, orders, orders_v1):
    client.force_login(alice)
    upload = SimpleUploadedFile("orders.yaml", b"openapi: 3.0.3\ninfo: {}\n", content_type="application/yaml")
    response = client.post("/t/acme/apis/orders/versions/v1/openapi/", {"openapi_file": upload})
    html = _html(response)
    assert response.status_code == 400
    under_file = _field_errors(html, "id_openapi_file")
    assert "invalid" in under_file.lower() or "info" in under_file
    assert "“orders.yaml” was not saved: choose the file again" in under_file
    assert _field_errors(html, "id_openapi") == ""  # not under the paste box


def test_an_invalid_pasted_document_is_reported_under_the_paste_box(client, alice, orders, orders_v1):
    client.force_login(alice)
    response = client.post("/t/acme/apis/orders/versions/v1/openapi/", {"openapi": "openapi: 3.0.3\ninfo: {}\n"})
    html = _html(response)
    assert response.status_code == 400
    assert _field_errors(html, "id_openapi") and _field_errors(html, "id_openapi_file") == ""
