from django.apps import AppConfig


class ApisConfig(AppConfig):
    name = "apis"
    verbose_name = "API catalog"

    def ready(self) -> None:
        from apis import dashboard
        from tenants import dashboard as board

        board.register(dashboard.contribute)
