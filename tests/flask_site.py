"""A Flask app built by a factory, with ``SSTrack`` and Flask-Login, for the Flask tests.

gunicorn serves it as ``tests.flask_site:create_app()``. ``LOADS`` counts the
user loader's calls, so a test can tell that sstrack caused none.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, stream_with_context
from flask_login import LoginManager, UserMixin, current_user, login_user

import sstrack
from sstrack.flask import SSTrack

__all__ = ["LOADS", "USERS", "User", "create_app", "tracking"]


class User(UserMixin):
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


USERS = {"7": User("7", "ada")}
LOADS: list[str] = []

tracking = SSTrack()  # one extension object, many apps: the factory pattern
login_manager = LoginManager()


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    LOADS.append(user_id)  # stands for the database query a real loader makes
    return USERS.get(user_id)


def create_app(**config: Any) -> Flask:
    """A new app; ``config`` goes into ``app.config`` before the extensions see it."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY="tests-only", **config)
    tracking.init_app(app)
    login_manager.init_app(app)

    @app.get("/")
    def home() -> str:
        return "home"  # never touches current_user

    @app.get("/articles/<int:year>")
    def article(year: int) -> str:
        return f"articles of {year}"

    @app.get("/login/<user_id>")
    def log_in(user_id: str) -> str:
        user = USERS[user_id]
        login_user(user)
        sstrack.identify(user.id, {"plan": "pro"})
        return "welcome"

    @app.get("/me")
    def me() -> str:
        return str(current_user.name) if current_user.is_authenticated else "anonymous"

    @app.get("/purchase")
    def purchase() -> str:
        sstrack.track("purchase", {"order": "A-17", "total": 42.5})
        return "thanks"

    @app.get("/thread")
    def in_thread() -> str:
        def work() -> None:
            sstrack.identify("thread-user")
            sstrack.track("from_thread", {"n": 1})

        worker = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        worker.start()
        worker.join(10)
        return "done"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/stream-me")
    def stream_me() -> Response:
        def chunks() -> Iterator[str]:
            yield "hello "
            yield str(current_user.name)  # loaded while the server iterates

        return Response(stream_with_context(chunks()))

    return app
