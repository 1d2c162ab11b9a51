"""Settings: sstrack first in MIDDLEWARE, then sessions and auth, an sqlite database."""

from __future__ import annotations

import json
import os

SECRET_KEY = "sstrack-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "tests.django_project.urls"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
]
MIDDLEWARE = [
    "sstrack.django.TrackingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_TEST_DB", ":memory:"),
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
if "DJANGO_TEST_SSTRACK" in os.environ:
    SSTRACK = json.loads(os.environ["DJANGO_TEST_SSTRACK"])
