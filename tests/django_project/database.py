"""This process's Django: set up once per test session, on a migrated sqlite file.

The real servers the tests start use the same file, so a user created here
can log in there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SETTINGS", "Database", "prepare"]

SETTINGS = "tests.django_project.settings"


@dataclass(frozen=True)
class Database:
    """The sqlite file and the primary key of its one user, "ada"."""

    path: Path
    ada: int


_prepared: Database | None = None


def prepare(directory: Path) -> Database:
    """Set Django up in this process (once) with its database in ``directory``."""
    global _prepared
    if _prepared is not None:
        return _prepared
    import django
    from django.core.management import call_command

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "db.sqlite3"
    saved = {key: os.environ.get(key) for key in ("DJANGO_SETTINGS_MODULE", "DJANGO_TEST_DB")}
    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS, DJANGO_TEST_DB=str(path))
    try:  # settings are read once, here; the variables need not outlive this
        django.setup()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    _prepared = Database(path, get_user_model().objects.create_user("ada").pk)
    return _prepared
