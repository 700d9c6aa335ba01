"""Key names are unique among an application's current keys, so "Key production revoked" names one key."""

import importlib
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import Conflict
from subscriptions.models import ApiKey
from subscriptions.services import key_create, key_revoke, key_rotate
from subscriptions.tests.factories import membership


def _names(shop):
    return sorted((k.name, k.status) for k in ApiKey.objects.for_tenant(shop.tenant).filter(application=shop))


def test_the_form_refuses_a_taken_name_with_409_on_the_field(client, active_sub, shop, charlie):
    key_create(actor=membership(charlie, shop.tenant), application=shop, name="production")
    client.force_login(charlie)
    response = client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "Production"})
    html = response.content.decode()
    assert response.status_code == 409
    assert "already has a key named “Production”" in html.split('id="id_name_error"')[1]
    # One round: the taken name is shown together with a field error.
    both = client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "production", "expires_at": "soon"})
    assert both.status_code == 400 and "already has a key named" in both.content.decode()
    assert "Enter a valid date/time" in both.content.decode()
    assert ApiKey.objects.for_tenant(shop.tenant).count() == 1


def test_rest_refuses_a_taken_name_with_409_in_the_error_shape(api, active_sub, shop, charlie):
    api.force_authenticate(charlie)
    url = "/api/v1/tenants/globex/keys/"
    assert api.post(url, {"application": shop.pk, "name": "production"}, format="json").status_code == 201
    again = api.post(url, {"application": shop.pk, "name": "production"}, format="json")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "key_name_taken" and "name" in error["fields"]


def test_rotation_passes_the_name_on_revocation_and_expiry_free_it(active_sub, shop, charlie):
    actor = membership(charlie, shop.tenant)
    old, _ = key_create(actor=actor, application=shop, name="production")
    new, _ = key_rotate(actor=actor, key=old, grace=timedelta(hours=1))
    assert new.name == "production"  # the successor takes the name; the old key works out its grace
    with pytest.raises(Conflict):
        key_create(actor=actor, application=shop, name="production")
    with pytest.raises(Conflict):  # rotating into a name another current key holds
        other, _ = key_create(actor=actor, application=shop, name="staging")
        key_rotate(actor=actor, key=other, name="production")
    key_revoke(actor=actor, key=new)
    again, _ = key_create(actor=actor, application=shop, name="production")
    # An expired key gives its name up: it is marked revoked as of its expiry.
    ApiKey.objects.for_tenant(shop.tenant).filter(pk=again.pk).update(expires_at=timezone.now() - timedelta(days=1))
    latest, _ = key_create(actor=actor, application=shop, name="production")
    again.refresh_from_db()
    assert again.revoked_at == again.expires_at and latest.status == "active"


def test_the_database_refuses_two_current_keys_with_one_name(active_sub, shop, charlie):
    key_create(actor=membership(charlie, shop.tenant), application=shop, name="production")
    twin = ApiKey(tenant=shop.tenant, application=shop, name="PRODUCTION", key_id="twin0000000000", key_hash="0" * 64)
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()


def test_the_migration_renames_existing_duplicates(active_sub, shop, charlie):
    migration = importlib.import_module("subscriptions.migrations.0007_key_names_unique_per_application")
    actor = membership(charlie, shop.tenant)
    first, _ = key_create(actor=actor, application=shop, name="production")
    revoked, _ = key_create(actor=actor, application=shop, name="old")
    key_revoke(actor=actor, key=revoked)
    with connection.cursor() as cursor:  # as before the constraint existed
        cursor.execute("DROP INDEX apikey_name_unique_per_application")
    for n, name in enumerate(["production", "Production", "production (2)", "old"]):
        ApiKey.objects.create(tenant=shop.tenant, application=shop, name=name, key_id=f"dup{n}", key_hash="0" * 64)

    from django.apps import apps

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.rename_duplicate_key_names(apps, editor)
    names = sorted(k.name for k in ApiKey.objects.for_tenant(shop.tenant).filter(revoked_at__isnull=True))
    assert names == ["Production (4)", "old", "production", "production (2)", "production (3)"]
    assert ApiKey.objects.for_tenant(shop.tenant).get(pk=first.pk).name == "production"  # the oldest keeps it
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fire the deferred FK checks before the DDL
    with connection.schema_editor() as schema_editor:  # the constraint can be created now
        schema_editor.add_constraint(ApiKey, ApiKey._meta.constraints[0])
