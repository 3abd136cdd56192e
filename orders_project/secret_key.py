"""The SECRET_KEY rule: only DEBUG may run on a key everybody can read.

The key signs cursors and sessions, so a known key lets anyone forge both. Outside
DEBUG the settings refuse to load without a real one, by the rules of Django's own
deploy check (security.W009): at least 50 characters, 5 of them different, and not one
of Django's `django-insecure-` development keys.
"""

from django.core.exceptions import ImproperlyConfigured

# Public on purpose (DEBUG only), and marked as such for the deploy check (security.W009).
DEVELOPMENT_SECRET_KEY = "django-insecure-dev-only-key-set-DJANGO_SECRET_KEY-in-production"  # noqa: S105
MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5
_HOW_TO = (
    " Generate one with `python3 -c 'import secrets; print(secrets.token_urlsafe(50))'` "
    "and keep it secret (`make run` does this for you, into .secrets/)."
)


def check_secret_key(key: str) -> None:
    """Raise ImproperlyConfigured unless `key` is fit to sign production data."""
    if not key:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off." + _HOW_TO
        )
    if (
        key.startswith("django-insecure-")
        or len(key) < MIN_LENGTH
        or len(set(key)) < MIN_UNIQUE_CHARACTERS
    ):
        raise ImproperlyConfigured(
            f"DJANGO_SECRET_KEY is not a real key (it needs {MIN_LENGTH}+ characters, "
            f"{MIN_UNIQUE_CHARACTERS}+ of them different, and no `django-insecure-` prefix)."
            + _HOW_TO
        )
