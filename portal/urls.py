from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from analytics import views as analytics_views
from core.api.errors import api_not_found
from gateways.api import urls as gateway_api_urls
from portal import platform, views
from portal.middleware import DOCS_CONTENT_SECURITY_POLICY, with_csp
from subscriptions import views as subscription_views
from tenants import views as tenant_views

#: Staff pages of one organisation (the kwarg is not a tenant ``slug``: see portal.platform).
_ORGANISATION = "platform/organisations/<slug:organisation>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("platform/", platform.overview, name="platform"),
    path("platform/search/", platform.search, name="platform-search"),
    path("platform/organisations/", platform.tenant_list, name="platform-tenants"),
    path(_ORGANISATION, platform.tenant_detail, name="platform-tenant"),
    path(_ORGANISATION + "suspend/", platform.tenant_suspend, name="platform-tenant-suspend"),
    path(_ORGANISATION + "unsuspend/", platform.tenant_unsuspend, name="platform-tenant-unsuspend"),
    path("platform/users/", platform.user_list, name="platform-users"),
    path("platform/users/<int:pk>/", platform.user_detail, name="platform-user"),
    path("platform/apis/", platform.api_list, name="platform-apis"),
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
    path("t/", include("llm.urls")),
    path("t/", include("llm.prompt_urls")),
    path("", include("sso.urls")),
    path("", include("console.urls")),
    path("", include("alerts.urls")),
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
