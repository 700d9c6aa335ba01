"""Writes to model providers, their credential pools, their models and the models' prices.

Owners and admins manage them (``Perm.AI_MANAGE``); every member reads them (selectors).
Credential secrets are sealed with ``core.secretbox`` before they touch the database and are
never echoed: not in audit notes, not in error messages (only ``secret_hint``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apis.services import audit_record
from core import outbound, secretbox
from core.errors import Conflict, InvalidInput, reject_unknown_fields
from core.outbound import OutboundRefused
from core.validators import clean_text
from llm.models import (
    Capability,
    ModelPrice,
    ModelProvider,
    ProviderCredential,
    ProviderKind,
    ProviderModel,
)
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

#: Associated data of credential ciphertexts: a ciphertext of another kind of secret does not open as one.
CREDENTIAL_CONTEXT = "llm.credential"
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")
MAX_TIMEOUT_MS = 600_000
MAX_SECRET_LENGTH = 4096
MAX_CREDENTIALS = 50
MAX_PRICE = Decimal("1000000")


# --- Field checks -----------------------------------------------------------------------


def _slug(value: Any, field: str = "slug") -> str:
    slug = str(value or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInput("Use 1–60 lowercase letters, digits and hyphens (e.g. openai).", field=field)
    return slug


def _kind(value: Any) -> str:
    if value not in ProviderKind.values:
        raise InvalidInput(f"Choose one of: {', '.join(ProviderKind.values)}.", field="kind")
    return str(value)


def validate_base_url(value: Any) -> str:
    """An absolute http(s) URL the outbound policy allows (the node connects there for the tenant)."""
    url = str(value or "").strip().rstrip("/")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInput("Enter an absolute http(s) URL.", field="base_url") from None
    if parts.username or parts.password:
        # Checked before anything echoes the URL: the message must not repeat a secret.
        raise InvalidInput("Credentials in the URL are not allowed: add them to the credential pool.", field="base_url")
    if parts.scheme in {"http", "https"} and parts.hostname:
        try:
            outbound.check_url(url)
        except OutboundRefused as exc:
            raise InvalidInput(
                f"“{url[:200]}” is refused: {exc.reason}.", code="url_refused", field="base_url"
            ) from None
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise InvalidInput("Enter an absolute http(s) URL.", field="base_url") from None
    if len(url) > 500:
        raise InvalidInput("At most 500 characters.", field="base_url")
    if parts.query or parts.fragment:
        raise InvalidInput("The URL must not have a query or fragment.", field="base_url")
    return url


def _int(value: Any, field: str, low: int, high: int, message: str = "") -> int:
    if isinstance(value, bool):
        raise InvalidInput("Enter a whole number.", field=field)
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInput("Enter a whole number.", field=field) from None
    if not low <= number <= high:
        raise InvalidInput(message or f"Between {low} and {high}.", field=field)
    return number


def _timeout(value: Any, field: str) -> int:
    return _int(value, field, 1, MAX_TIMEOUT_MS, f"Between 1 and {MAX_TIMEOUT_MS} milliseconds.")


def _capability(value: Any) -> str:
    if value not in Capability.values:
        raise InvalidInput(f"Choose one of: {', '.join(Capability.values)}.", field="capability")
    return str(value)


def _price(value: Any, field: str, *, required: bool = True) -> Decimal | None:
    if value in (None, ""):
        if required:
            raise InvalidInput("Enter a price in USD per million tokens.", field=field)
        return None
    if isinstance(value, bool):
        raise InvalidInput("Enter a number.", field=field)
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput("Enter a number, e.g. 0.15.", field=field) from None
    if not price.is_finite() or price < 0 or price >= MAX_PRICE:
        raise InvalidInput("Enter a price between 0 and 999999.", field=field)
    if price != price.quantize(Decimal("0.000001")):
        raise InvalidInput("At most 6 decimal places.", field=field)
    return price


def _date(value: Any, field: str = "effective_from") -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise InvalidInput("Enter a date as YYYY-MM-DD.", field=field) from None


def _lock(actor: Membership, obj: Any, **kwargs: Any) -> Any:
    return get_owned(actor, obj, lock=True, **kwargs)


def _audit(actor: Membership, action: str, target: Any, note: str = "") -> None:
    audit_record(actor=actor, tenant=actor.tenant, action=action, target=target, note=note)


# --- Providers ------------------------------------------------------------------------------


def check_provider_slug_free(actor: Membership, slug: str, *, exclude_pk: int | None = None) -> None:
    if ModelProvider.objects.for_tenant(actor.tenant).filter(slug=slug).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"A provider “{slug}” already exists.", code="slug_taken", field="slug")


def _save(obj: Any, *, unique_message: str, unique_field: str, code: str = "taken") -> None:
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError as error:
        if "unique" in str(error).lower():
            raise InvalidInput(unique_message, code=code, field=unique_field) from None
        raise


@transaction.atomic
def provider_create(
    *,
    actor: Membership,
    name: str,
    slug: str,
    kind: str,
    base_url: str,
    connect_timeout_ms: int = 5_000,
    read_timeout_ms: int = 60_000,
) -> ModelProvider:
    """A model provider of the actor's organisation (no credential yet)."""
    require(actor, Perm.AI_MANAGE)
    provider = ModelProvider(
        tenant=actor.tenant,
        name=clean_text(name, field="name", max_length=80, required=True),
        slug=_slug(slug),
        kind=_kind(kind),
        base_url=validate_base_url(base_url),
        connect_timeout_ms=_timeout(connect_timeout_ms, "connect_timeout_ms"),
        read_timeout_ms=_timeout(read_timeout_ms, "read_timeout_ms"),
    )
    check_provider_slug_free(actor, provider.slug)
    _save(provider, unique_message=f"A provider “{provider.slug}” already exists.", unique_field="slug")
    _audit(actor, "ai_provider.created", provider, f"{provider.get_kind_display()} at {provider.base_url}")
    return provider


PROVIDER_UPDATE_FIELDS = frozenset({"name", "slug", "kind", "base_url", "connect_timeout_ms", "read_timeout_ms"})


@transaction.atomic
def provider_update(*, actor: Membership, provider: ModelProvider, **changes: Any) -> ModelProvider:
    require(actor, Perm.AI_MANAGE)
    provider = _lock(actor, provider)
    reject_unknown_fields(changes, PROVIDER_UPDATE_FIELDS)
    cleaners: dict[str, Callable[[Any], Any]] = {
        "name": lambda v: clean_text(v, field="name", max_length=80, required=True),
        "slug": _slug,
        "kind": _kind,
        "base_url": validate_base_url,
        "connect_timeout_ms": lambda v: _timeout(v, "connect_timeout_ms"),
        "read_timeout_ms": lambda v: _timeout(v, "read_timeout_ms"),
    }
    changed = []
    for field, value in changes.items():
        cleaned = cleaners[field](value)
        if cleaned != getattr(provider, field):
            setattr(provider, field, cleaned)
            changed.append(field)
    if "slug" in changed:
        check_provider_slug_free(actor, provider.slug, exclude_pk=provider.pk)
    if changed:
        provider.updated_at = timezone.now()
        _save(provider, unique_message=f"A provider “{provider.slug}” already exists.", unique_field="slug")
        _audit(actor, "ai_provider.updated", provider, "Changed: " + ", ".join(changed))
    return provider


@transaction.atomic
def provider_delete(*, actor: Membership, provider: ModelProvider) -> None:
    """Refused (409) while a model route still targets one of its models."""
    require(actor, Perm.AI_MANAGE)
    provider = _lock(actor, provider)
    _audit(actor, "ai_provider.deleted", provider)
    try:
        with transaction.atomic():
            provider.delete()
    except ProtectedError:
        raise Conflict(
            f"Model routes still use models of {provider.name}; remove them from the routes first.",
            code="provider_in_use",
        ) from None


# --- Credentials ------------------------------------------------------------------------------


def _secret(value: Any) -> str:
    secret = str(value or "").strip()
    if not secret:
        raise InvalidInput("Enter the API key.", field="secret")
    if len(secret) > MAX_SECRET_LENGTH:
        raise InvalidInput(f"At most {MAX_SECRET_LENGTH} characters.", field="secret")
    if any(ch.isspace() for ch in secret) or not secret.isprintable():
        # Never echo the value: it is a secret even when it is malformed.
        raise InvalidInput("An API key has no spaces, line breaks or control characters.", field="secret")
    return secret


def check_credential_label_free(provider: ModelProvider, label: str, *, exclude_pk: int | None = None) -> None:
    taken = (
        ProviderCredential.objects.for_tenant(provider.tenant_id)
        .filter(provider=provider, label=label)
        .exclude(pk=exclude_pk)
        .exists()
    )
    if taken:
        raise InvalidInput(f"{provider.name} already has a credential “{label}”.", code="label_taken", field="label")


@transaction.atomic
def credential_create(
    *,
    actor: Membership,
    provider: ModelProvider,
    label: str,
    secret: str,
    weight: int = 1,
    priority: int = 0,
    enabled: bool = True,
) -> ProviderCredential:
    """Add a key to the provider's pool, sealed at rest; the plaintext is never stored or shown again."""
    require(actor, Perm.AI_MANAGE)
    provider = _lock(actor, provider, model=ModelProvider)
    label = clean_text(label, field="label", max_length=80, required=True)
    plaintext = _secret(secret)
    weight = _int(weight, "weight", 1, 1000)
    priority = _int(priority, "priority", 0, 100)
    if not isinstance(enabled, bool):
        raise InvalidInput("Must be true or false.", field="enabled")
    check_credential_label_free(provider, label)
    if ProviderCredential.objects.for_tenant(actor.tenant).filter(provider=provider).count() >= MAX_CREDENTIALS:
        raise Conflict(f"A provider holds at most {MAX_CREDENTIALS} credentials.", code="too_many_credentials")
    credential = ProviderCredential(
        tenant=actor.tenant,
        provider=provider,
        label=label,
        secret_encrypted=secretbox.encrypt(plaintext, context=CREDENTIAL_CONTEXT),
        secret_hint=secretbox.mask(plaintext),
        weight=weight,
        priority=priority,
        enabled=enabled,
    )
    _save(credential, unique_message=f"{provider.name} already has a credential “{label}”.", unique_field="label")
    _audit(actor, "ai_credential.created", credential, f"{provider.slug}: {credential.secret_hint}")
    return credential


CREDENTIAL_UPDATE_FIELDS = frozenset({"label", "weight", "priority", "enabled", "secret"})


@transaction.atomic
def credential_update(*, actor: Membership, credential: ProviderCredential, **changes: Any) -> ProviderCredential:
    """Change weight, priority, enabled or label; ``secret`` replaces the key (write-only)."""
    require(actor, Perm.AI_MANAGE)
    credential = _lock(actor, credential, related=("provider",))
    reject_unknown_fields(changes, CREDENTIAL_UPDATE_FIELDS)
    changed = []
    if "label" in changes:
        label = clean_text(changes["label"], field="label", max_length=80, required=True)
        if label != credential.label:
            check_credential_label_free(credential.provider, label, exclude_pk=credential.pk)
            credential.label = label
            changed.append("label")
    for field, low, high in (("weight", 1, 1000), ("priority", 0, 100)):
        if field in changes:
            value = _int(changes[field], field, low, high)
            if value != getattr(credential, field):
                setattr(credential, field, value)
                changed.append(field)
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise InvalidInput("Must be true or false.", field="enabled")
        if changes["enabled"] != credential.enabled:
            credential.enabled = changes["enabled"]
            changed.append("enabled")
    if changes.get("secret") not in (None, ""):
        plaintext = _secret(changes["secret"])
        credential.secret_encrypted = secretbox.encrypt(plaintext, context=CREDENTIAL_CONTEXT)
        credential.secret_hint = secretbox.mask(plaintext)
        changed.append("secret")
    if changed:
        credential.updated_at = timezone.now()
        _save(
            credential,
            unique_message=f"{credential.provider.name} already has a credential “{credential.label}”.",
            unique_field="label",
        )
        _audit(actor, "ai_credential.updated", credential, "Changed: " + ", ".join(changed))
    return credential


@transaction.atomic
def credential_delete(*, actor: Membership, credential: ProviderCredential) -> None:
    require(actor, Perm.AI_MANAGE)
    credential = _lock(actor, credential, related=("provider",))
    _audit(actor, "ai_credential.deleted", credential)
    credential.delete()


def credential_secret(credential: ProviderCredential) -> str:
    """The plaintext key (for the gateway snapshot only; SecretBoxError when it cannot be opened)."""
    return secretbox.decrypt(credential.secret_encrypted, context=CREDENTIAL_CONTEXT)


def credentials_rotate(*, batch_size: int = 200) -> tuple[int, int]:
    """Re-seal every stored credential with the primary key: ``(re-encrypted, already current)``
    (idempotent, batched, row-locked; see ``secretbox.reseal_rows``)."""
    return secretbox.reseal_rows(
        ProviderCredential.objects.unscoped(),  # the operator's command crosses every tenant
        "secret_encrypted",
        context=CREDENTIAL_CONTEXT,
        what="credential",
        batch_size=batch_size,
    )


# --- Models and prices ---------------------------------------------------------------------


def check_model_free(provider: ModelProvider, model_id: str, *, exclude_pk: int | None = None) -> None:
    taken = (
        ProviderModel.objects.for_tenant(provider.tenant_id)
        .filter(provider=provider, model_id=model_id)
        .exclude(pk=exclude_pk)
        .exists()
    )
    if taken:
        raise InvalidInput(f"{provider.name} already has the model “{model_id}”.", code="model_taken", field="model_id")


def _context_window(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return _int(value, "context_window", 1, 100_000_000)


@transaction.atomic
def model_create(
    *,
    actor: Membership,
    provider: ModelProvider,
    model_id: str,
    capability: str = Capability.CHAT,
    context_window: int | None = None,
    price: dict[str, Any] | None = None,
) -> ProviderModel:
    """A model of ``provider``; ``price`` (optional) is its first price (see :func:`price_add`)."""
    require(actor, Perm.AI_MANAGE)
    provider = _lock(actor, provider, model=ModelProvider)
    model = ProviderModel(
        tenant=actor.tenant,
        provider=provider,
        model_id=clean_text(model_id, field="model_id", max_length=200, required=True),
        capability=_capability(capability),
        context_window=_context_window(context_window),
    )
    check_model_free(provider, model.model_id)
    _save(
        model,
        unique_message=f"{provider.name} already has the model “{model.model_id}”.",
        unique_field="model_id",
        code="model_taken",
    )
    _audit(actor, "ai_model.created", model)
    if price:
        price_add(actor=actor, model=model, **price)
    return model


MODEL_UPDATE_FIELDS = frozenset({"model_id", "context_window"})


@transaction.atomic
def model_update(*, actor: Membership, model: ProviderModel, **changes: Any) -> ProviderModel:
    """Rename (the provider renamed it) or set the context window. The capability is fixed: routes rely on it."""
    require(actor, Perm.AI_MANAGE)
    model = _lock(actor, model, related=("provider",))
    reject_unknown_fields(changes, MODEL_UPDATE_FIELDS)
    changed = []
    if "model_id" in changes:
        model_id = clean_text(changes["model_id"], field="model_id", max_length=200, required=True)
        if model_id != model.model_id:
            check_model_free(model.provider, model_id, exclude_pk=model.pk)
            model.model_id = model_id
            changed.append("model_id")
    if "context_window" in changes:
        window = _context_window(changes["context_window"])
        if window != model.context_window:
            model.context_window = window
            changed.append("context_window")
    if changed:
        _save(model, unique_message=f"The model “{model.model_id}” exists already.", unique_field="model_id")
        _audit(actor, "ai_model.updated", model, "Changed: " + ", ".join(changed))
    return model


@transaction.atomic
def model_delete(*, actor: Membership, model: ProviderModel) -> None:
    require(actor, Perm.AI_MANAGE)
    model = _lock(actor, model, related=("provider",))
    _audit(actor, "ai_model.deleted", model)
    try:
        with transaction.atomic():
            model.delete()
    except ProtectedError:
        raise Conflict(
            f"Model routes still use {model.model_id}; remove it from the routes first.", code="model_in_use"
        ) from None


@transaction.atomic
def price_add(
    *,
    actor: Membership,
    model: ProviderModel,
    input_per_million: Any,
    output_per_million: Any,
    cached_input_per_million: Any = None,
    effective_from: Any = None,
    source: str = "",
) -> ModelPrice:
    """A new price from ``effective_from`` (default today, UTC); earlier prices stay as history.

    A second price for the same day replaces that day's (a correction, not history).
    """
    require(actor, Perm.AI_MANAGE)
    model = _lock(actor, model, model=ProviderModel, related=("provider",))
    day = _date(effective_from) if effective_from not in (None, "") else timezone.now().date()
    values = {
        "input_per_million": _price(input_per_million, "input_per_million"),
        "output_per_million": _price(output_per_million, "output_per_million"),
        "cached_input_per_million": _price(cached_input_per_million, "cached_input_per_million", required=False),
        "source": clean_text(source, field="source", max_length=200),
    }
    price, created = ModelPrice.objects.for_tenant(actor.tenant).update_or_create(
        model=model, effective_from=day, defaults={**values, "tenant": actor.tenant}
    )
    _audit(
        actor,
        "ai_price.set" if created else "ai_price.corrected",
        price,
        f"in {values['input_per_million']} / out {values['output_per_million']} per 1M from {day.isoformat()}",
    )
    return price


@transaction.atomic
def price_delete(*, actor: Membership, price: ModelPrice) -> None:
    require(actor, Perm.AI_MANAGE)
    price = _lock(actor, price, related=("model",))
    _audit(actor, "ai_price.deleted", price)
    price.delete()
