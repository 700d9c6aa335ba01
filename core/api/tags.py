"""The REST API's OpenAPI tags: one per domain, named as the README's tour names them.

Every operation carries exactly one of these (portal/tests/test_openapi_tags.py); Swagger UI and
Redoc list them in this order with these descriptions (SPECTACULAR_SETTINGS["TAGS"]).
"""

ACCOUNT = "Account"
ORGANISATIONS = "Organisations"
MEMBERS = "Members"
TOKENS = "Personal access tokens"
SSO = "Single sign-on"
CATALOG = "Catalog"
APIS = "APIs"
PLANS = "Plans"
APPLICATIONS = "Applications"
SUBSCRIPTIONS = "Subscriptions"
SUBSCRIBERS = "Subscribers"
KEYS = "API keys"
NOTIFICATIONS = "Notifications"
WEBHOOKS = "Webhooks"
ANALYTICS = "Analytics"
ALERTS = "Alerts"
AI_GATEWAY = "AI gateway"
GATEWAY_NODES = "Gateway nodes"
CALL_LOGS = "Gateway call logs"
GATEWAY_PROTOCOL = "Gateway protocol"
PLATFORM = "Platform staff"

TAGS: list[dict[str, str]] = [
    {"name": ACCOUNT, "description": "The signed-in user: profile, and the invitations waiting for their address."},
    {
        "name": ORGANISATIONS,
        "description": "Organisations (tenants) you belong to: create, rename, delete, leave.",
    },
    {"name": MEMBERS, "description": "An organisation's members and roles, and the invitations it sends."},
    {"name": TOKENS, "description": "Personal access tokens for this API, bound to one organisation; shown once."},
    {
        "name": SSO,
        "description": "Owners: an organisation's identity provider (secret write-only), verified e-mail domains "
        "and group → role mappings.",
    },
    {"name": CATALOG, "description": "Browse the APIs the caller may see, their plans and OpenAPI documents."},
    {"name": APIS, "description": "A provider's APIs, their versions, OpenAPI documents and lifecycle."},
    {"name": PLANS, "description": "A provider's plans for an API: rate limits, quotas, approval, price label."},
    {
        "name": AI_GATEWAY,
        "description": "A provider's model providers and credential pools (secrets write-only), models and "
        "prices, model routes, and the routes an AI version serves.",
    },
    {"name": APPLICATIONS, "description": "A consumer's applications: what subscriptions and API keys belong to."},
    {"name": SUBSCRIPTIONS, "description": "A consumer's subscriptions: request, change plan, cancel, history."},
    {
        "name": SUBSCRIBERS,
        "description": "Subscriptions to a provider's APIs: the approval queue (approve, reject, bulk decide), "
        "suspend, resume, cancel.",
    },
    {
        "name": KEYS,
        "description": "An application's API keys: create (shown once), rotate with a grace period, revoke.",
    },
    {"name": NOTIFICATIONS, "description": "In-app notifications of an organisation and their unread count."},
    {
        "name": WEBHOOKS,
        "description": "Signed webhooks for subscription and key events, and their deliveries.",
    },
    {"name": ANALYTICS, "description": "Usage of an organisation's APIs and applications from the gateway call logs."},
    {
        "name": ALERTS,
        "description": "Alert rules on an organisation's APIs and applications (error rate, p95 latency, refused "
        "calls, quota use) and the history of what fired and resolved.",
    },
    {"name": GATEWAY_NODES, "description": "Platform staff: register gateway nodes, rotate or revoke their tokens."},
    {"name": CALL_LOGS, "description": "Platform staff: call-log batches from gateway nodes and quarantined records."},
    {
        "name": GATEWAY_PROTOCOL,
        "description": "What gateway nodes call: configuration, heartbeat, call logs, key check.",
    },
    {
        "name": PLATFORM,
        "description": "Platform staff: every provider's approval queue; every organisation, suspend and unsuspend.",
    },
]
