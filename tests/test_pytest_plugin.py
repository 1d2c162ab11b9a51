"""The ``sstrack_events`` fixture, run the way users run it: small test files under pytester.

Each run loads the plugin with ``-p sstrack.pytest_plugin`` and plugin
autoloading off, so it is loaded exactly once whether or not the installed
package has registered its ``pytest11`` entry point yet.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.timeout(90)

ARGS = ("-p", "sstrack.pytest_plugin", "-p", "no:cacheprovider", "-q")


@pytest.fixture(autouse=True)
def _only_our_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def test_starlette_test_client(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=textwrap.dedent('''
        import pytest
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient

        import sstrack
        from sstrack.asgi import TrackingMiddleware

        async def buy(request):
            sstrack.track("purchase", {"item": request.path_params["item"]})
            return PlainTextResponse("thanks")

        app = Starlette(routes=[Route("/buy/{item}", buy)],
                        middleware=[Middleware(TrackingMiddleware)])

        def test_purchase(sstrack_events):
            with TestClient(app) as client:
                assert client.get("/buy/7").text == "thanks"
            request = sstrack_events.one(event="request")
            purchase = sstrack_events.one(event="purchase", properties={"item": "7"})
            assert request["route"] == "/buy/{item}" and request["status"] == 200
            assert purchase["visitor_id"] == request["visitor_id"]
            assert sstrack_events.find(event="request", path="/elsewhere") == []

        def test_each_test_starts_empty_and_clear_empties(sstrack_events):
            assert sstrack_events.all() == []
            sstrack.track("one")
            assert len(sstrack_events.all()) == 1
            sstrack_events.clear()
            assert sstrack_events.all() == []

        def test_strict_mode(sstrack_events):
            with pytest.raises(ValueError, match="event name"):
                sstrack.track("request")

        def test_one_explains_a_miss(sstrack_events):
            sstrack.track("login")
            sstrack_events.one(event="purchase", path="/cart")
    '''))
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=3, failed=1)
    assert ("AssertionError: expected one event matching event='purchase', path='/cart', "
            "found 0; tracked (event, path, status): [('login', None, None)]"
            ) in result.stdout.str()


def test_flask_test_client_needs_no_close(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=textwrap.dedent('''
        import flask
        import sstrack
        from sstrack.flask import SSTrack

        def create_app():
            app = flask.Flask(__name__)
            SSTrack(app, sinks="jsonl:never-written")  # the fixture keeps its own sink

            @app.post("/checkout")
            def checkout():
                sstrack.track("purchase", {"order": "A-17"})
                return "ok"

            @app.get("/stream")
            def stream():
                return flask.Response(iter([b"a", b"bc"]))

            @app.get("/old")
            def old():
                return flask.redirect("/stream")

            return app

        def test_unread_response(sstrack_events):
            create_app().test_client().post("/checkout")  # never read, never closed
            request = sstrack_events.one(event="request")
            assert (request["route"], request["status"], request["outcome"]) == (
                "/checkout", 200, "completed")
            assert sstrack_events.one(event="purchase")["visitor_id"] == request["visitor_id"]

        def test_streamed_response_stays_readable(sstrack_events):
            response = create_app().test_client().get("/stream")
            assert sstrack_events.one(event="request")["response_bytes"] == 3
            assert response.data == b"abc"

        def test_closed_by_the_test_and_redirects(sstrack_events):
            client = create_app().test_client()
            with client.get("/stream") as response:
                assert response.data == b"abc"
            client.get("/old", follow_redirects=True)
            assert [(e["path"], e["status"]) for e in sstrack_events.find(event="request")] == [
                ("/stream", 200), ("/old", 302), ("/stream", 200)]
            assert not list(__import__("pathlib").Path().glob("never-written/**/*.jsonl"))
    '''))
    pytester.runpytest(*ARGS).assert_outcomes(passed=3)


def test_configuration_is_restored(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_config=textwrap.dedent('''
        import sstrack
        from sstrack import runtime
        from sstrack.sinks import memory

        before = {}

        def test_a_configured_process():
            sstrack.configure(sinks="memory:outside", cookie_name="outside")
            before["tracker"] = runtime._current

        def test_b_inside(sstrack_events):
            assert runtime._current is not before["tracker"]
            assert runtime._current.config.cookie_name == "outside"  # kept, with our sink
            sstrack.configure(cookie_name="inside")  # the app's options, the fixture's sink
            assert runtime._current.config.cookie_name == "inside"
            sstrack.track("inside")
            assert [e["event"] for e in sstrack_events.all()] == ["inside"]

        def test_c_restored_and_still_working():
            assert runtime._current is before["tracker"]
            sstrack.track("after")
            assert sstrack.flush(5)
            assert [e["event"] for e in memory.events("outside")] == ["after"]
    '''))
    pytester.runpytest(*ARGS).assert_outcomes(passed=3)


DJANGO_SETTINGS = '''
    SECRET_KEY = "tests"
    ALLOWED_HOSTS = ["*"]
    ROOT_URLCONF = "shop_urls"
    INSTALLED_APPS = []
    DATABASES = {}
    MIDDLEWARE = ["sstrack.django.TrackingMiddleware"]
    SSTRACK = {"sinks": "jsonl:never-written", "cookie_name": "shop_vid"}
'''

DJANGO_URLS = '''
    from django.http import HttpResponse
    from django.urls import path

    import sstrack

    def buy(request, item):
        sstrack.track("purchase", {"item": item})
        return HttpResponse("thanks")

    async def abuy(request, item):
        sstrack.track("purchase", {"item": item})
        return HttpResponse("thanks")

    def mistake(request):
        sstrack.track("request")  # a reserved name
        return HttpResponse("never")

    urlpatterns = [path("buy/<int:item>/", buy), path("abuy/<int:item>/", abuy),
                   path("mistake/", mistake)]
'''

DJANGO_TESTS = '''
    import pytest
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient, Client

    def test_purchase(sstrack_events):
        response = Client().get("/buy/7/")
        assert "shop_vid" in response.cookies  # the project's other settings still apply
        request = sstrack_events.one(event="request")
        assert (request["route"], request["status"]) == ("buy/<int:item>/", 200)
        purchase = sstrack_events.one(event="purchase", properties={"item": 7})
        assert purchase["visitor_id"] == request["visitor_id"]

    def test_async_client(sstrack_events):
        async_to_sync(AsyncClient().get)("/abuy/8/")
        assert sstrack_events.one(event="purchase")["properties"] == {"item": 8}
        assert sstrack_events.one(event="request")["route"] == "abuy/<int:item>/"

    def test_strict_mode_reaches_the_test(sstrack_events):
        with pytest.raises(ValueError, match="event name"):
            Client().get("/mistake/")
'''


def test_django_test_clients(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # A process of its own: Django's settings are set up once per process.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "shop_settings")
    monkeypatch.setenv("PYTHONPATH", str(pytester.path), prepend=":")
    pytester.makepyfile(
        shop_settings=textwrap.dedent(DJANGO_SETTINGS),
        shop_urls=textwrap.dedent(DJANGO_URLS),
        conftest="import django\n\ndef pytest_configure():\n    django.setup()\n",
        test_shop=textwrap.dedent(DJANGO_TESTS))
    result = pytester.runpytest_subprocess(*ARGS, timeout=60)
    result.assert_outcomes(passed=3)
