"""sstrack ships py.typed: user code that adds it the documented ways must type-check."""

from __future__ import annotations

import pathlib

from mypy import api

USER_CODE = '''
from fastapi import FastAPI
from flask import Flask
import sstrack
from sstrack.asgi import TrackingMiddleware as AsgiTracking
from sstrack.wsgi import TrackingMiddleware as WsgiTracking

api = FastAPI()
api.add_middleware(AsgiTracking, sinks="memory:")
web = Flask(__name__)
web.wsgi_app = WsgiTracking(web.wsgi_app)  # type: ignore[method-assign]
sstrack.track("purchase", {"total": 1.5}, user_id="7")
ok: bool = sstrack.flush(timeout=1.0)
counters: dict[str, object] = sstrack.stats()
'''


def test_documented_usage_type_checks_strictly(tmp_path: pathlib.Path) -> None:
    source = tmp_path / "user_app.py"
    source.write_text(USER_CODE)
    out, err, status = api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path),
                                str(source)])
    assert status == 0, out + err
