"""Settings for the API management portal: one module, driven by the environment.

See `.env.example` for every variable.  In production (DEBUG off) the required values
must be set or start-up fails with ImproperlyConfigured.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.api.tags import TAGS as API_TAGS
from core.env import env, envbool, envfloat, envint, envlist
from core.outbound import parse_networks
from core.secretbox import parse_keys as parse_secretbox_keys

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DEBUG", False)
TESTING = envbool("PORTAL_TESTING", False)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not TESTING:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off.")
    # Development only: a fixed, obviously unsafe key so sessions survive restarts.
    SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnop"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG or TESTING else "")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = (env("SITE_URL", "http://localhost:8000") or "").rstrip("/")
SITE_NAME = env("SITE_NAME", "API Portal")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "core",
    "portal",
    "tenants",
    "apis",
    "subscriptions",
    "gateways",
    "notifications",
    "analytics",
    "llm",
    "sso",
    "console",
    "alerts",
]

MIDDLEWARE = [
    # First: hostile bytes and oversize URLs/headers never reach sessions, auth or views.
    "portal.middleware.RequestHardeningMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "portal.middleware.ServiceErrorMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.site",
            ],
            # One way to write numbers, limits and counts in every template, without a {% load %}.
            "builtins": ["core.templatetags.portal_format"],
        },
    },
]

# --- Database: PostgreSQL only -------------------------------------------------------
DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is required (postgres://…). The ./run and ./test commands set it "
        "to an embedded PostgreSQL when it is not given."
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("Only PostgreSQL is supported (DATABASE_URL must be postgres://…).")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# No JIT: compiling a dashboard aggregate took 30–160 ms, more than running it (docs/decisions.md, B3);
# the rollup already turns it off for its own statements.
_options = DATABASES["default"].setdefault("OPTIONS", {})
_options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
DATABASES["default"].setdefault("TEST", {})["NAME"] = env("TEST_DATABASE_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and result backend ----------------------------------
REDIS_URL = env("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is required (redis://… or unix://…). The ./run and ./test commands set "
        "it to an embedded Redis when it is not given."
    )
CACHES = {
    "default": {
        # Fails open: an unavailable Redis is a miss, never a 500 or a hung request (core/cache.py).
        "BACKEND": "core.cache.ResilientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "portal"),
        "OPTIONS": {
            "socket_timeout": envfloat("CACHE_SOCKET_TIMEOUT", 1.0),
            "socket_connect_timeout": envfloat("CACHE_SOCKET_TIMEOUT", 1.0),
        },
    }
}


def _celery_url(url: str) -> str:
    # kombu spells a Unix socket "redis+socket://", redis-py "unix://".
    if url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


CELERY_BROKER_URL = _celery_url(env("CELERY_BROKER_URL", REDIS_URL) or REDIS_URL)
CELERY_RESULT_BACKEND = None  # tasks report through the database, not results
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 300)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 240)
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A hung broker (accepting connections, answering nothing) must not hang a web request that
# queues a task after commit: every broker socket operation gives up after this many seconds
# (the outbox sweep sends what could not be queued). Workers poll with BRPOP every second, so
# a few seconds is ample for them too.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_timeout": envfloat("BROKER_SOCKET_TIMEOUT", 3.0),
    "socket_connect_timeout": envfloat("BROKER_SOCKET_TIMEOUT", 3.0),
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-invitations": {
        "task": "tenants.tasks.expire_invitations_task",
        "schedule": 3600.0,
    },
    # Deprecation notices and retirement ends; the catalog does not call back into subscriptions.
    "sync-subscription-lifecycle": {
        "task": "subscriptions.tasks.sync_lifecycle_task",
        "schedule": 300.0,
    },
    # The outbox sweep: rows whose after-commit kick was lost, whose worker died, or whose retry is due.
    "outbox-sweep": {
        "task": "core.tasks.outbox_sweep_task",
        "schedule": float(envint("OUTBOX_SWEEP_SECONDS", 30)),
    },
    "retry-due-webhooks": {
        "task": "notifications.tasks.retry_due_webhooks_task",
        "schedule": float(envint("OUTBOX_SWEEP_SECONDS", 30)),
    },
    # Run by a worker: its age in /healthz covers both beat and the workers.
    "heartbeat": {
        "task": "core.tasks.heartbeat_task",
        "schedule": float(envint("HEARTBEAT_SECONDS", 15)),
    },
    # Raw call table: day partitions created ahead, rows from the default partition re-homed.
    "gateway-ensure-partitions": {
        "task": "gateways.tasks.ensure_partitions_task",
        "schedule": 3600.0,
    },
    "gateway-drop-expired-partitions": {
        "task": "gateways.tasks.drop_expired_partitions_task",
        "schedule": 3600.0,
    },
    # Usage analytics: minute / hour / day rollups of the raw call records (docs/analytics.md).
    "analytics-rollup": {
        "task": "analytics.tasks.rollup_task",
        "schedule": float(envint("ROLLUP_INTERVAL_SECONDS", 30)),
    },
    "analytics-expire-rollups": {
        "task": "analytics.tasks.expire_rollups_task",
        "schedule": 3600.0,
    },
    # Try-it console keys past their expiry are marked revoked (console/, docs/console.md).
    "console-sweep-keys": {
        "task": "console.tasks.sweep_console_keys_task",
        "schedule": 300.0,
    },
    # OpenAPI uploads stuck in "processing" (broker down at upload time, worker killed).
    "sweep-openapi-uploads": {
        "task": "apis.tasks.sweep_specs_task",
        "schedule": 300.0,
    },
    # Alert rules against the minute rollups, with hysteresis (docs/alerts.md).
    "alerts-evaluate": {
        "task": "alerts.tasks.evaluate_alerts_task",
        "schedule": 60.0,
    },
}
# Gateway call-log intake (gateways/intake.py, docs/gateway-protocol.md "Logs").
RAW_RETENTION_DAYS = envint("RAW_RETENTION_DAYS", 30)
GATEWAY_PARTITIONS_AHEAD = envint("GATEWAY_PARTITIONS_AHEAD", 3)
GATEWAY_LOGS_MAX_BYTES = envint("GATEWAY_LOGS_MAX_BYTES", 10 * 1024 * 1024)
GATEWAY_LOGS_MAX_INFLATED_BYTES = envint("GATEWAY_LOGS_MAX_INFLATED_BYTES", 64 * 1024 * 1024)
GATEWAY_LOGS_MAX_RECORDS = envint("GATEWAY_LOGS_MAX_RECORDS", 10000)
# Analytics: most call records one CSV export streams (the explorer shows more page by page).
ANALYTICS_EXPORT_MAX_ROWS = envint("ANALYTICS_EXPORT_MAX_ROWS", 100000)
# work_mem of one dashboard aggregate (its transaction only): a platform-wide top-N or trend
# hashes thousands of groups with their histograms in memory.
ANALYTICS_WORK_MEM = env("ANALYTICS_WORK_MEM", "64MB") or "64MB"
# Usage analytics rollups (analytics/rollup.py, docs/analytics.md). Day rollups are kept for ever.
ROLLUP_MINUTE_RETENTION_DAYS = envint("ROLLUP_MINUTE_RETENTION_DAYS", 14)
ROLLUP_HOUR_RETENTION_DAYS = envint("ROLLUP_HOUR_RETENTION_DAYS", 400)
# Records received this long before the oldest open transaction still count as "maybe unseen"
# (covers a received_at stamped a little before its transaction began).
ROLLUP_LATE_MARGIN_SECONDS = envint("ROLLUP_LATE_MARGIN_SECONDS", 10)
# A transaction open longer than this (a forgotten psql session) no longer holds the late-data
# scan back; intake transactions take milliseconds.
ROLLUP_MAX_LAG_SECONDS = envint("ROLLUP_MAX_LAG_SECONDS", 600)
# work_mem of the rollup transaction: the hash aggregate of one run's groups stays in memory.
ROLLUP_WORK_MEM = env("ROLLUP_WORK_MEM", "128MB") or "128MB"
# Transactional outbox (core/outbox.py): at-least-once, receivers dedupe on the delivery id.
OUTBOX_MAX_ATTEMPTS = envint("OUTBOX_MAX_ATTEMPTS", 8)
OUTBOX_RETRY_BASE_SECONDS = envint("OUTBOX_RETRY_BASE_SECONDS", 30)
# How long a claimed row is left alone before another worker may send it again (worker died).
OUTBOX_LEASE_SECONDS = envint("OUTBOX_LEASE_SECONDS", 300)
OUTBOX_KEEP_DAYS = envint("OUTBOX_KEEP_DAYS", 14)
# /healthz answers 503 when the last heartbeat is older than this; 0 turns the check off.
HEALTHZ_HEARTBEAT_MAX_AGE = envint("HEALTHZ_HEARTBEAT_MAX_AGE", 0 if TESTING else 120)

# --- Auth ----------------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
# Destructive operations on an organisation (delete it, make / demote / remove an owner) need a
# sign-in or password confirmation this recent, or a read-write access token (tenants/reauth.py).
REAUTHENTICATION_WINDOW_SECONDS = envint("REAUTHENTICATION_WINDOW_SECONDS", 15 * 60)
ACCOUNT_REAUTHENTICATION_TIMEOUT = REAUTHENTICATION_WINDOW_SECONDS
# How many reverse proxies in front of the portal append to X-Forwarded-For. One number for the
# REST throttles (DRF NUM_PROXIES) and the sign-in rate limits (tenants.adapter → core.net).
# 0: X-Forwarded-For is ignored (a forged header changes nothing).
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
LOGIN_REDIRECT_URL = "home"

ACCOUNT_ADAPTER = "tenants.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# allauth's defaults already rate-limit login failures, sign-up and resets; these are
# kept explicit so operators can see and tune them.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
}
if TESTING:
    ACCOUNT_RATE_LIMITS = False  # type: ignore[assignment]  # allauth takes False for "off"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = SITE_NAME

# Single sign-on per organisation (sso/, docs/sso.md). The identity providers live in sso's
# own table (secrets sealed); its adapter hands them to allauth as SocialApps built per request.
SOCIALACCOUNT_ADAPTER = "sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {
    # allauth's provider, with the ID token's signature always checked (sso/oidc/provider.py).
    "openid_connect": {"provider_class": "sso.oidc.provider.PortalOIDCProvider", "OAUTH_PKCE_ENABLED": True},
}
SOCIALACCOUNT_AUTO_SIGNUP = True
# Connect an IdP sign-in to an existing account by e-mail only where the adapter allows it per
# organisation (its verified domains), never globally.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = envint("SOCIALACCOUNT_REQUESTS_TIMEOUT", 10)
# The sign-in, password-reset and sign-up forms refuse password use for addresses whose domain
# requires single sign-on (sso/forms.py).
ACCOUNT_FORMS = {
    "login": "sso.forms.LoginForm",
    "reset_password": "sso.forms.ResetPasswordForm",
    "signup": "sso.forms.SignupForm",
}
# Name servers for domain verification (TXT lookups), "host" or "host:port"; empty = the system's.
SSO_DNS_NAMESERVERS = envlist("SSO_DNS_NAMESERVERS")

# --- E-mail --------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH")  # for django.core.mail.backends.filebased.EmailBackend
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
# A hung SMTP server must not outlive the outbox lease (a second copy would go out).
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "portal@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST API ------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    # Size (413), nesting depth and NUL/surrogate limits on JSON bodies: see core/api/parsers.py.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # Tests share one Redis for the whole session; keep their limit out of the way.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {"catalog_anon": env("CATALOG_ANON_RATE", "10000/min" if TESTING else "120/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "API Portal management API",
    "DESCRIPTION": (
        "REST management API of the API portal. Authenticate with a session (plus CSRF "
        "token) or a personal access token: `Authorization: Bearer <token>`. Errors always "
        'have the shape `{"error": {"code", "message", "fields"}}`.'
    ),
    "VERSION": "1.0.0",
    # One tag per domain, in the README's order and words (core/api/tags.py).
    "TAGS": API_TAGS,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api.errors.error_schema_hook",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "tenants.roles.Role",
        "VersionStatusEnum": "apis.models.VersionStatus",
        "PlanStatusEnum": "apis.models.PlanStatus",
        "VisibilityEnum": "apis.models.Visibility",
        "SubscriptionStatusEnum": "subscriptions.models.SubscriptionStatus",
        "KeyStatusEnum": "subscriptions.models.KeyStatus",
        "DeliveryStatusEnum": "notifications.models.DeliveryStatus",
        "VersionKindEnum": "apis.models.VersionKind",
        "ProviderKindEnum": "llm.models.ProviderKind",
        "CapabilityEnum": "llm.models.Capability",
        "ScopeEnum": "tenants.models.TokenScope",
        "AlertScopeEnum": "alerts.models.Scope",
        "AlertMetricEnum": "alerts.models.Metric",
        "IdentityProviderKindEnum": "sso.models.ProviderKind",
    },
}

# --- Static files --------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or TESTING
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (production) -----------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG and not TESTING)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG or TESTING else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", SECURE_HSTS_SECONDS > 0)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"
SILENCED_SYSTEM_CHECKS = envlist("SILENCED_SYSTEM_CHECKS")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Product limits ------------------------------------------------------------------
INVITATION_TTL_DAYS = envint("INVITATION_TTL_DAYS", 7)
MAX_TOKENS_PER_USER = envint("MAX_TOKENS_PER_USER", 20)
# API catalog: where consumers call published APIs (shown in snippets and the served
# reference docs), the header gateways read API keys from, and the largest OpenAPI upload.
GATEWAY_URL = (env("GATEWAY_URL", "http://localhost:8080") or "").rstrip("/")
GATEWAY_API_KEY_HEADER = env("GATEWAY_API_KEY_HEADER", "X-API-Key")
OPENAPI_MAX_BYTES = envint("OPENAPI_MAX_BYTES", 2 * 1024 * 1024)
# OpenAPI documents with more endpoints are refused (400); each endpoint is a row analytics use.
OPENAPI_MAX_ENDPOINTS = envint("OPENAPI_MAX_ENDPOINTS", 5_000)
# Documents up to both of these are validated during the upload request; larger ones are
# stored as "processing" and validated by a Celery task (apis.tasks.process_spec_task) with
# these time limits in seconds (soft: the task records "failed with …"; hard: the worker is killed).
OPENAPI_INLINE_MAX_BYTES = envint("OPENAPI_INLINE_MAX_BYTES", 256 * 1024)
OPENAPI_INLINE_MAX_ENDPOINTS = envint("OPENAPI_INLINE_MAX_ENDPOINTS", 200)
OPENAPI_TASK_SOFT_TIME_LIMIT = envint("OPENAPI_TASK_SOFT_TIME_LIMIT", 60)
OPENAPI_TASK_TIME_LIMIT = envint("OPENAPI_TASK_TIME_LIMIT", 90)
# openapi-spec-validator picks jsonschema-rs when it is importable ("auto"); the dev tools
# (schemathesis) install it, production does not: pin the backend so messages and behaviour
# are the same everywhere. Read once, when openapi_spec_validator is first imported.
os.environ.setdefault("OPENAPI_SPEC_VALIDATOR_SCHEMA_VALIDATOR_BACKEND", "jsonschema")
# Largest JSON body of a REST request (413 beyond); room for an OpenAPI document sent inline.
MAX_JSON_BODY_BYTES = envint("MAX_JSON_BODY_BYTES", 2 * OPENAPI_MAX_BYTES + 64 * 1024)
# Subscriptions, keys and webhooks.
MAX_KEYS_PER_APPLICATION = envint("MAX_KEYS_PER_APPLICATION", 10)
MAX_KEY_ROTATION_GRACE_HOURS = envint("MAX_KEY_ROTATION_GRACE_HOURS", 7 * 24)
# A gateway node not heard from for longer than this is flagged "silent" on /platform/nodes/.
GATEWAY_NODE_SILENT_SECONDS = envint("GATEWAY_NODE_SILENT_SECONDS", 120)
WEBHOOK_TIMEOUT_SECONDS = envint("WEBHOOK_TIMEOUT_SECONDS", 5)
# A claimed delivery is invisible to other workers for this long; it must outlast one attempt
# (resolve + the whole bounded send), or two workers could send the same delivery at once.
WEBHOOK_LEASE_SECONDS = envint("WEBHOOK_LEASE_SECONDS", 3 * WEBHOOK_TIMEOUT_SECONDS + 30)
if WEBHOOK_LEASE_SECONDS < WEBHOOK_TIMEOUT_SECONDS + 5:
    raise ImproperlyConfigured("WEBHOOK_LEASE_SECONDS must be at least WEBHOOK_TIMEOUT_SECONDS + 5.")
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_RETRY_BASE_SECONDS = envint("WEBHOOK_RETRY_BASE_SECONDS", 30)

# --- Encryption of stored secrets (core/secretbox.py: model-provider credentials) ----------
# Comma-separated base64url 32-byte keys; the first encrypts, all decrypt (rotation: put a new
# key first, run `manage.py rotate_credential_key`, then drop the old one). Unset in
# development and tests: a key derived from SECRET_KEY; unset in production: storing a
# credential is refused with a clear message, everything else works.
try:
    CREDENTIAL_ENCRYPTION_KEYS = parse_secretbox_keys(env("CREDENTIAL_ENCRYPTION_KEYS") or "")
except ValueError as exc:
    raise ImproperlyConfigured(f"CREDENTIAL_ENCRYPTION_KEYS: {exc}") from None

# --- Outbound requests (core/outbound.py: webhooks, upstream targets) ----------------------
# Loopback, private, link-local, CGNAT, multicast and reserved addresses are refused, so a
# tenant cannot point the platform at its own network. Operators allow networks on purpose
# (on-premises upstreams) with comma-separated CIDRs, e.g. "10.20.0.0/16,fd00:1::/48".
OUTBOUND_ALLOWED_NETWORKS = envlist("OUTBOUND_ALLOWED_NETWORKS")
try:
    _outbound_networks = parse_networks(OUTBOUND_ALLOWED_NETWORKS)
except ValueError as exc:
    raise ImproperlyConfigured(f"OUTBOUND_ALLOWED_NETWORKS: {exc}") from None
# Development and tests only: also allow loopback and private networks (local receivers,
# the demo data's placeholder upstreams on 127.0.0.1). WEBHOOK_ALLOW_PRIVATE_TARGETS is the
# old name of the same switch.
OUTBOUND_ALLOW_PRIVATE_TARGETS = envbool(
    "OUTBOUND_ALLOW_PRIVATE_TARGETS", envbool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG or TESTING)
)
if OUTBOUND_ALLOW_PRIVATE_TARGETS and not (DEBUG or TESTING):
    raise ImproperlyConfigured(
        "OUTBOUND_ALLOW_PRIVATE_TARGETS is for development only; in production list the networks "
        "you mean to allow in OUTBOUND_ALLOWED_NETWORKS."
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # "Not Found: /invitations/<token>/" and runserver's request lines would print the token.
    "filters": {"redact_secrets": {"()": "core.redact.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["redact_secrets"]},
        "django.server": {"filters": ["redact_secrets"], "handlers": ["console"], "propagate": False},
    },
}

if TESTING:
    # Test users are created by the hundred; a slow hasher only slows the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
