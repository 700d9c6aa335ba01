"""Pages of alerts (filled in by its change)."""

from django.urls import path  # noqa: F401

app_name = "alerts"

urlpatterns: list = []
