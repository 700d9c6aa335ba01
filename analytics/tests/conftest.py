import pytest


@pytest.fixture(scope="session", autouse=True)
def _analytics_tables(django_db_setup, django_db_blocker):
    """Create the contract's tables when the owning branches' migrations are not merged yet."""
    from django.db import connection

    from analytics.tests.ddl import ROLLUPS

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(ROLLUPS)
