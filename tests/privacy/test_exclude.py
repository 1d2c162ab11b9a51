"""Exclusions: paths, methods and a hook."""

from __future__ import annotations

import pytest

from sstrack.privacy.exclude import DEFAULT_EXCLUDED_PATHS, Exclusions

DEFAULT = Exclusions()


@pytest.mark.parametrize(
    ("method", "path", "excluded"),
    [
        ("GET", "/", False),
        ("GET", "/pricing", False),
        ("POST", "/checkout", False),
        ("HEAD", "/", False),  # tracked by default; see DEFAULT_EXCLUDED_METHODS
        ("OPTIONS", "/api/items", True),
        ("options", "/api/items", False),  # methods are case-sensitive on the wire
        ("GET", "/static/app.3f9a.js", True),
        ("GET", "/static/", True),
        ("GET", "/static", False),
        ("GET", "/staticpage", False),
        ("GET", "/assets/logo.svg", True),
        ("GET", "/favicon.ico", True),
        ("GET", "/favicon.ico/x", False),
        ("GET", "/apple-touch-icon.png", True),
        ("GET", "/apple-touch-icon-152x152-precomposed.png", True),
        ("GET", "/health", True),
        ("GET", "/health/ready", True),
        ("GET", "/healthz", True),
        ("GET", "/livez", True),
        ("GET", "/readyz", True),
        ("GET", "/ping", True),
        ("GET", "/metrics", True),
        ("GET", "/healthy-recipes", False),
        ("GET", "/robots.txt", False),  # crawler visits are worth seeing
        ("GET", "/sitemap.xml", False),
        ("GET", "/blog/static-site-generators", False),
        ("GET", "/HEALTH", False),  # paths are case-sensitive
    ],
)
def test_defaults(method: str, path: str, excluded: bool) -> None:
    assert DEFAULT.excluded(method, path) is excluded


CUSTOM = Exclusions(
    paths=("/internal/*", "*.map", "/api/v[0-9]/ping", "re:^/admin(/|$)", "re:\\.php$",
           "/exact"),
    methods=("options", "HEAD"),
)


@pytest.mark.parametrize(
    ("method", "path", "excluded"),
    [
        ("GET", "/internal/jobs", True),
        ("GET", "/static/app.js", False),  # defaults replaced
        ("GET", "/js/app.js.map", True),
        ("GET", "/js/app.js.mapx", False),
        ("GET", "/api/v2/ping", True),
        ("GET", "/api/v10/ping", False),
        ("GET", "/admin", True),
        ("GET", "/admin/users", True),
        ("GET", "/administrator-guide", False),
        ("GET", "/wp-login.php", True),
        ("GET", "/exact", True),
        ("GET", "/exact/", False),
        ("HEAD", "/", True),
        ("OPTIONS", "/", True),  # configured lower-case, upper-cased once
        ("GET", "/", False),
    ],
)
def test_custom_patterns(method: str, path: str, excluded: bool) -> None:
    assert CUSTOM.excluded(method, path) is excluded


def test_extra_paths_add_to_the_defaults() -> None:
    exclusions = Exclusions(extra_paths=("/media/*",))
    assert exclusions.excluded("GET", "/media/a.jpg")
    assert exclusions.excluded("GET", "/favicon.ico")


def test_nothing_excluded() -> None:
    none = Exclusions(paths=(), methods=())
    assert not any(none.excluded(m, p) for m in ("GET", "OPTIONS") for p in DEFAULT_EXCLUDED_PATHS)


def test_hook_is_consulted_last() -> None:
    calls: list[tuple[str, str]] = []

    def hook(method: str, path: str) -> bool:
        calls.append((method, path))
        return path.startswith("/preview/")

    exclusions = Exclusions(hook=hook)
    assert exclusions.excluded("GET", "/preview/draft-1")
    assert not exclusions.excluded("GET", "/post/1")
    assert exclusions.excluded("GET", "/favicon.ico")
    assert calls == [("GET", "/preview/draft-1"), ("GET", "/post/1")]


def test_a_failing_hook_means_tracked() -> None:
    def broken(method: str, path: str) -> bool:
        raise RuntimeError("boom")

    assert Exclusions(hook=broken).excluded("GET", "/") is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"paths": ("",)},
        {"paths": ("re:",)},
        {"paths": ("re:(unclosed",)},
        {"paths": "/static/*"},
        {"methods": "OPTIONS"},
        {"extra_paths": (None,)},
    ],
)
def test_bad_patterns_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Exclusions(**kwargs)  # type: ignore[arg-type]
