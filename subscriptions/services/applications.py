"""Writes to applications."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from core.errors import Conflict, InvalidInput
from core.validators import clean_text as _text
from subscriptions.models import (
    Application,
)
from tenants.models import Membership, Tenant
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

# --- Applications --------------------------------------------------------------------


def _validate_application(name: str, description: str, contact_email: str) -> dict[str, str]:
    contact_email = _text(contact_email, field="contact_email", max_length=254)
    if contact_email and "@" not in contact_email:
        raise InvalidInput("Enter a valid e-mail address.", field="contact_email")
    return {
        "name": _text(name, field="name", max_length=100, required=True, label="Give the application a name."),
        "description": _text(description, field="description", max_length=5000, single_line=False),
        "contact_email": contact_email,
    }


def check_application_name_free(tenant: Tenant, name: str, *, exclude_pk: int | None = None) -> None:
    if Application.objects.for_tenant(tenant).filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise Conflict(f"An application named “{name}” already exists.", code="name_taken", field="name")


@transaction.atomic
def application_create(*, actor: Membership, name: str, description: str = "", contact_email: str = "") -> Application:
    require(actor, Perm.APPS_EDIT)
    values = _validate_application(name, description, contact_email)
    check_application_name_free(actor.tenant, values["name"])
    try:
        with transaction.atomic():
            return Application.objects.create(tenant=actor.tenant, created_by=actor.user, **values)
    except IntegrityError:
        raise Conflict(
            f"An application named “{values['name']}” already exists.", code="name_taken", field="name"
        ) from None


@transaction.atomic
def application_update(
    *,
    actor: Membership,
    application: Application,
    name: str | None = None,
    description: str | None = None,
    contact_email: str | None = None,
) -> Application:
    require(actor, Perm.APPS_EDIT)
    application = get_owned(actor, application, lock=True)
    values = _validate_application(
        application.name if name is None else name,
        application.description if description is None else description,
        application.contact_email if contact_email is None else contact_email,
    )
    check_application_name_free(actor.tenant, values["name"], exclude_pk=application.pk)
    for key, value in values.items():
        setattr(application, key, value)
    application.save()
    return application
