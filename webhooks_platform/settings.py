"""Settings for the webhook platform.

Everything is read from the environment through django-environ. The defaults run the embedded
mode (SQLite in WAL mode for the database and for the broker, under ``var/``), so production
differs from a laptop only by environment variables: ``DATABASE_URL=postgres://...`` and
``CELERY_BROKER_URL=redis://...``.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ

from platform_core.proxies import client_ip_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# pytest (8.2+) sets PYTEST_VERSION; tests and the workers they start keep their database file
# and broker file apart from a running `make run`.
TESTING = "PYTEST_VERSION" in os.environ
VAR_DIR = Path(
    env.str("WEBHOOKS_VAR_DIR", default=str(BASE_DIR / "var" / ("test" if TESTING else "")))
)
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# The default key only exists so that the embedded mode starts with nothing configured; the system
# check `webhooks.W001` warns when it is used with DEBUG off.
INSECURE_DEFAULT_SECRET_KEY = "insecure-embedded-default-change-me"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "webhooks_platform.apps.WebhooksPlatformConfig",
    "endpoints",
    "deliveries",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside the session middleware, so a session saved on the way out counts as a write.
    "platform_core.replica.ReadYourWritesMiddleware",
    "webhooks_platform.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside the two above (it runs before them on the way out): lets a tenant's portal be
    # framed by the origins it lists, and its logo load.
    "endpoints.embedding.PortalFrameMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into a 429.
    "axes.middleware.AxesMiddleware",
]

# Sign-in throttling (django-axes): after WEBHOOKS_LOGIN_FAILURE_LIMIT wrong passwords for one
# account, or from one address, further tries of that account or address are refused for
# WEBHOOKS_LOGIN_COOLOFF_MINUTES, right password or not; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("WEBHOOKS_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("WEBHOOKS_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked.html"
# Behind a proxy, the client's address is in X-Forwarded-For: say how many proxies to trust
# (platform_core.proxies: counted from the right, so a forged entry is never taken).
WEBHOOKS_TRUSTED_PROXY_COUNT = env.int("WEBHOOKS_TRUSTED_PROXY_COUNT", default=0)
_client_ip = client_ip_settings(trusted_proxies=WEBHOOKS_TRUSTED_PROXY_COUNT)
AXES_IPWARE_PROXY_COUNT = _client_ip["AXES_IPWARE_PROXY_COUNT"]
AXES_IPWARE_META_PRECEDENCE_ORDER = _client_ip["AXES_IPWARE_META_PRECEDENCE_ORDER"]

# --- Browser security --------------------------------------------------------------------------
# Scripts and styles only from this server (the dashboard's one script is a static file); inline
# style attributes are allowed, inline scripts are not. /api/docs/ relaxes scripts for Swagger UI.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Behind TLS (directly or through a proxy), turn these on: `check --deploy` asks for them.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
# A portal embedded by a page of another site (not a subdomain of the same one) needs its
# cookies sent in that frame: "None", which browsers accept only with the Secure flags above.
SESSION_COOKIE_SAMESITE = env.str("SESSION_COOKIE_SAMESITE", default="Lax")
CSRF_COOKIE_SAMESITE = env.str("CSRF_COOKIE_SAMESITE", default="Lax")
# A TLS-terminating proxy says so in this header (e.g. X-Forwarded-Proto); only set it when
# the proxy always sets or strips the header.
if env.str("SECURE_PROXY_SSL_HEADER", default=""):
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + env.str("SECURE_PROXY_SSL_HEADER").upper().replace("-", "_"),
        "https",
    )

ROOT_URLCONF = "webhooks_platform.urls"
WSGI_APPLICATION = "webhooks_platform.wsgi.application"

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
                "endpoints.embedding.portal_look",
                "platform_core.replica.replica_notice",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'webhooks.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at the
    # start of a transaction so concurrent writers queue on busy_timeout instead of failing with
    # "database is locked" half-way through.
    _db.setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # Tests start real worker processes, which cannot see an in-memory database.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-webhooks.sqlite3")}
elif _db["ENGINE"] in ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"):
    # No session state, so a pooler in transaction mode (PgBouncer) may stand in front: Django's
    # ``.iterator()`` would otherwise declare a server-side cursor WITH HOLD and fetch from it in
    # later transactions, which may run on another server connection.
    _db["DISABLE_SERVER_SIDE_CURSORS"] = True
    if env.bool("DATABASE_POOL", default=True):
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=1),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
            "timeout": env.int("DATABASE_POOL_TIMEOUT", default=30),
        }
        _db["CONN_MAX_AGE"] = 0
        # With a pool, Django passes this on as the pool's check: a connection the server
        # dropped (restart, failover, pg_terminate_backend) is noticed when it is checked out,
        # not by the query that follows.
        _db["CONN_HEALTH_CHECKS"] = True
    else:
        _db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        _db["CONN_HEALTH_CHECKS"] = True

# A read replica (streaming, PostgreSQL) for the reads that may lag: the delivery log, search,
# charts (platform_core/replica.py says which, and why nothing else). Same options as the
# primary; never migrated; in tests, a mirror of the test database unless a test says otherwise.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    for _key in ("OPTIONS", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "DISABLE_SERVER_SIDE_CURSORS"):
        if _key in _db:
            DATABASES["replica"][_key] = (
                dict(_db[_key]) if isinstance(_db[_key], dict) else _db[_key]
            )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["platform_core.replica.ReplicaRouter"]
# After a request that wrote, that browser reads from the primary for this long (its own write
# must show on the page it is sent to); a page read from a replica this far behind says so.
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=30)
DATABASE_REPLICA_LAG_NOTICE = env.float("DATABASE_REPLICA_LAG_NOTICE", default=2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise warns at start-up when the folder is missing (before the first collectstatic).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "/login/"

# --- Celery ---------------------------------------------------------------------------------
# The embedded default keeps its queues in a SQLite file beside the database
# (platform_core/sqlite_broker.py says why not kombu's filesystem transport).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="sqlite://")
if CELERY_BROKER_URL.startswith("sqlite://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "path": str(VAR_DIR / "broker.sqlite3"),
        "polling_interval": 0.1,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest attempt lease, so that Redis does not redeliver a message a
        # worker is still working on; the sweeper, not the broker, recovers lost work.
        "visibility_timeout": 3600,
    }
# Delivery is I/O-bound and a slow receiver must not stall the rest: threads, not prefork.
CELERY_WORKER_POOL = env.str("CELERY_WORKER_POOL", default="threads")
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=8)
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=2)
CELERY_TASK_IGNORE_RESULT = True
# Messages are acknowledged on receipt. The database is the source of truth and the sweeper
# re-sends what a lost message or a dead worker left undone (within WEBHOOKS_DISPATCH_TIMEOUT),
# so late acks bought nothing but a failure: a late ack of a message received on a connection that
# was lost meanwhile (a broker restart) raised inside kombu's Redis transport and ended the worker.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Attempt partitions created weeks ahead on PostgreSQL (deliveries.services.partitions).
CELERY_BEAT_SCHEDULE = {
    "attempt-partitions": {"task": "deliveries.partitions_ensure", "schedule": 3600.0}
}

# --- The platform's own settings (read through platform_core.conf.webhooks_settings) -----
WEBHOOKS_RETRY_SCHEDULE = env.list(
    "WEBHOOKS_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOKS_RETRY_JITTER = env.float("WEBHOOKS_RETRY_JITTER", default=0.2)
WEBHOOKS_RETRY_AFTER_MAX = env.float("WEBHOOKS_RETRY_AFTER_MAX", default=3600)
WEBHOOKS_ATTEMPT_TIMEOUT = env.float("WEBHOOKS_ATTEMPT_TIMEOUT", default=15)
WEBHOOKS_MAX_PAYLOAD_BYTES = env.int("WEBHOOKS_MAX_PAYLOAD_BYTES", default=256 * 1024)
WEBHOOKS_RESPONSE_BODY_LIMIT = env.int("WEBHOOKS_RESPONSE_BODY_LIMIT", default=20_000)
# Loopback is open by default only where receivers run on this machine: the embedded mode (no
# DATABASE_URL) or DEBUG. A deployment on PostgreSQL blocks it unless it opts in, and
# `check --deploy` warns about any allowed range.
_LOCAL_DEVELOPMENT = DEBUG or "DATABASE_URL" not in os.environ
WEBHOOKS_ALLOWED_SUBNETS = env.list(
    "WEBHOOKS_ALLOWED_SUBNETS",
    default=["127.0.0.0/8", "::1/128"] if _LOCAL_DEVELOPMENT else [],
)
# Ranges opened to the operators' own URLs only (WEBHOOKS_OPERATIONAL_WEBHOOK_URLS), never to a
# tenant's endpoint: a private alerting service does not open its network to every tenant.
WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS = env.list("WEBHOOKS_OPERATIONAL_ALLOWED_SUBNETS", default=[])
# A name that failed to resolve (no such name, or no answer within the attempt's timeout) is not
# looked up again for this many seconds: attempts meanwhile fail at once with the same error.
# 0: look it up on every attempt. Successful answers are never kept (checked on every attempt).
WEBHOOKS_DNS_FAILURE_TTL = env.float("WEBHOOKS_DNS_FAILURE_TTL", default=30)
WEBHOOKS_REQUIRE_HTTPS = env.bool("WEBHOOKS_REQUIRE_HTTPS", default=False)
WEBHOOKS_DISABLE_AFTER_FAILING_DAYS = env.float("WEBHOOKS_DISABLE_AFTER_FAILING_DAYS", default=5)
WEBHOOKS_SECRET_ROTATION_GRACE = env.int("WEBHOOKS_SECRET_ROTATION_GRACE", default=86400)
WEBHOOKS_SWEEP_INTERVAL = env.float("WEBHOOKS_SWEEP_INTERVAL", default=5)
WEBHOOKS_DELIVERY_BATCH_SIZE = env.int("WEBHOOKS_DELIVERY_BATCH_SIZE", default=50)
WEBHOOKS_DISPATCH_TIMEOUT = env.float("WEBHOOKS_DISPATCH_TIMEOUT", default=60)
WEBHOOKS_FANOUT_GRACE = env.float("WEBHOOKS_FANOUT_GRACE", default=30)
# After this many failures in a row an endpoint's circuit opens: new deliveries wait while one
# probe at a time goes out on the retry schedule; a success closes it and releases the backlog.
WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD = env.int("WEBHOOKS_CIRCUIT_FAILURE_THRESHOLD", default=10)
# Packages of destination kinds (queues, streams), imported by name when first needed; each
# has a load_kinds() that registers its kinds with endpoints.destinations.
WEBHOOKS_DESTINATION_PACKAGES = ["deliveries.destinations"]
# Requests in flight per endpoint and worker process: where the engine's window starts, and the
# most it lets it grow to.
WEBHOOKS_ENDPOINT_CONCURRENCY = env.int("WEBHOOKS_ENDPOINT_CONCURRENCY", default=10)
WEBHOOKS_ENDPOINT_CONCURRENCY_MAX = env.int("WEBHOOKS_ENDPOINT_CONCURRENCY_MAX", default=128)
# Celery worker processes `manage.py run_worker` (and run_platform) starts, each with its own
# delivery engine. 0: one per core the process may run on (one on the embedded SQLite database).
WEBHOOKS_WORKER_PROCESSES = env.int("WEBHOOKS_WORKER_PROCESSES", default=0)
# Requests one worker process holds in flight or queued, across endpoints.
WEBHOOKS_SENDER_MAX_PENDING = env.int("WEBHOOKS_SENDER_MAX_PENDING", default=1000)
# While a tenant publishes a stream, its fan-out waits this long to take the burst in one go.
WEBHOOKS_FANOUT_LINGER_MS = env.int("WEBHOOKS_FANOUT_LINGER_MS", default=10)
# Endpoints a tenant may have (not counting deleted ones): one publish sends one request per
# endpoint, so an unbounded tenant is an amplifier. 0: no cap.
WEBHOOKS_MAX_ENDPOINTS_PER_TENANT = env.int("WEBHOOKS_MAX_ENDPOINTS_PER_TENANT", default=200)
# API requests per minute per API key (DRF throttling on the cache below; 429 with
# Retry-After beyond it). 0: no limit.
WEBHOOKS_API_RATE_LIMIT = env.int("WEBHOOKS_API_RATE_LIMIT", default=3000)
# Feed reads (poll endpoints) per minute per API key, within the above. 0: no limit of its own.
WEBHOOKS_POLL_RATE_LIMIT = env.int("WEBHOOKS_POLL_RATE_LIMIT", default=600)
# Long polls (feed reads with wait) that may wait at once: a waiting poll holds a web thread.
# Per web process, counted in the process: keep it at most half of gunicorn's --threads (4 in
# docker-compose.yml and run_platform). Per API key, counted in the cache (across processes
# with a shared cache). A poll beyond either answers at once with Retry-After. 0: polls never wait.
WEBHOOKS_POLL_WAITS_PER_PROCESS = env.int("WEBHOOKS_POLL_WAITS_PER_PROCESS", default=2)
WEBHOOKS_POLL_WAITS_PER_KEY = env.int("WEBHOOKS_POLL_WAITS_PER_KEY", default=2)
WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT = env.int("WEBHOOKS_POLL_CONSUMERS_PER_ENDPOINT", default=50)
# Runs of the dashboard's "test a payload filter" page per minute per tenant (each parses up to
# 20 events; 429 beyond it). Counted in the cache below by django-ratelimit. 0: no limit.
WEBHOOKS_FILTER_TEST_RATE_LIMIT = env.int("WEBHOOKS_FILTER_TEST_RATE_LIMIT", default=20)
# Transformations (endpoints/transformation.py): each run of an endpoint's JavaScript stops at
# this time limit (milliseconds, wall clock, which bounds its CPU time) and this V8 heap size
# (MiB); at most this many sandbox processes run scripts at once per worker. The dashboard's
# "run on a recent event" and the simulate routes allow this many runs a minute per tenant.
WEBHOOKS_TRANSFORM_TIME_LIMIT_MS = env.int("WEBHOOKS_TRANSFORM_TIME_LIMIT_MS", default=50)
WEBHOOKS_TRANSFORM_MEMORY_LIMIT_MB = env.int("WEBHOOKS_TRANSFORM_MEMORY_LIMIT_MB", default=32)
WEBHOOKS_TRANSFORM_PROCESSES = env.int("WEBHOOKS_TRANSFORM_PROCESSES", default=2)
WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT = env.int("WEBHOOKS_TRANSFORM_TEST_RATE_LIMIT", default=20)
# Fernet keys (urlsafe base64 of 32 bytes), newest first, that encrypt signing secrets at rest.
# Empty: one key derived from SECRET_KEY.
WEBHOOKS_ENCRYPTION_KEYS = env.list("WEBHOOKS_ENCRYPTION_KEYS", default=[])

# --- Operating it: retention, metrics, health, operational webhooks (docs/operations.md) -----
# Finished deliveries, their attempts and their events are deleted this many days after they
# were created; 0 keeps everything. Pending and retrying deliveries are never deleted.
WEBHOOKS_RETENTION_DAYS = env.float("WEBHOOKS_RETENTION_DAYS", default=30)
# Response bodies, and the bodies of events whose deliveries are all finished, are blanked after
# this many days (unset: the same as WEBHOOKS_RETENTION_DAYS); attempt metadata stays.
WEBHOOKS_PAYLOAD_RETENTION_DAYS = env.float("WEBHOOKS_PAYLOAD_RETENTION_DAYS", default=None)
WEBHOOKS_RETENTION_BATCH_SIZE = env.int("WEBHOOKS_RETENTION_BATCH_SIZE", default=2000)
WEBHOOKS_RETENTION_INTERVAL = env.float("WEBHOOKS_RETENTION_INTERVAL", default=3600)
# Bearer token for /metrics; empty: staff users only.
WEBHOOKS_METRICS_TOKEN = env.str("WEBHOOKS_METRICS_TOKEN", default="")
WEBHOOKS_READY_TIMEOUT = env.float("WEBHOOKS_READY_TIMEOUT", default=2)
WEBHOOKS_OPERATIONAL_WEBHOOK_URLS = env.list("WEBHOOKS_OPERATIONAL_WEBHOOK_URLS", default=[])
WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET = env.str("WEBHOOKS_OPERATIONAL_WEBHOOK_SECRET", default="")
# prometheus_client picks multiprocess mode from this variable when it is first imported, so it
# is set here, before any metric exists: gunicorn workers and Celery processes all write their
# samples under it and /metrics adds them up.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

# --- Logging --------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# "json": one JSON object a line (for log shippers); "text": readable, extras as key=value.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"()": "platform_core.logging.TextFormatter"},
        "json": {"()": "platform_core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # The embedded broker has no host; kombu warns about that on every connection.
        "kombu.connection": {"level": "ERROR"},
        # django-axes announces its version at every start; its sign-in failures stay logged.
        "axes.apps": {"level": "WARNING"},
        # Celery's two INFO lines per task ("received", "succeeded in") cost more CPU than a
        # small deliver task's own work at thousands a second, and say less than the
        # platform's per-attempt log line; CELERY_TASK_LOG_LEVEL=INFO brings them back.
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.worker.strategy": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
    },
}

# The cache the API's per-key throttle counts in. In-process by default (one web process, as
# `make run` has); several web processes share a limit only through a shared cache, such as
# CACHE_URL=redis://redis:6379/1 (docker-compose.yml sets it).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": ["webhooks_platform.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["platform_core.api.permissions.HasApiKey"],
    "DEFAULT_PARSER_CLASSES": ["platform_core.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "platform_core.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["platform_core.api.throttling.ApiKeyThrottle"],
    # The API has keys, not users: no AnonymousUser (and no auth app lookups) for keyless calls.
    "UNAUTHENTICATED_USER": None,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Webhooks platform API",
    "DESCRIPTION": "Publish events, manage endpoints, read and replay deliveries. "
    "Authenticate with `Authorization: Bearer <API key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webhooks_platform.svix_api.urls.schema_paths_without_slash",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "deliveries.models.Delivery.Status",
        "JobStatusEnum": "deliveries.models.Job.Status",
    },
    # Swagger UI from the drf-spectacular-sidecar package, so /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# The sidecar only ships static files; registered here to keep the API's settings in one block.
INSTALLED_APPS.append("drf_spectacular_sidecar")
