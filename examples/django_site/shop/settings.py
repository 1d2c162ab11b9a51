"""Settings of the example shop. The sstrack parts: the first MIDDLEWARE entry and SSTRACK."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("SECRET_KEY", "change-me")
DEBUG = True
ALLOWED_HOSTS: list[str] = []  # with DEBUG: localhost and 127.0.0.1

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]

MIDDLEWARE = [
    # First: it times the whole stack, and adds its cookies after every other
    # middleware (after UpdateCacheMiddleware too, if you use Django's cache).
    "sstrack.django.TrackingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

# Any sstrack option; these win over SSTRACK_* environment variables. A bad
# value stops the server at start-up with ImproperlyConfigured.
SSTRACK = {
    "cookie_secure": not DEBUG,
    "session_timeout": 30 * 60,
}

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3"),
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
