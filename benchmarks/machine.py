"""Where and when a benchmark ran: printed above every results table here."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from datetime import datetime, timezone

__all__ = ["describe", "load_average"]

PACKAGES = ("sstrack", "orjson", "starlette", "uvicorn", "gunicorn", "flask", "werkzeug",
            "apitally", "moesifasgi", "moesifwsgi", "sentry-sdk", "httptools", "uvloop")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _wrk_version() -> str | None:
    try:
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).split("\n", 1)[0]
    return text.split(" [", 1)[0] or None


def load_average() -> str:
    """The 1-minute load average: other work on the machine shows up here as noise."""
    return f"{os.getloadavg()[0]:.2f}"


def describe(wrk: bool = False) -> str:
    """One paragraph: date, CPUs, Python, package versions (and wrk's, if asked)."""
    versions = [f"{name} {v}" for name in PACKAGES if (v := _version(name))]
    if wrk and (w := _wrk_version()):
        versions.append(w)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}; {os.cpu_count()} CPUs ({_cpu_model()}); "
            f"{platform.python_implementation()} {platform.python_version()}; "
            f"{', '.join(versions)}; load average {load_average()}")
