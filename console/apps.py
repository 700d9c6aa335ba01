from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "console"
    verbose_name = "Try-it console"

    def ready(self) -> None:
        # apis cannot import console (layering): console adds its panels to the API pages.
        from django.contrib.auth.signals import user_logged_out

        from console import panels, signals

        panels.register()
        user_logged_out.connect(signals.revoke_on_sign_out, dispatch_uid="console-revoke-on-sign-out")
