"""sstrack with Flask: page views, a login that calls ``identify``, a purchase that calls ``track``.

    pip install -e . flask flask-login && python examples/flask_app.py

then open http://127.0.0.1:5000/. Events land in ``./sstrack-events`` (the
default JSON-lines sink; ``SSTRACK_SINKS`` or ``app.config["SSTRACK_SINKS"]``
send them elsewhere). In production run ``gunicorn --chdir examples flask_app:app``.

Each request event carries ``route`` (``/products/<int:product_id>``) and,
when the page used Flask-Login's ``current_user`` (``login_required`` does),
``user_id``; sstrack never loads the user itself.
"""

from __future__ import annotations

import os

from flask import Flask, redirect, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from werkzeug.wrappers import Response

import sstrack
from sstrack.flask import SSTrack

__all__ = ["app", "create_app"]


class User(UserMixin):
    """A user of the demo shop; a real app loads these from its database."""

    def __init__(self, user_id: str) -> None:
        self.id = user_id


login_manager = LoginManager()
login_manager.login_view = "login"
tracking = SSTrack()


@login_manager.user_loader
def load_user(user_id: str) -> User:
    return User(user_id)


PAGE = """<!doctype html><title>sstrack shop</title><p>{body}</p>
<form method=post action=/login><input name=username value=ada><button>Log in</button></form>
<form method=post action=/purchase><input name=order value=A-17>
<input name=total value=42.5><button>Buy</button></form>"""


def create_app() -> Flask:
    """The application factory: extensions are created once and bound to each app."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "change-me")
    app.config.setdefault("SSTRACK_SESSION_TIMEOUT", 1800)  # any SSTRACK_* option fits here
    tracking.init_app(app)
    login_manager.init_app(app)

    @app.get("/")
    def home() -> str:
        return PAGE.format(body="Welcome to the shop.")

    @app.get("/products/<int:product_id>")
    def product(product_id: int) -> str:
        return PAGE.format(body=f"Product {product_id}")

    @app.route("/login", methods=["GET", "POST"])
    def login() -> str | Response:
        if request.method == "GET":
            return PAGE.format(body="Please log in.")
        user = User(request.form["username"])
        login_user(user)
        sstrack.identify(user.id, {"plan": "pro"})  # links this visitor to the user
        return redirect(url_for("account"))

    @app.get("/account")
    @login_required
    def account() -> str:
        return PAGE.format(body=f"Logged in as {current_user.id}")

    @app.post("/purchase")
    @login_required
    def purchase() -> str:
        sstrack.track("purchase", {"order": request.form["order"],
                                   "total": float(request.form["total"])})
        return PAGE.format(body=f"Thanks for order {request.form['order']}")

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
