from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("<slug:slug>/", views.dashboard, name="dashboard"),
    path("<slug:slug>/members/", views.members, name="members"),
    path("<slug:slug>/members/<int:pk>/role/", views.member_role, name="member-role"),
    path("<slug:slug>/members/<int:pk>/remove/", views.member_remove, name="member-remove"),
    path("<slug:slug>/invitations/", views.invitation_create, name="invitation-create"),
    path("<slug:slug>/invitations/<int:pk>/resend/", views.invitation_resend, name="invitation-resend"),
    path("<slug:slug>/invitations/<int:pk>/revoke/", views.invitation_revoke, name="invitation-revoke"),
    path("<slug:slug>/settings/", views.settings_view, name="settings"),
    path("<slug:slug>/delete/", views.tenant_delete, name="delete"),
    path("<slug:slug>/tokens/", views.tokens, name="tokens"),
    path("<slug:slug>/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]
