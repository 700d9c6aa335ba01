"""/api/v1/: the REST management API. Each app contributes its own urls module."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("tenants.api.urls")),
    path("", include("apis.api.urls")),
    path("", include("subscriptions.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include("gateways.api.urls")),
    path("", include("analytics.api.urls")),
    path("", include("llm.api.urls")),
    path("", include("llm.api.prompt_urls")),
    path("", include("sso.api.urls")),
    path("", include("console.api.urls")),
    path("", include("alerts.api.urls")),
]
