from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "subscriptions"
    verbose_name = "Applications, subscriptions and API keys"

    def ready(self) -> None:
        from apis import snippets
        from subscriptions import dashboard, selectors
        from tenants import dashboard as board

        board.register(dashboard.contribute)
        snippets.register_caller_lookup(selectors.snippet_caller)
