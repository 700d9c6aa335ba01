from django.urls import path

from analytics.api import views

_BASE = "tenants/<slug:tenant_slug>/analytics/"

urlpatterns = [
    path(_BASE + "timeseries/", views.TimeseriesView.as_view(), name="analytics-timeseries"),
    path(_BASE + "top/", views.TopView.as_view(), name="analytics-top"),
    path(_BASE + "trends/", views.TrendsView.as_view(), name="analytics-trends"),
    path(_BASE + "ai/", views.AiUsageView.as_view(), name="analytics-ai"),
    path(_BASE + "calls/", views.CallListView.as_view(), name="analytics-calls"),
    path(_BASE + "calls/<uuid:request_id>/", views.CallDetailView.as_view(), name="analytics-call"),
]
