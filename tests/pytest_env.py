"""Loaded as a pytest plugin (-p) before Django starts: offline models, a throwaway secret, no TLS redirect."""
import os


def required(component: str) -> bool:
    """`REQUIRE_<COMPONENT>=1` (CI): a missing component fails the run instead of skipping its tests."""
    return os.environ.get(f"REQUIRE_{component.upper()}", "").strip().lower() in {"1", "true", "yes", "on"}


# A developer's .env (written by `make demo`: DEBUG=true, a dev key) must not change what the tests see.
os.environ.setdefault("DJANGO_ENV_FILE", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
# Campaign pks repeat between tests (each rolls back): no metrics are shared between them unless a test asks.
os.environ.setdefault("DASHBOARD_CACHE_URL", "dummycache://")
