"""sstrack with FastAPI: page views, a login calling ``identify``, a purchase calling ``track``.

    pip install -e . fastapi uvicorn itsdangerous && python examples/fastapi_app.py

then open http://127.0.0.1:8000/docs and try the endpoints. Events land in
``./sstrack-events`` (the default JSON-lines sink; set ``SSTRACK_SINKS`` to
send them elsewhere). In production run ``uvicorn --app-dir examples fastapi_app:app``.

Each request event carries ``route`` (the path template, ``/products/{product_id}``)
and, once the visitor has logged in, ``user_id``: Starlette's
``AuthenticationMiddleware`` puts the user in the scope and sstrack reads it there.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection

import sstrack
from sstrack.asgi import TrackingMiddleware

__all__ = ["app"]


class SessionUser(AuthenticationBackend):
    """The user that ``/login`` stored in the (signed) session cookie."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        username = conn.session.get("user")
        return (AuthCredentials(["authenticated"]), SimpleUser(username)) if username else None


class Login(BaseModel):
    username: str


class Purchase(BaseModel):
    order: str
    total: float


app = FastAPI(title="sstrack shop")
# add_middleware puts each one outside the ones added before: sstrack ends up
# outermost and sees the finished response, the route and the user.
app.add_middleware(AuthenticationMiddleware, backend=SessionUser())
app.add_middleware(SessionMiddleware, secret_key=os.environ.get("SECRET_KEY", "change-me"))
app.add_middleware(TrackingMiddleware)  # options as keywords, or SSTRACK_* variables


@app.get("/")
async def home() -> dict[str, str]:
    return {"page": "home"}


@app.get("/products/{product_id}")
async def product(product_id: int) -> dict[str, Any]:
    return {"page": "product", "product_id": product_id}


@app.post("/login")
async def login(body: Login, request: Request) -> dict[str, str]:
    request.session["user"] = body.username
    sstrack.identify(body.username, {"plan": "pro"})  # links this visitor to the user
    return {"welcome": body.username}


@app.get("/account")
async def account(request: Request) -> dict[str, Any]:
    return {"user": request.user.display_name if request.user.is_authenticated else None}


@app.post("/purchase")
async def purchase(body: Purchase) -> dict[str, str]:
    sstrack.track("purchase", {"order": body.order, "total": body.total})
    return {"thanks": body.order}


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
