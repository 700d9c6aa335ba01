from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    """Usage analytics: minute / hour / day rollups of the raw call records, and the pages that read them."""

    name = "analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from analytics import dashboard
        from tenants import dashboard as board

        board.register(dashboard.contribute)
