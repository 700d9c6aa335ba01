"""The REST API keeps the contract it publishes: schemathesis against a live test server.

Every operation of ``/api/schema/`` gets a bounded number of generated requests, valid and
invalid (``--mode all``), authenticated with a personal access token of the demo provider's
owner, with path parameters pinned to seeded objects so that the real code paths run. The
run fails on any 5xx, any response that does not match its documented schema, and any
status code the schema does not list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from tenants.models import Membership, Tenant
from tenants.services import token_create

#: Generated cases per operation and phase, valid and invalid: ~600 requests, ~40 s.
MAX_EXAMPLES = int(os.environ.get("CONTRACT_MAX_EXAMPLES", "6"))
#: The coverage phase (boundary values of every parameter, ~5,000 more requests, ~3 minutes)
#: is opt-in: CONTRACT_PHASES=examples,coverage,fuzzing ./test portal/tests/test_contract.py
PHASES = os.environ.get("CONTRACT_PHASES", "examples,fuzzing")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance"
#: Path parameters pinned to the demo data (random slugs would only ever find 404s).
PARAMETERS = {"tenant_slug": "acme", "api_slug": "orders", "label": "v1", "provider_slug": "acme", "slug": "orders"}

pytestmark = pytest.mark.django_db(transaction=True)


def _config(path: Path) -> Path:
    lines = ["[parameters]"] + [f'"path.{name}" = "{value}"' for name, value in PARAMETERS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_api_keeps_its_published_contract(live_server, tmp_path):
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    acme = Tenant.objects.get(slug="acme")
    owner = Membership.objects.for_tenant(acme).get(user__email="alice@acme.example")
    _, token = token_create(actor=owner, name="contract test")
    cmd = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(_config(tmp_path / "schemathesis.toml")),
        "run", f"{live_server.url}/api/schema/",
        "--checks", CHECKS,
        "--mode", "all",
        "--phases", PHASES,
        "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1",
        "--seed", os.environ.get("CONTRACT_SEED", "7"),
        "--generation-database", "none",
        "--header", f"Authorization: Bearer {token}",
        "--request-timeout", "30",
        "--no-color",
        "--warnings", "off",
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert " passed" in result.stdout and "No issues found" in result.stdout, result.stdout[-3000:]
