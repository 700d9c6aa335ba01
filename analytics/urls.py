"""Analytics pages under /t/<slug>/analytics/ (the staff overview is at /platform/analytics/)."""

from django.urls import path

from analytics import views

app_name = "analytics"

urlpatterns = [
    path("<slug:slug>/analytics/", views.overview, name="overview"),
    path("<slug:slug>/analytics/apis/<slug:api_slug>/", views.api_dashboard, name="api"),
    path("<slug:slug>/analytics/apps/<int:pk>/", views.app_dashboard, name="app"),
    path("<slug:slug>/analytics/calls/", views.calls, name="calls"),
    path("<slug:slug>/analytics/calls.csv", views.calls_csv, name="calls-csv"),
    path("<slug:slug>/analytics/calls/<uuid:request_id>/", views.call_detail, name="call"),
    path("<slug:slug>/analytics/timeseries.csv", views.timeseries_csv, name="timeseries-csv"),
    path("<slug:slug>/analytics/ai.csv", views.ai_csv, name="ai-csv"),
]
