from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from analytics import views as analytics_views
from core.api.errors import api_not_found
from gateways.api import urls as gateway_api_urls
from portal import views
from portal.middleware import DOCS_CONTENT_SECURITY_POLICY, with_csp
from subscriptions import views as subscription_views
from tenants import views as tenant_views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("platform/", views.platform_overview, name="platform"),
    path("onboarding/", tenant_views.onboarding, name="onboarding"),
    path("invitations/<str:token>/", tenant_views.invitation_detail, name="invitation"),
    path("platform/analytics/", analytics_views.platform, name="platform-analytics"),
    path("platform/nodes/", include("gateways.urls")),
    path("platform/quarantine/", include("gateways.quarantine_urls")),
    path("platform/approvals/", subscription_views.platform_approvals, name="platform-approvals"),
    path("platform/approvals/<int:pk>/", subscription_views.platform_request, name="platform-request"),
    path("t/", include("tenants.urls")),
    path("t/", include("subscriptions.urls")),
    path("t/", include("notifications.urls")),
    path("t/", include("analytics.urls")),
    path("", include("apis.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL (?script): no inline <script>.
    path(
        "api/docs/",
        with_csp(DOCS_CONTENT_SECURITY_POLICY)(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
    path(
        "api/redoc/",
        with_csp(DOCS_CONTENT_SECURITY_POLICY)(
            SpectacularRedocView.as_view(url_name="schema", template_name="portal/redoc.html")
        ),
        name="redoc",
    ),
    path("api/<path:rest>", api_not_found),
    # The gateway node protocol: JSON in the error shape, like /api/.
    path("gateway/v1/", include(gateway_api_urls.protocol_urlpatterns)),
    path("gateway/<path:rest>", api_not_found),
]

handler400 = "portal.views.bad_request"
handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
