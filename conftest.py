import os
from contextlib import contextmanager

# Test mode: dev-only defaults (secret key, hosts), no rate limits, Celery tasks run inline.
os.environ.setdefault("PORTAL_TESTING", "1")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")


import pytest
from rest_framework.test import APIClient


# Personas (healthchecks style): Alice owns Acme, Bob is on Alice's team with a lower role,
# Vera only views Acme, Charlie is a stranger who owns Globex.
@pytest.fixture
def acme(db):
    from tenants.tests.factories import TenantFactory

    return TenantFactory(slug="acme", name="Acme Logistics")


@pytest.fixture
def globex(db):
    from tenants.tests.factories import TenantFactory

    return TenantFactory(slug="globex", name="Globex Retail")


def _member(tenant, email, role):
    from tenants.tests.factories import MembershipFactory, UserFactory

    return MembershipFactory(tenant=tenant, user=UserFactory(email=email), role=role)


@pytest.fixture
def alice(acme):
    return _member(acme, "alice@acme.example", "owner").user


@pytest.fixture
def bob(acme):
    return _member(acme, "bob@acme.example", "developer").user


@pytest.fixture
def vera(acme):
    return _member(acme, "vera@acme.example", "viewer").user


@pytest.fixture
def charlie(globex):
    return _member(globex, "charlie@globex.example", "owner").user


@pytest.fixture
def api():
    """A DRF client; call api.force_authenticate(user) or pass a bearer token header."""
    return APIClient()


CHROMIUM = "/usr/bin/chromium"


@contextmanager
def launch_chromium():
    """Debian's chromium driven by Playwright (skips the test when it is missing)."""
    import shutil

    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            # Without the background-networking flags chromium keeps dialling out of a closed network.
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def browser(monkeypatch):
    """One chromium per test."""
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with launch_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def module_browser():
    """One chromium shared by a module's tests (page walks that visit dozens of pages)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with launch_chromium() as browser:
            yield browser


@pytest.fixture(autouse=True)
def _empty_raw_calls_after_transactional_tests(request, django_db_blocker):
    """A transactional test commits call records, and its flush leaves the raw call table alone
    (partitioned, not a model Django flushes): empty it afterwards, so the next test, in any
    order or a re-used database, starts without another test's calls."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(request.fixturenames)
    )
    yield
    if transactional:
        from django.db import connection

        # This teardown may run after the database fixture's own, which blocks access again.
        with django_db_blocker.unblock(), connection.cursor() as cur:
            cur.execute("TRUNCATE gateways_callrecord")


@pytest.fixture
def live_portal(live_server) -> str:
    """The live portal's URL, ready for a real gateway node: the config-version row a
    transactional test's flush removed is back, no raw calls of another test, no cached snapshot."""
    from django.db import connection

    from gateways.models import ConfigState
    from gateways.snapshot import cache

    ConfigState.objects.get_or_create(pk=1)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE gateways_callrecord")
    cache.clear()
    return str(live_server.url)
