"""ASGI entry point: ``uvicorn --app-dir examples/django_site shop.asgi:application``
(or ``daphne``); sstrack's middleware runs in async mode here."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_asgi_application()
