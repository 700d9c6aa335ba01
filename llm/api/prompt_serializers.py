"""REST shapes of prompt templates, their versions, publishing and the playground."""

from __future__ import annotations

from rest_framework import serializers

from apis.models import ApiVersion, Visibility
from llm.models import PromptTemplate, PromptVersion, ResponseMode


class PromptTemplateSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = PromptTemplate
        fields = ["slug", "name", "description", "latest_version", "created_at", "updated_at"]
        read_only_fields = fields

    def get_latest_version(self, template: PromptTemplate) -> int | None:
        return getattr(template, "latest_number", None)


class PromptTemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    slug = serializers.CharField(max_length=50)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class PromptTemplateUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class LintFindingSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["error", "warning"])
    message = serializers.CharField()


class VariableProblemSerializer(serializers.Serializer):
    variable = serializers.CharField(help_text="Empty when the variables object as a whole is wrong.")
    message = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    role = serializers.CharField()
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class PromptVersionSerializer(serializers.ModelSerializer):
    route = serializers.IntegerField(source="route_id", read_only=True)
    route_name = serializers.CharField(source="route.public_name", read_only=True)
    messages = MessageSerializer(many=True, read_only=True)
    variables = serializers.JSONField(read_only=True, help_text="Typed variables: name, type, required, …")
    params = serializers.JSONField(read_only=True)
    response_schema = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = PromptVersion
        fields = [
            "number",
            "content_hash",
            "messages",
            "variables",
            "route",
            "route_name",
            "params",
            "response_mode",
            "response_schema",
            "created_at",
        ]
        read_only_fields = fields


class PromptVersionSavedSerializer(serializers.Serializer):
    """A saved version: ``created`` false when the same content already existed (that version)."""

    version = PromptVersionSerializer()
    created = serializers.BooleanField()
    warnings = LintFindingSerializer(many=True)


class PromptVersionWriteSerializer(serializers.Serializer):
    # Messages and variables are checked by the lint (every problem at once), not here.
    messages = serializers.JSONField(help_text='[{"role": "system"|"user"|"assistant", "content": "… {{name}} …"}]')
    variables = serializers.JSONField(
        required=False,
        help_text='[{"name", "type": string|integer|number|boolean, "required", "description", "enum", "default", '
        '"max_length"}]',
    )
    route = serializers.IntegerField(help_text="Id of one of your chat model routes.")
    params = serializers.JSONField(
        required=False, default=dict, help_text="temperature, top_p, max_tokens, stop, presence/frequency_penalty, seed"
    )
    response_mode = serializers.ChoiceField(choices=ResponseMode.choices, default=ResponseMode.TEXT)
    response_schema = serializers.JSONField(required=False, allow_null=True, default=None)


class PromptPublishSerializer(serializers.Serializer):
    base_path = serializers.CharField(max_length=200, help_text="e.g. /acme-summarise/v1; unique on the platform.")
    label = serializers.CharField(max_length=40, default="v1")  # type: ignore[assignment]
    api = serializers.SlugField(
        required=False, allow_blank=True, help_text="Slug of an existing API of yours; empty: register a new one."
    )
    api_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    api_slug = serializers.CharField(max_length=50, required=False, allow_blank=True)
    release_notes = serializers.CharField(max_length=50_000, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(
        choices=Visibility.choices,
        default=Visibility.PRIVATE,
        help_text="Visibility of a new API (ignored with `api`).",
    )


class PublishedPromptSerializer(serializers.ModelSerializer):
    api = serializers.SlugField(source="api.slug", read_only=True)

    class Meta:
        model = ApiVersion
        fields = ["api", "label", "base_path", "kind", "status", "created_at"]
        read_only_fields = fields


class PlaygroundRequestSerializer(serializers.Serializer):
    variables = serializers.JSONField(default=dict, help_text="Sample values of the prompt's variables.")
    call_model = serializers.BooleanField(
        default=False, help_text="Also call the model once (non-streamed); rate-limited per user."
    )


class PlaygroundResultSerializer(serializers.Serializer):
    lint = LintFindingSerializer(many=True)
    rendered = MessageSerializer(many=True, allow_null=True)
    problems = VariableProblemSerializer(many=True)
    called = serializers.BooleanField()
    answer = serializers.CharField(allow_null=True)
    output = serializers.JSONField(allow_null=True, help_text="Response mode json: the parsed answer.")
    usage = serializers.DictField(child=serializers.IntegerField(allow_null=True), allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    provider = serializers.CharField()
    model = serializers.CharField()
    error = serializers.CharField(help_text="Empty when the call (if any) succeeded; never contains a credential.")
