"""Settings for the Orders API, read from the environment (twelve-factor).

Every variable is listed, with its default, in the README's Configuration section.
"""

import logging
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from orders_project.db.limits import session_defaults
from orders_project.secret_key import DEVELOPMENT_SECRET_KEY, check_secret_key
from orders_project.timestamps import WIRE_FORMAT

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Signs cursors and sessions: whoever knows it can forge both. Only DEBUG may run on the
# public development key; otherwise a real one is required (`make run` and scripts/with-db
# generate one into .secrets/ on first use and keep it).
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not DEBUG:
    check_secret_key(SECRET_KEY)
elif not SECRET_KEY:
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
# The Host names the app answers to; any other Host is 400 bad_request. Never `*` by
# default: Django checks redirects (`/session/tenant`'s `next=`) and builds absolute URLs
# against the request's Host, which a client can forge. Unset, the address it is bound
# to (HOST) and the loopback names.
_bound_host = env.str("HOST", default="127.0.0.1")
if ":" in _bound_host:  # an IPv6 address, as a Host header writes one
    _bound_host = f"[{_bound_host}]"
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=list(dict.fromkeys([_bound_host, "localhost", "127.0.0.1", "[::1]"])),
)
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "orders_project.problems.csrf_failure"
LOGIN_URL = "rest_framework:login"
LOGIN_REDIRECT_URL = "/orders"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    # Shared plumbing, no models; its AppConfig checks each new database session.
    "orders_project",
    "tenancy",
    "orders",
    "outbox",
    "idempotency",
]

MIDDLEWARE = [
    # Outermost, so every response (even a middleware's refusal) has X-Request-ID.
    "orders_project.observability.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # SECURE_CSP below, on HTML pages only.
    "orders_project.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Pins the request to its tenant, which the views' reads, writes and idempotency
    # keys are scoped to.
    "tenancy.middleware.TenantMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its 429 (see Logins below).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orders_project.urls"
WSGI_APPLICATION = "orders_project.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Templates of the shared pieces, ahead of the apps': the large admin's
        # (orders_project/large_admin.py), and drf-spectacular's Swagger UI page with CSP
        # nonces. Apps' own templates are in their templates/ folders.
        "DIRS": [BASE_DIR / "orders_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.csp",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# PostgreSQL only: row locks, ON CONFLICT and jsonb are part of the guarantees.
if "DATABASE_URL" not in env:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. `make run` and `make test` start an embedded "
        "PostgreSQL and set it for you; otherwise point it at PostgreSQL 15+, "
        "e.g. postgres://postgres@127.0.0.1:5432/orders"
    )
_db = env.db_url("DATABASE_URL")
if _db["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")

# Server-side guards, applied to every connection: a request never waits longer than
# DB_LOCK_TIMEOUT for a row another request holds (an in-flight idempotency key, an
# order being changed), no statement runs away, and a client that vanished mid
# transaction cannot keep its locks.
DB_LOCK_TIMEOUT = env.str("DB_LOCK_TIMEOUT", default="5s")
DB_STATEMENT_TIMEOUT = env.str("DB_STATEMENT_TIMEOUT", default="15s")
DB_IDLE_IN_TRANSACTION_TIMEOUT = env.str("DB_IDLE_IN_TRANSACTION_TIMEOUT", default="60s")
# Behind a transaction pooler (PgBouncer's pool_mode=transaction) one client session's
# transactions run on whichever server connection is free, so nothing may rely on
# session state: no startup `options` (PgBouncer refuses them), no prepared statements
# unless the pooler keeps them (PgBouncer 1.21+ with max_prepared_statements), no
# server-side cursors. The guards above become the session defaults of the app's role
# in its database (`manage.py apply_db_limits`, a release step beside `migrate`), which
# every server connection the pooler opens starts with, and each new connection checks
# that the session it got has them (orders_project/db/limits.py).
DB_TRANSACTION_POOLING = env.bool("DB_TRANSACTION_POOLING", default=False)
# Prepared statements: psycopg binds parameters on the server and prepares a statement
# once a connection has run it five times, so PostgreSQL stops parsing the same few
# statements on every request. Each execution is still planned with its own values and
# the tables as they are now (plan_cache_mode=force_custom_plan): a generic plan, made
# once per connection, would keep the shape the tables had then: a list prepared while
# a tenant had five orders went on scanning and sorting the whole table after it had
# 40,000 (orders_project/tests/test_prepared_statements.py). Off means Django's defaults
# (client-side binding, nothing prepared): for a pooler that hands a session's
# statements to other server connections (PgBouncer in transaction mode before 1.21, or
# without max_prepared_statements), hence off by default under DB_TRANSACTION_POOLING.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=not DB_TRANSACTION_POOLING)
_db.setdefault("OPTIONS", {})
if DB_PREPARED_STATEMENTS:
    _db["OPTIONS"]["server_side_binding"] = True
    _db["OPTIONS"]["prepare_threshold"] = 5
# The session settings every connection must run with: its startup `options` below, or
# behind a transaction pooler the role's defaults that `manage.py apply_db_limits` writes
# and each new connection checks (orders_project/db/limits.py).
DB_SESSION_DEFAULTS = session_defaults(
    lock_timeout=DB_LOCK_TIMEOUT,
    statement_timeout=DB_STATEMENT_TIMEOUT,
    idle_in_transaction_session_timeout=DB_IDLE_IN_TRANSACTION_TIMEOUT,
    prepared_statements=DB_PREPARED_STATEMENTS,
)
if DB_TRANSACTION_POOLING:
    # A server-side cursor lives in the session that declared it (Django's documented
    # requirement for transaction pooling).
    _db["DISABLE_SERVER_SIDE_CURSORS"] = True
else:
    _db["OPTIONS"]["options"] = " ".join(
        f"-c {name}={value}" for name, value in DB_SESSION_DEFAULTS.items()
    )
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
_db["CONN_HEALTH_CHECKS"] = True
# Django's PostgreSQL backend with a health check that asks the socket instead of
# sending `SELECT 1` before every request (orders_project/db/base.py; measured).
_db["ENGINE"] = "orders_project.db"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation / time -------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files (admin, Swagger UI from drf-spectacular-sidecar) -----------------------
STATIC_URL = "static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Without `collectstatic` (make run, tests) whitenoise serves straight from the apps.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)
if WHITENOISE_USE_FINDERS:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
else:  # production images run `collectstatic` into STATIC_ROOT at build time
    STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=BASE_DIR / "staticfiles")

# --- Limits -----------------------------------------------------------------------------
# Orders bodies are tiny; anything larger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("REQUEST_MAX_BODY_BYTES", default=64 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100

# --- HTTPS and cookies ------------------------------------------------------------------
# TLS ends at the gateway in front of gunicorn. Outside DEBUG the defaults are the
# production ones, and `manage.py check --deploy --fail-level WARNING` is clean with
# them, except while DJANGO_SECRET_KEY is the development key (security.W009): that
# check is the deploy gate (docs/RELIABILITY.md).
_PRODUCTION = not DEBUG
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000 * _PRODUCTION)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_SUBDOMAINS", default=_PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=_PRODUCTION)
# Browsers treat http://localhost and 127.0.0.1 as secure, so local admin logins still work.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=_PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):  # only if the proxy sets it, always
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# An API must not redirect: clients re-send a redirected POST as a GET, or not at all,
# and the request has crossed the network in clear already. The gateway refuses plain
# HTTP instead; DJANGO_SECURE_SSL_REDIRECT=true turns redirects on for browser-only hosts.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_SSL_REDIRECT else ["security.W008"]

# --- Content Security Policy (the admin, the browsable API, /docs) -------------------------
# Scripts and style sheets come from this origin, or inline with the request's nonce
# (`{{ csp_nonce }}` in the templates). style="" attributes are allowed: DRF's templates
# use them, and an attribute runs no script and loads nothing that img-src refuses.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Logins (the admin and the browsable API) -------------------------------------------
# django-axes counts failed logins per (username, client address) in the database, so
# every gunicorn worker sees the same count. Only Django's authenticate() is watched: API
# callers (a trusted gateway's header, API keys) never pass through it and are never
# locked out. A success resets the count; a lockout ends after LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15.0))
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_TIME.total_seconds() < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT and LOGIN_LOCKOUT_MINUTES must be positive.")
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "orders_project.problems.login_locked_out"
AXES_VERBOSE = False
# Keep the failures only: a row per successful login would grow without bound (the
# access log line already records each login request).
AXES_DISABLE_ACCESS_LOG = True
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Metrics ----------------------------------------------------------------------------
# /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is not served.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Domain settings --------------------------------------------------------------------
IDEMPOTENCY_KEY_TTL_SECONDS = env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=24 * 60 * 60)
# Who may act for a tenant: `trusted-header` (a gateway sets X-Tenant-Id) or `api-key`
# (each request carries a key of that tenant). See tenancy/access.py.
TENANT_AUTH_MODE = env.str("TENANT_AUTH_MODE", default="trusted-header")
if TENANT_AUTH_MODE not in ("trusted-header", "api-key"):
    raise ImproperlyConfigured("TENANT_AUTH_MODE must be `trusted-header` or `api-key`.")
# Paths whose requests need X-Tenant-Id.
TENANT_SCOPED_PATH_PREFIXES = ("/orders",)

# --- Django REST framework / OpenAPI -----------------------------------------------------
REST_FRAMEWORK = {
    # JSON for programs; the browsable API only for browsers that ask for HTML. JSON is
    # encoded by orjson (C): DRF's JSONRenderer runs json.dumps, 5 % of a list page's
    # CPU. The bytes are the same for this API's data (compact, UTF-8 unescaped); an
    # `indent=` media-type parameter is not honoured (the browsable API indents by 2).
    "DEFAULT_RENDERER_CLASSES": [
        "drf_orjson_renderer.renderers.ORJSONRenderer",
        "orders.api.renderers.OrdersBrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "orders_project.api.JSONBodyParser",
        "orders_project.api.FormOrJSONParser",
    ],
    # Programs are trusted per TENANT_AUTH_MODE by TenantMiddleware; this only lets
    # logged-in browser sessions through, with DRF's CSRF check on their writes.
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders_project.api.SessionAuthentication"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "orders_project.api.ContentNegotiation",
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "orders_project.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DATETIME_FORMAT": WIRE_FORMAT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Orders API",
    "DESCRIPTION": (
        "Multi-tenant orders with idempotent writes, optimistic locking, a "
        "transactional outbox and keyset pagination. Every error is "
        "`application/problem+json` (RFC 9457)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # confirm is a PATCH that takes a complete body (totalCents required), not a partial one.
    "COMPONENT_SPLIT_PATCH": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orders_project.openapi.postprocess_links",
        "tenancy.openapi.postprocess_access",
    ],
}

# --- Logging ------------------------------------------------------------------------------
# json (default): one JSON object per line, each with request_id and tenant_id.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
# Every request writes a log line. What no format here prints, the logging module need
# not work out for each record: the thread, the multiprocessing and asyncio task names
# (the "Optimization" table of the logging HOWTO). The process id stays: gunicorn's
# error log prints it.
logging.logThreads = False
logging.logMultiprocessing = False
logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # new in 3.12
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "orders_project.observability.RequestContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s %(tenant_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(tenant_id)s] "
            "%(message)s"
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # 4xx are answered as problem+json; they are not server faults worth a warning.
        "django.request": {"level": "ERROR"},
        # Anyone can send any Host: Django logs each refusal as an ERROR with its
        # traceback. handler400 (orders_project.problems) logs one WARNING line instead.
        "django.security.DisallowedHost": {"level": "CRITICAL"},
        # pika logs each connection step, and each failed one with a traceback; the
        # outbox relay reports broker trouble itself, once per attempt.
        "pika": {"level": env.str("PIKA_LOG_LEVEL", default="CRITICAL")},
        # One line per request, written by RequestContextMiddleware.
        "orders.access": {"level": env.str("ACCESS_LOG_LEVEL", default="INFO")},
    },
}

# Read at each scrape of /metrics (orders_project.metrics).
METRICS_COLLECTORS = ["outbox.metrics.OutboxCollector"]

# --- Outbox relay -------------------------------------------------------------------------
# Unset: the relay writes each event as a JSON line on stdout instead of publishing.
OUTBOX_BROKER_URL = env.str("OUTBOX_BROKER_URL", default="")
OUTBOX_EXCHANGE = env.str("OUTBOX_EXCHANGE", default="orders.events")
# Each message is a CloudEvent; this is its `source`, a URI reference naming this service.
OUTBOX_EVENT_SOURCE = env.str("OUTBOX_EVENT_SOURCE", default="/orders-api")
if not OUTBOX_EVENT_SOURCE.strip() or any(c.isspace() for c in OUTBOX_EVENT_SOURCE):
    raise ImproperlyConfigured("OUTBOX_EVENT_SOURCE must be a URI reference (no spaces).")
# 500: one relay reaches the broker speed asked of it (docs/BENCHMARKS.md, "Outbox relay";
# 100: 4,337 events/s, 500: 5,185 in one run); a batch stays one short transaction.
OUTBOX_BATCH_SIZE = env.int("OUTBOX_BATCH_SIZE", default=500)
OUTBOX_POLL_INTERVAL = env.float("OUTBOX_POLL_INTERVAL", default=5.0)
# LISTEN needs a session of its own: behind a transaction pooler, a direct URL to
# PostgreSQL for the relay's listener; without one the relay there only polls.
OUTBOX_LISTEN_DATABASE_URL = env.str("OUTBOX_LISTEN_DATABASE_URL", default="")
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
OUTBOX_BACKOFF_BASE = env.float("OUTBOX_BACKOFF_BASE", default=1.0)
OUTBOX_BACKOFF_MAX = env.float("OUTBOX_BACKOFF_MAX", default=300.0)
# How long one batch may wait for the broker's confirms (the claimed rows stay locked
# meanwhile, so keep it well under DB_IDLE_IN_TRANSACTION_TIMEOUT).
OUTBOX_PUBLISH_TIMEOUT = env.float("OUTBOX_PUBLISH_TIMEOUT", default=10.0)
