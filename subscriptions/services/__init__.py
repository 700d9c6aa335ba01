"""Every write about applications, subscriptions and API keys, plus the key verification service."""

from subscriptions.services.applications import (  # noqa: F401
    application_create,
    application_update,
    check_application_name_free,
)
from subscriptions.services.common import (  # noqa: F401
    KEY_LAST_USED_RESOLUTION,
    MAX_BULK_DECISIONS,
    Actor,
    S,
    StaffActor,
    plan_limits,
)
from subscriptions.services.decisions import (  # noqa: F401
    subscription_approve,
    subscription_reject,
    subscription_resume,
    subscription_suspend,
    subscriptions_bulk_decide,
)
from subscriptions.services.key_restrictions import (  # noqa: F401
    KEEP,
    check_restrictions,
    key_set_restrictions,
    parse_cidrs,
)
from subscriptions.services.keys import (  # noqa: F401
    check_key_name_free,
    key_create,
    key_revoke,
    key_rotate,
    keys_mark_used,
)
from subscriptions.services.lifecycle import subscriptions_sync_lifecycle  # noqa: F401
from subscriptions.services.requests import subscription_cancel, subscription_change_plan, subscription_request  # noqa: F401
from subscriptions.services.verification import (  # noqa: F401
    DENY_REASONS,
    Verdict,
    key_verify,
    route_prefixes,
    version_for_path,
)
