from django.urls import include, path
from rest_framework.routers import SimpleRouter

from gateways import logs_api
from gateways.api import quarantine, views

platform_router = SimpleRouter()
platform_router.register("nodes", views.PlatformNodeViewSet, basename="platform-node")
platform_router.register("quarantine", quarantine.QuarantineViewSet, basename="platform-quarantine")
platform_router.register("log-batches", quarantine.IngestBatchViewSet, basename="platform-log-batch")

#: Under /api/v1/ (namespace "api").
urlpatterns = [
    path("platform/", include(platform_router.urls)),
    path("keys/verify/", views.KeyVerifyView.as_view(), name="key-verify"),
]

#: Under /gateway/v1/: the node protocol.
protocol_urlpatterns = [
    path("config", views.ConfigView.as_view(), name="gateway-config"),
    path("heartbeat", views.HeartbeatView.as_view(), name="gateway-heartbeat"),
    path("logs", logs_api.LogsView.as_view(), name="gateway-logs"),
]
