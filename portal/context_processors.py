from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, object]:
    """Site name and, for signed-in users, the tenants for the switcher."""
    context: dict[str, object] = {"SITE_NAME": settings.SITE_NAME}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from tenants.selectors import memberships_for_user

        context["my_memberships"] = memberships_for_user(user)
    return context
