"""Signing out ends every console session of the user: their console keys are revoked."""

from __future__ import annotations

from typing import Any

from subscriptions.services import console_keys


def revoke_on_sign_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and getattr(user, "pk", None):
        console_keys.console_keys_revoke_for_user(user.pk)
