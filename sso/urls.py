"""Pages of sso (filled in by its change)."""

from django.urls import path  # noqa: F401

app_name = "sso"

urlpatterns: list = []
