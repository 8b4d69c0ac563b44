"""NEW-VOICE settings: one module, everything read from the environment.

The defaults run the embedded mode (SQLite in WAL mode, in-memory channel layer, django-q2 on the
ORM broker, the simulator dialer). Production sets DEBUG=0, SECRET_KEY, DATABASE_URL, REDIS_URL,
ALLOWED_HOSTS and the LiveKit variables; see README "Configuration".
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only ever used with DEBUG on; production refuses to start without a real key.
    SECRET_KEY = "django-insecure-newvoice-development-only"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # first, so that runserver serves HTTP and WebSockets through ASGI
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "import_export",
    "tenancy",
    "skillbases",
    "campaigns",
    "analytics",
    "voiceagent",
    "newvoice",  # the project: no models, on top of every app
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tenancy.throttling.LoginThrottleMiddleware",
    "tenancy.audit.AuditMiddleware",
]

ROOT_URLCONF = "newvoice.urls"
WSGI_APPLICATION = "newvoice.wsgi.application"
ASGI_APPLICATION = "newvoice.asgi.application"

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
            ],
        },
    },
]

# Database: SQLite under the project folder unless DATABASE_URL says otherwise.
DATABASE_URL = env.str("DATABASE_URL", default="") or f"sqlite:///{VAR_DIR / 'newvoice.sqlite3'}"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock when a
    # transaction begins, so two writers queue on the busy timeout instead of failing with
    # "database is locked" when one upgrades a read lock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default=str(VAR_DIR / "test-newvoice.sqlite3"))}
else:
    # 0: the web server is ASGI (daphne), where each request's database work runs in a thread of its
    # own; kept-open connections would never be reused there and pile up until PostgreSQL refuses
    # more (measured in bench/bench_api.py). Long-running workers (dialer, q2) may raise it.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: Redis when REDIS_URL is set (shared across processes), otherwise in-memory.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Background tasks. Calls run for up to MAX_CALL_DURATION seconds inside place_call, so the
# worker timeout covers that and `retry` stays above `timeout`; otherwise the broker would hand a
# still-running call to a second worker.
MAX_CALL_DURATION = env.int("MAX_CALL_DURATION", default=900)
# How long a worker (a dialer, an agent) holds a live call without renewing it; it renews every
# third of this, and the reaper ends a call whose holder has been silent this long as lost.
NEWVOICE_CALL_LEASE_SECONDS = env.int("NEWVOICE_CALL_LEASE_SECONDS", default=60)
if not 10 <= NEWVOICE_CALL_LEASE_SECONDS <= 3600:
    raise ImproperlyConfigured("NEWVOICE_CALL_LEASE_SECONDS must be between 10 and 3600 seconds.")
Q_CLUSTER = {
    "name": "newvoice",
    "orm": "default",
    # A simulated or dialled call occupies a worker for its whole length.
    "workers": env.int("Q_WORKERS", default=4),
    "timeout": MAX_CALL_DURATION + 120,
    "retry": MAX_CALL_DURATION + 300,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "poll": env.float("Q_POLL", default=0.5),
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Background tasks",
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "static"))

MEDIA_URL = "media/"
# Uploaded contact files wait here for the background import; with several machines, point it at
# shared storage (or configure STORAGES) so any task worker can read them.
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(VAR_DIR / "media"))

LOGIN_URL = "admin:login"

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header ("Token") is what makes an anonymous request a 401
    # rather than a 403. The session serves the browsable API and the admin's own pages.
    "DEFAULT_AUTHENTICATION_CLASSES": ["knox.auth.TokenAuthentication", "rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "tenancy.filtering.ScopedFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "tenancy.api_edges.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "tenancy.api_edges.handle_exception",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Proxies in front that append to X-Forwarded-For: the client address of the throttles and the
    # sign-in limits. 0 trusts no header (the socket's peer), so the address cannot be forged.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# API tokens (django-rest-knox): stored as SHA-512 digests, shown once, always expiring. The prefix
# lets secret scanners recognise a leaked token.
KNOX_TOKEN_MODEL = "tenancy.ApiToken"
# knox's own migrations create its AuthToken table even when the model is swapped for ours; that
# orphan table references auth_user and makes PostgreSQL refuse to truncate users. Without knox's
# migrations, nothing creates it.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(days=env.int("API_TOKEN_TTL_DAYS", default=90)),
    "TOKEN_PREFIX": "nv_",
    "AUTO_REFRESH": False,
}
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
API_TOKEN_ISSUE_RATE = env.str("API_TOKEN_ISSUE_RATE", default="20/hour")  # per user, POST /api/tokens
# Failed sign-ins (admin and browsable API) allowed per window, per username+address and per address.
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=30)
LOGIN_FAILURE_WINDOW = env.int("LOGIN_FAILURE_WINDOW", default=900)  # seconds
# Days an invitation to join an organization may be accepted; inviting again renews it.
NEWVOICE_INVITATION_DAYS = env.int("NEWVOICE_INVITATION_DAYS", default=14)
SPECTACULAR_SETTINGS = {
    "TITLE": "NEW-VOICE API",
    "DESCRIPTION": "Voice bots that call your customers: skillbases, campaigns, calls and analytics.",
    "VERSION": "2.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A member's role and a transcript line's speaker are both "role".
    "ENUM_NAME_OVERRIDES": {"OrganizationRoleEnum": "tenancy.models.Role"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "newvoice.schema.plain_times"],
}

# Security: on when DEBUG is off; the TLS flags are for deployments behind a TLS terminator.
SECURE_TLS = env.bool("SECURE_TLS", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_TLS
CSRF_COOKIE_SECURE = SECURE_TLS
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=SECURE_TLS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_TLS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_TLS
SECURE_HSTS_PRELOAD = SECURE_TLS
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Load balancer probes and Prometheus reach the web processes over the private network in plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^api/health$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True

# Product settings.
NEWVOICE_DIALER = env.str("NEWVOICE_DIALER", default="simulator")
NEWVOICE_DIALERS = {
    "simulator": "voiceagent.dialers.simulator.SimulatorDialer",
    "livekit": "voiceagent.dialers.livekit.LiveKitDialer",
}
# What measures a call as it ends (its metrics and cost), in finish_call's transaction: a function
# taking the ended call and returning how much its priced cost adds to its campaign's spend. Loaded
# by path, as the dialers are, so campaigns never imports the analytics app above it.
NEWVOICE_CALL_MEASURER = "analytics.call_metrics.measure_ended_call"
# What holds a skillbase's test conversations (text mode, the production agent): a function taking
# (config, tests, default_timezone=) and returning a skillbases.testing.Run per test. By path, so
# skillbases never imports the agent above it.
SKILLBASE_TEST_RUNNER = "voiceagent.skillbase_tests.run_conversations"
# Environment variables a skillbase may name as its language model's key (`llm.api_key_env`): only
# these are ever read for a skillbase and sent to its provider. An administrator lists them.
# A Piper voice (.onnx, with its .onnx.json beside it) for skillbases whose voice is "local" in
# English; empty: the en_US "joe" voice from requirements-speech.txt.
NEWVOICE_PIPER_VOICE = env.str("NEWVOICE_PIPER_VOICE", default="")
# Whisper weights (a CTranslate2 model directory) for skillbases that recognise speech locally, in
# every language; empty: from requirements-speech.txt, tiny.en for English and the multilingual base
# weights (joined once into var/models) for the others.
NEWVOICE_WHISPER_MODEL = env.str("NEWVOICE_WHISPER_MODEL", default="")
# Days a call's recording is kept (both sides, one stereo file under MEDIA_ROOT/recordings); the
# dispatcher then deletes the file, and the call keeps its metrics and transcript. 0: record no call.
NEWVOICE_RECORDING_RETENTION_DAYS = env.int("NEWVOICE_RECORDING_RETENTION_DAYS", default=30)
if not 0 <= NEWVOICE_RECORDING_RETENTION_DAYS <= 3650:
    raise ImproperlyConfigured("NEWVOICE_RECORDING_RETENTION_DAYS must be between 0 and 3650 days.")
# Languages whose local voices and recognisers an agent process loads before its first call (a
# comma-separated list; empty: load on first use). Parts not installed are skipped.
NEWVOICE_LOCAL_SPEECH_WARM = env.list("NEWVOICE_LOCAL_SPEECH_WARM", default=["en", "ru"])
# Seconds of silence after which the voice activity detector says the callee stopped speaking: each
# reply waits this long at least; too short and a pause mid-sentence ends the callee's turn.
NEWVOICE_VAD_MIN_SILENCE_SECONDS = env.float("NEWVOICE_VAD_MIN_SILENCE_SECONDS", default=0.4)
if not 0.1 <= NEWVOICE_VAD_MIN_SILENCE_SECONDS <= 2:
    raise ImproperlyConfigured("NEWVOICE_VAD_MIN_SILENCE_SECONDS must be between 0.1 and 2 seconds.")
NEWVOICE_PROVIDER_KEY_ENVS = env.list("NEWVOICE_PROVIDER_KEY_ENVS", default=["OPENAI_API_KEY"])
# Hosts or networks (e.g. 10.0.0.5, 10.0.0.0/8, llm.internal) a provider address (`llm.base_url`) may
# point at although they are private or loopback, or reached over plain http: a model server on the
# operator's own network. Every other address must be public https.
NEWVOICE_PROVIDER_HOSTS_ALLOWED = env.list("NEWVOICE_PROVIDER_HOSTS_ALLOWED", default=[])
# How fast simulated calls run: 1 = real time (watchable demos), 0 = no waiting (tests, benchmarks).
NEWVOICE_SIMULATOR_SPEED = env.float("NEWVOICE_SIMULATOR_SPEED", default=1.0)
NEWVOICE_CURRENCY = env.str("NEWVOICE_CURRENCY", default="USD")
# Analytics: the zone report days are counted in (the daily figures are kept by it: after changing
# it, run `manage.py analytics_rollups --rebuild`), and from how many calls a report reads the daily
# figures instead of every call (latency percentiles then come from 2%-wide histograms).
NEWVOICE_REPORT_TIMEZONE = env.str("NEWVOICE_REPORT_TIMEZONE", default=TIME_ZONE)
NEWVOICE_ROLLUP_THRESHOLD = env.int("NEWVOICE_ROLLUP_THRESHOLD", default=20_000)
NEWVOICE_DEFAULT_REGION = env.str("NEWVOICE_DEFAULT_REGION", default="RU")
NEWVOICE_DEFAULT_TIMEZONE = env.str("NEWVOICE_DEFAULT_TIMEZONE", default="Europe/Moscow")
NEWVOICE_IMPORT_MAX_BYTES = env.int("NEWVOICE_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
# Uploads larger than this are imported by a background task, with progress on the campaign page.
NEWVOICE_IMPORT_BACKGROUND_BYTES = env.int("NEWVOICE_IMPORT_BACKGROUND_BYTES", default=1024 * 1024)
# A background import works in turns of this many seconds (each queues the next, so none comes near
# the worker's timeout), stops after NEWVOICE_IMPORT_TIMEOUT seconds in all, and a dry run's file is
# deleted when it has not been confirmed for NEWVOICE_IMPORT_PREVIEW_HOURS.
NEWVOICE_IMPORT_SLICE_SECONDS = env.int("NEWVOICE_IMPORT_SLICE_SECONDS", default=240)
NEWVOICE_IMPORT_TIMEOUT = env.int("NEWVOICE_IMPORT_TIMEOUT", default=3600)
NEWVOICE_IMPORT_PREVIEW_HOURS = env.int("NEWVOICE_IMPORT_PREVIEW_HOURS", default=24)
LIVEKIT_URL = env.str("LIVEKIT_URL", default="")
LIVEKIT_API_KEY = env.str("LIVEKIT_API_KEY", default="")
LIVEKIT_API_SECRET = env.str("LIVEKIT_API_SECRET", default="")
LIVEKIT_AGENT_NAME = env.str("LIVEKIT_AGENT_NAME", default="newvoice-agent")
# An agent worker above this CPU load (0–1) tells the server it is full, and calls go to other
# workers; on SIGTERM it takes no new call and waits this long for its live calls to end.
NEWVOICE_AGENT_LOAD_THRESHOLD = env.float("NEWVOICE_AGENT_LOAD_THRESHOLD", default=0.7)
if not 0 < NEWVOICE_AGENT_LOAD_THRESHOLD <= 1:
    raise ImproperlyConfigured("NEWVOICE_AGENT_LOAD_THRESHOLD must be above 0 and at most 1.")
NEWVOICE_AGENT_DRAIN_SECONDS = env.int("NEWVOICE_AGENT_DRAIN_SECONDS", default=MAX_CALL_DURATION)
NEWVOICE_RINGING_TIMEOUT = env.int("NEWVOICE_RINGING_TIMEOUT", default=30)  # seconds a dialled phone rings before "no answer"
# Prometheus metrics at /metrics: for a scraper presenting this bearer token, or from these addresses
# (IPs or networks, e.g. 10.0.0.0/8, as the web server sees them); with neither set, /metrics is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django-q": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "channels_redis.core": {"level": "WARNING"},
        # One access line per request: not also through Django's own "django" console handler.
        "django.channels.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
