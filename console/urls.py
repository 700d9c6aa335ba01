"""Pages of console (filled in by its change)."""

from django.urls import path  # noqa: F401

app_name = "console"

urlpatterns: list = []
