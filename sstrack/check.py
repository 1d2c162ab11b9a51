"""``sstrack check``: validate the configuration, then prove each sink can take an event.

For every configured sink one line says ``ok`` or ``FAIL`` and why:

* ``kafka://`` connects, fetches the topic's metadata and delivers one test
  event (``"event": "sstrack.check"``), naming an unreachable broker, a
  missing topic or a refused login;
* ``jsonl:`` writes a test event to a hidden file in the directory, syncs
  and deletes it (nothing is left for readers of the event files);
* ``stdout:`` and ``memory:`` have nothing to connect to.

The spool and dead-letter directories are checked for writing too. No
secret is ever printed: sink names are redacted, and every line is scrubbed
of the values of secret settings.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from .config import Config
from .event import SCHEMA, rfc3339, uuid7
from .sinks import build_sink
from .sinks.urls import is_secret

__all__ = ["check_config", "check_sink", "scrub", "secrets_of"]

_KAFKA_PREFIX = "SSTRACK_KAFKA_"  # not imported from sinks.kafka: it needs confluent-kafka

Report = Callable[[bool, str, str], None]
"""Receives ``(ok, subject, detail)`` for each line of the report."""


def secrets_of(config: Config) -> list[str]:
    """Values that must never be printed: ``secret`` and secret ``SSTRACK_KAFKA_*`` settings."""
    values = [config.secret] if config.secret else []
    for key, value in config.environ.items():
        name = key[len(_KAFKA_PREFIX):].lower().replace("_", ".")
        if key.startswith(_KAFKA_PREFIX) and is_secret(name) and value:
            values.append(value)
    return values


def check_config(config: Config, report: Report, timeout: float = 10.0) -> bool:
    """Check every sink and the spool and dead-letter directories; ``True`` if all are fine."""
    ok = True
    for url in config.sinks:
        sink = build_sink(url, config.environ)  # Config.load validated it already
        problem, detail = check_sink(sink, timeout)
        report(problem is None, sink.name, problem or detail)
        ok = ok and problem is None
    if config.spool_dir:
        problem = _writable(config.spool_dir, create=True)
        report(problem is None, "spool", problem or _space(config.spool_dir,
                                                            config.spool_max_bytes))
        ok = ok and problem is None
    problem = _writable(config.dead_letter_dir, create=False)
    state = "is writable" if os.path.isdir(config.dead_letter_dir) else "can be created"
    report(problem is None, "dead letters", problem or f"{config.dead_letter_dir} {state}")
    return ok and problem is None


def check_sink(sink: Any, timeout: float) -> tuple[str | None, str]:
    """``(problem, detail)``: ``problem`` is ``None`` when the sink took a test event."""
    check = getattr(sink, "check", None)
    if callable(check):
        problem = check(timeout)
        return problem, f"test event delivered to topic {getattr(sink, 'topic', '?')!r}"
    directory = getattr(sink, "directory", None)
    if isinstance(directory, str):
        problem = _writable(directory, create=True, line=_check_line())
        return problem, f"test event written to and removed from {directory}"
    return None, "nothing to connect to"


def _check_line() -> bytes:
    now = time.time()
    return orjson.dumps({"schema": SCHEMA, "event_id": uuid7(now), "event": "sstrack.check",
                         "timestamp": rfc3339(now), "visitor_id": None})


def _writable(directory: str, *, create: bool, line: bytes = b"") -> str | None:
    """Write (and remove) a hidden file in ``directory``; the reason it failed, or ``None``.

    With ``create`` false a missing directory is fine if it could be created.
    """
    if not os.path.isdir(directory):
        if not create:
            parent = _existing_parent(directory)
            if os.access(parent, os.W_OK | os.X_OK):
                return None
            return f"{directory} does not exist and {parent} is not writable"
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            return f"cannot create {directory}: {exc.strerror or exc}"
    path = os.path.join(directory, f".sstrack-check-{os.getpid()}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        os.unlink(path)
    except OSError as exc:
        return f"cannot write in {directory}: {exc.strerror or exc}"
    return None


def _existing_parent(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def _space(directory: str, cap: int) -> str:
    free = shutil.disk_usage(directory).free
    note = "" if free >= cap else f"; less than the cap of {cap >> 20} MiB per sink and process"
    return f"{directory} is writable, {free >> 20} MiB free{note}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
