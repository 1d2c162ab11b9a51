"""Small real apps that the server tests run under uvicorn and gunicorn.

Every app serves the same four endpoints, so one test can drive any of them:

``/``        ``HELLO`` as text.
``/stream``  ``FIRST_CHUNK``, then waits until the file named by the ``release``
             query parameter exists, then ``REST_CHUNKS``. The test decides when
             the response ends, which is how it proves events are written only
             after the last byte.
``/boom``    raises ``RuntimeError``.
``/cached``  text with ``Cache-Control: public, max-age=60``.

The apps are wrapped the way the README tells users to, with no options:
their settings come from the ``SSTRACK_*`` variables the test sets on the
server process.
"""

from __future__ import annotations

import os

__all__ = [
    "CACHE_CONTROL",
    "CHUNK_PAUSE",
    "FIRST_CHUNK",
    "HELLO",
    "RELEASE_POLL",
    "RELEASE_TIMEOUT",
    "REST_CHUNKS",
    "STREAM_BYTES",
    "released",
]

HELLO = b"Hello, world!\n"
CACHE_CONTROL = "public, max-age=60"
FIRST_CHUNK = b"first chunk\n"
# Several chunks after the release, with a pause between them: a sync server
# only notices a client that went away on the second write after it left
# (the first one still fits in the socket buffer and draws the reset).
REST_CHUNKS = tuple(b"%02d" % i + b"." * 1021 + b"\n" for i in range(20))
STREAM_BYTES = len(FIRST_CHUNK) + sum(len(chunk) for chunk in REST_CHUNKS)
CHUNK_PAUSE = 0.005
RELEASE_POLL = 0.01
# Bounded, so a test that never releases cannot hang a server worker forever.
RELEASE_TIMEOUT = 15.0


def released(path: str | None) -> bool:
    """Whether the test has released the stream (no path: release at once)."""
    return not path or os.path.exists(path)
