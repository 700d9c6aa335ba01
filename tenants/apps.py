from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants and accounts"

    def ready(self) -> None:
        from core import outbox
        from tenants import services

        outbox.register_sender(services.INVITATION_EMAIL, services.invitation_email_send)
