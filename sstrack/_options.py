"""Configure sstrack from a framework's settings, naming problems the way the user wrote them.

Django reads ``settings.SSTRACK["session_timeout"]`` and Flask
``app.config["SSTRACK_SESSION_TIMEOUT"]``; a bad value must be reported
under that name, not as the keyword argument it becomes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import runtime
from .config import ConfigError

__all__ = ["configure_labelled"]


def _relabel(problem: str, labels: Mapping[str, str]) -> str:
    for key, label in labels.items():
        # config.py reports a keyword as "name= 'value': why" and an unknown
        # one as "unknown option 'name'; did you mean …".
        if problem.startswith(f"{key}= "):
            return f"{label} = {problem[len(key) + 2:]}"
        unknown = f"unknown option {key!r}"
        if problem.startswith(unknown):
            return f"{label}: unknown option{problem[len(unknown):]}"
    return problem


def configure_labelled(options: Mapping[str, Any], labels: Mapping[str, str]) -> None:
    """Configure sstrack with ``options`` (or validate the environment if there are none).

    Args:
        options: sstrack options by name, as :func:`sstrack.configure` takes them.
        labels: for some option names, how the user wrote them (shown in errors).

    Raises:
        ConfigError: listing every problem, under the user's names.
    """
    try:
        if options:
            # Looked up on the module at call time, so the pytest plugin's pin applies.
            runtime.configure(**options)
        else:
            runtime.current()
    except ConfigError as exc:
        raise ConfigError([_relabel(problem, labels) for problem in exc.problems]) from None
