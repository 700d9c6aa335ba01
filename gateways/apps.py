from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    """Gateway nodes and the protocol they speak: config snapshots, heartbeats, call-log intake."""

    name = "gateways"
    default_auto_field = "django.db.models.BigAutoField"
