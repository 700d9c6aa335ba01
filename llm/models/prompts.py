"""Prompt templates and their immutable versions (identified by a content hash)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.validators import validate_single_line
from tenants.models import Tenant
from tenants.scoping import TenantScopedManager


class ResponseMode(models.TextChoices):
    TEXT = "text", "Text"
    OPENAI = "openai", "OpenAI-style chat completion"
    JSON = "json", "JSON validated against a schema"


class PromptTemplate(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=80, validators=[validate_single_line])
    slug = models.SlugField(max_length=60)
    description = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="prompttemplate_slug_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class PromptVersion(models.Model):
    """One immutable revision of a template. ``content_hash`` is the SHA-256 of its canonical
    JSON (protocol.prompts.content_hash); saving the same content twice gives the same version."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    template = models.ForeignKey(PromptTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    messages = models.JSONField(help_text='[{"role": "system"|"user"|"assistant", "content": "... {{var}} ..."}]')
    variables = models.JSONField(
        default=list, help_text='[{"name", "type": string|integer|number|boolean, "required", "description", "enum"}]'
    )
    route = models.ForeignKey("llm.ModelRoute", on_delete=models.PROTECT, related_name="prompt_versions")
    params = models.JSONField(default=dict, blank=True, help_text="temperature, max_tokens, top_p, stop")
    response_mode = models.CharField(max_length=16, choices=ResponseMode.choices, default=ResponseMode.TEXT)
    response_schema = models.JSONField(null=True, blank=True, help_text="JSON Schema, for response mode json.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="promptversion_number_unique"),
            models.UniqueConstraint(fields=["template", "content_hash"], name="promptversion_hash_unique"),
            models.CheckConstraint(
                condition=~Q(response_mode="json") | Q(response_schema__isnull=False),
                name="promptversion_json_has_schema",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} v{self.number} ({self.content_hash[:8]})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.pop("allow_update", False):
            raise ValueError("Prompt versions are immutable: save a new version instead.")
        super().save(*args, **kwargs)
