"""Pages of alerts: an organisation's rules and history under /t/<slug>/alerts/, staff's at /platform/alerts/."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("t/<slug:slug>/alerts/", views.rule_list, name="list"),
    path("t/<slug:slug>/alerts/new/", views.rule_create, name="rule-create"),
    path("t/<slug:slug>/alerts/rules/<int:pk>/", views.rule_detail, name="rule"),
    path("t/<slug:slug>/alerts/rules/<int:pk>/toggle/", views.rule_toggle, name="rule-toggle"),
    path("t/<slug:slug>/alerts/rules/<int:pk>/delete/", views.rule_delete, name="rule-delete"),
    path("platform/alerts/", views.platform, name="platform"),
    path("platform/alerts/<int:pk>/", views.platform_rule, name="platform-rule"),
    path("platform/alerts/<int:pk>/delete/", views.platform_rule_delete, name="platform-rule-delete"),
]
