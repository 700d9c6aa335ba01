"""Bad input never produces a 500: every documented operation gets garbage, as owner and as staff."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

JUNK_VALUES = ["", -1, "x" * 5000, {"nested": [1, 2]}, None, True, "2001-13-45", "../../etc/passwd", "<script>"]


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            ref = body.get("$ref", "")
            props = {}
            if ref:
                props = schema["components"]["schemas"][ref.split("/")[-1]].get("properties", {})
            yield path, method, list(props)


def _urls(path):
    for ident in ("1", "abc"):
        yield re.sub(r"\{tenant_slug\}", "acme", re.sub(r"\{(?!tenant_slug)[^}]+\}", ident, path))


@pytest.mark.django_db
def test_no_operation_answers_500_to_garbage(api, alice, charlie):
    from tenants.tests.factories import UserFactory

    staff = UserFactory(is_staff=True, is_superuser=True)
    failures = []
    for path, method, fields in _operations():
        for user in (alice, staff, charlie):
            api.force_authenticate(user)
            for url in _urls(path):
                bodies = [{}, [], {"x": 1}]
                bodies += [dict.fromkeys(fields, value) for value in JUNK_VALUES] if fields else []
                for body in bodies if method in {"post", "put", "patch"} else [None]:
                    response = getattr(api, method)(url, body, format="json")
                    if response.status_code >= 500:
                        failures.append((method, url, body, response.status_code))
                    elif response.status_code >= 400:
                        assert "error" in response.json(), (method, url, response.content[:200])
    assert not failures, failures[:10]
