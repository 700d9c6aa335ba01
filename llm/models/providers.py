"""Model providers, their credential pools, models with prices, and model routes.

Every row carries the owning (provider) tenant, scoped by ``tenants.scoping`` like the rest of
the catalog. Credential secrets are stored encrypted (``core.secretbox``); ``secret_hint`` is
the masked form shown in pages and REST answers.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apis.models import ApiVersion
from core.validators import validate_single_line
from tenants.models import Tenant
from tenants.scoping import TenantScopedManager

TIMEOUT_MS = [MinValueValidator(1), MaxValueValidator(600_000)]


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic Messages"
    GEMINI = "gemini", "Google Gemini"
    OLLAMA = "ollama", "Ollama (native API)"


class Capability(models.TextChoices):
    CHAT = "chat", "Chat completions"
    EMBEDDINGS = "embeddings", "Embeddings"


class SurfaceKind(models.TextChoices):
    MODELS = "models", "Models (OpenAI-compatible API)"
    PROMPT = "prompt", "Prompt API"


class ModelProvider(models.Model):
    """Where models are served: a wire format (``kind``) and a base URL."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80, validators=[validate_single_line])
    slug = models.SlugField(max_length=60, help_text="Names the provider in call records and dashboards.")
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500, help_text="e.g. https://api.openai.com/v1")
    connect_timeout_ms = models.PositiveIntegerField(default=5_000, validators=TIMEOUT_MS)
    read_timeout_ms = models.PositiveIntegerField(
        default=60_000, validators=TIMEOUT_MS, help_text="To the first byte, and between chunks of a stream."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="modelprovider_slug_unique_per_tenant"),
            models.CheckConstraint(condition=Q(kind__in=ProviderKind.values), name="modelprovider_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class ProviderCredential(models.Model):
    """One key of a provider's pool; the node picks by priority (lowest first), then weight."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(ModelProvider, on_delete=models.CASCADE, related_name="credentials")
    label = models.CharField(max_length=80, validators=[validate_single_line])
    secret_encrypted = models.TextField(help_text="core.secretbox ciphertext; never the plaintext.")
    secret_hint = models.CharField(max_length=24, help_text="Masked form, e.g. sk-…a1b2.")
    weight = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])
    priority = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["provider", "priority", "-weight", "id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "label"], name="providercredential_label_unique"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="providercredential_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} · {self.label} ({self.secret_hint})"


class ProviderModel(models.Model):
    """A model a provider serves, by the provider's own id (``gpt-4o-mini``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(ModelProvider, on_delete=models.CASCADE, related_name="models")
    model_id = models.CharField(max_length=200, validators=[validate_single_line])
    capability = models.CharField(max_length=16, choices=Capability.choices, default=Capability.CHAT)
    context_window = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens; empty if unknown.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["provider", "model_id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="providermodel_unique_per_provider"),
            models.CheckConstraint(
                condition=Q(capability__in=Capability.values), name="providermodel_capability_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider.slug}/{self.model_id}"


class ModelPrice(models.Model):
    """Prices in USD per million tokens from ``effective_from`` (UTC date) on.

    The price of a call is the row with the latest ``effective_from`` not after the call's
    day; no row means the cost is unknown (NULL), never a guess.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(ProviderModel, on_delete=models.CASCADE, related_name="prices")
    effective_from = models.DateField()
    input_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    output_per_million = models.DecimalField(max_digits=12, decimal_places=6)
    cached_input_per_million = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="Empty: cached input costs the input price."
    )
    source = models.CharField(max_length=200, blank=True, help_text="Where the price comes from.")
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["model", "effective_from"], name="modelprice_unique_per_day"),
            models.CheckConstraint(
                condition=Q(input_per_million__gte=0)
                & Q(output_per_million__gte=0)
                & (Q(cached_input_per_million__isnull=True) | Q(cached_input_per_million__gte=0)),
                name="modelprice_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from}"


class ModelRoute(models.Model):
    """A public model name (``<tenant slug>/<name>``) served by an ordered list of provider models."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.SlugField(max_length=80, help_text="Public name is <organisation slug>/<name>, e.g. acme/chat-small.")
    capability = models.CharField(max_length=16, choices=Capability.choices, default=Capability.CHAT)
    description = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="modelroute_name_unique_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.public_name

    @property
    def public_name(self) -> str:
        return f"{self.tenant.slug}/{self.name}"


class RouteTarget(models.Model):
    """One step of a route: tried in ``position`` order; same position = weighted choice among them."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    route = models.ForeignKey(ModelRoute, on_delete=models.CASCADE, related_name="targets")
    model = models.ForeignKey(ProviderModel, on_delete=models.PROTECT, related_name="route_targets")
    position = models.PositiveSmallIntegerField(default=0)
    weight = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(1000)])

    objects = TenantScopedManager()

    class Meta:
        ordering = ["route", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["route", "model"], name="routetarget_model_once_per_route"),
            models.CheckConstraint(condition=Q(weight__gt=0), name="routetarget_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.route} → {self.model} (#{self.position}, w{self.weight})"


class AiSurface(models.Model):
    """What an API version of kind AI serves: model routes (OpenAI-compatible) or one prompt version."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    version = models.OneToOneField(ApiVersion, on_delete=models.CASCADE, related_name="ai_surface")
    kind = models.CharField(max_length=16, choices=SurfaceKind.choices, default=SurfaceKind.MODELS)
    routes = models.ManyToManyField(ModelRoute, blank=True, related_name="surfaces")
    prompt_version = models.ForeignKey(
        "llm.PromptVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="surfaces"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SurfaceKind.values), name="aisurface_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind=SurfaceKind.PROMPT) | Q(prompt_version__isnull=False),
                name="aisurface_prompt_has_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.kind})"
