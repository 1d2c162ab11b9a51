"""The examples, started on 127.0.0.1 as ``docs/frameworks.md`` says, visited, events read.

Each visit is a page, a product, a login (``identify``), the account page and
a purchase (``track``), by one browser that keeps its cookies. The FastAPI
and Flask examples also run through their frameworks' test clients.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from sstrack.pytest_plugin import CapturedEvents, capture_events

from .servers import (
    ROOT_DIR,
    Event,
    Server,
    server_env,
    start_gunicorn,
    start_runserver,
    start_uvicorn,
    stop_process_group,
)

pytestmark = pytest.mark.timeout(90)

EXAMPLES = ROOT_DIR / "examples"
MANAGE = EXAMPLES / "django_site" / "manage.py"
PURCHASE = {"order": "A-17", "total": 42.5}


def browse(server: Server, visit: list[tuple[str, str, dict[str, Any]]]) -> str:
    """Make the requests of ``visit`` as one browser; returns its User-Agent."""
    agent = f"sstrack-example/{uuid.uuid4().hex}"
    with httpx.Client(base_url=server.url(), headers={"User-Agent": agent}, timeout=10,
                      follow_redirects=True) as client:
        for method, target, options in visit:
            if options.get("data", {}).get("csrfmiddlewaretoken") == "":
                options["data"]["csrfmiddlewaretoken"] = client.cookies["csrftoken"]
            response = client.request(method, target, **options)
            assert response.status_code == 200, (target, response.text[:500])
    return agent


def events_of(server: Server, agent: str, requests: int) -> tuple[list[Event], dict[str, Event]]:
    """The visit's request events, and its custom events by name; all of one visitor."""
    def mine(event: Event) -> bool:
        return event["user_agent"] == agent

    server.wait_for_events(mine, count=requests + 2)
    events = server.events(mine)
    found = [e for e in events if e["event"] == "request"]
    custom = {e["event"]: e for e in events if e["event"] != "request"}
    assert len(found) == requests and sorted(custom) == ["identify", "purchase"], events
    assert len({(e["visitor_id"], e["session_id"]) for e in events}) == 1
    assert custom["purchase"]["properties"] == PURCHASE
    return found, custom


def routes_and_users(requests: list[Event]) -> list[tuple[str | None, str | None]]:
    return [(e["route"], e["user_id"]) for e in requests]


def test_fastapi_example_under_uvicorn(tmp_path: Path) -> None:
    server = start_uvicorn("fastapi_app:app", tmp_path, "--app-dir", str(EXAMPLES))
    try:
        agent = browse(server, [
            ("GET", "/", {}), ("GET", "/products/3", {}),
            ("POST", "/login", {"json": {"username": "ada"}}), ("GET", "/account", {}),
            ("POST", "/purchase", {"json": PURCHASE})])
        requests, custom = events_of(server, agent, 5)
    finally:
        server.stop()
    assert routes_and_users(requests) == [
        ("/", None), ("/products/{product_id}", None), ("/login", "ada"), ("/account", "ada"),
        ("/purchase", "ada")]
    assert custom["identify"]["user_id"] == "ada"


def test_flask_example_under_gunicorn(tmp_path: Path) -> None:
    server = start_gunicorn("flask_app:app", tmp_path, "--chdir", str(EXAMPLES))
    try:
        agent = browse(server, [
            ("GET", "/", {}), ("GET", "/products/3", {}),
            ("POST", "/login", {"data": {"username": "ada"}}),  # redirected to /account
            ("POST", "/purchase", {"data": PURCHASE})])
        requests, _ = events_of(server, agent, 5)
    finally:
        server.stop()
    assert routes_and_users(requests) == [
        ("/", None), ("/products/<int:product_id>", None), ("/login", "ada"),
        ("/account", "ada"), ("/purchase", "ada")]
    assert requests[2]["status"] == 302


def test_django_example_under_runserver_with_autoreload(tmp_path: Path) -> None:
    env = {"DJANGO_DB": str(tmp_path / "db.sqlite3"), "DJANGO_SETTINGS_MODULE": "shop.settings"}
    subprocess.run([sys.executable, str(MANAGE), "migrate", "--verbosity", "0"], check=True,
                   env=server_env(tmp_path / "events", env), timeout=60)
    server = start_runserver(MANAGE, tmp_path, env=env)
    try:
        agent = browse(server, [  # an empty csrfmiddlewaretoken: browse() fills it in
            ("GET", "/", {}), ("GET", "/products/3/", {}), ("GET", "/login/", {}),
            ("POST", "/login/", {"data": {"username": "ada", "csrfmiddlewaretoken": ""}}),
            ("POST", "/purchase/", {"data": {**PURCHASE, "csrfmiddlewaretoken": ""}})])
        requests, custom = events_of(server, agent, 6)
    finally:
        stop_process_group(server.process)  # the autoreloader's child too
    ada = custom["identify"]["user_id"]
    assert ada is not None
    assert routes_and_users(requests) == [
        ("", None), ("products/<int:product_id>/", None), ("login/", None), ("login/", ada),
        ("account/", ada), ("purchase/", ada)]


# -- the same examples through their frameworks' test clients ------------------------------


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def events() -> Iterator[CapturedEvents]:
    with capture_events() as captured:
        yield captured


def test_fastapi_example_with_its_test_client(events: CapturedEvents) -> None:
    from starlette.testclient import TestClient

    with TestClient(load_example("fastapi_app").app) as client:
        client.post("/login", json={"username": "ada"})
        assert client.get("/account").json() == {"user": "ada"}
        client.post("/purchase", json=PURCHASE)
    assert events.one(event="purchase")["properties"] == PURCHASE
    assert events.one(event="request", path="/purchase")["user_id"] == "ada"
    assert events.one(event="request", path="/account")["route"] == "/account"


def test_flask_example_with_its_test_client(events: CapturedEvents) -> None:
    client = load_example("flask_app").app.test_client()  # imported here: the sink is ours
    client.post("/login", data={"username": "ada"}, follow_redirects=True)
    client.post("/purchase", data=PURCHASE)
    assert events.one(event="purchase")["properties"] == PURCHASE
    assert events.one(event="request", path="/purchase")["user_id"] == "ada"
    assert events.one(event="request", path="/account")["user_id"] == "ada"
