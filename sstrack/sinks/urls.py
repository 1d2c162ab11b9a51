"""Showing sink URLs safely: secrets in a URL never reach a log, an error or stats."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["is_secret", "redact"]

_SECRET_WORDS = ("password", "secret", "token", "credential", "key.pem", "private.key",
                 "oauthbearer.config")


def is_secret(setting: str) -> bool:
    """Whether a librdkafka setting's value must never be shown."""
    return any(word in setting for word in _SECRET_WORDS)


def redact(url: str) -> str:
    """``url`` with secret query values and any userinfo password replaced by ``***``."""
    url = re.sub(r"(//[^/@:]*):[^/]*@", r"\1:***@", url)
    base, mark, query = url.partition("?")
    if not mark:
        return url
    pairs = []
    for pair in query.split("&"):
        name, eq, _ = pair.partition("=")
        pairs.append(f"{name}=***" if eq and is_secret(unquote(name).lower()) else pair)
    return f"{base}?{'&'.join(pairs)}"
