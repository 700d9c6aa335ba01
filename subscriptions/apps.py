from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Applications, subscriptions and API keys"

    def ready(self) -> None:
        from subscriptions import dashboard
        from tenants import dashboard as board

        board.register(dashboard.contribute)
