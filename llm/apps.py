from django.apps import AppConfig


class LlmConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "llm"
    verbose_name = "AI gateway"

    def ready(self) -> None:
        # apis cannot import llm (layering): llm tells apis how its versions are published and shown.
        from llm import panels
        from llm.services import surfaces

        surfaces.register()
        panels.register()
