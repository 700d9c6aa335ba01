from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The shared foundation; an installed app only for the outbox table and its tasks."""

    name = "core"
    verbose_name = "Core (outbox)"

    def ready(self) -> None:
        from core import outbox

        outbox.register_sender(outbox.EMAIL, outbox.send_email)
