from __future__ import annotations

import importlib

import sstrack


def test_public_api_is_pinned() -> None:
    assert sstrack.__all__ == ["SCHEMA", "ConfigError", "__version__", "configure", "flush",
                               "identify", "shutdown", "stats", "track"]
    for name in sstrack.__all__:
        assert getattr(sstrack, name) is not None


def test_every_module_declares_all() -> None:
    for module in ("admission", "asgi", "wsgi", "capture", "config", "dispatcher", "event",
                   "identity",
                   "pipeline", "proxy", "runtime", "tracking", "sinks", "sinks.base",
                   "sinks.jsonl", "sinks.memory", "sinks.stdout", "sinks.urls", "sinks.kafka",
                   "stitch", "privacy", "enrich", "django", "flask", "pytest_plugin"):
        loaded = importlib.import_module(f"sstrack.{module}")
        assert loaded.__all__, module
        for name in loaded.__all__:
            assert hasattr(loaded, name), f"sstrack.{module}.{name}"


def test_importing_starts_nothing() -> None:
    import threading

    assert not [t for t in threading.enumerate() if t.name == "sstrack-worker"]


def test_the_core_imports_no_framework_or_optional_client() -> None:
    import subprocess
    import sys

    code = ("import sys, sstrack, sstrack.asgi, sstrack.wsgi; "
            "print(sorted(m for m in ('confluent_kafka', 'django', 'flask', 'starlette', "
            "'geoip2', 'ua_parser') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
