from __future__ import annotations

import pathlib
import re

import pytest

import sstrack
from sstrack.config import OPTIONS, Config, ConfigError
from sstrack.proxy import ProxyTrust

README = pathlib.Path(__file__).parent.parent / "README.md"


def test_defaults(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = Config.load({}, {})
    assert config.sinks == ("jsonl:./sstrack-events",)
    assert (config.cookie_name, config.session_cookie_name) == ("sst_id", "sst_ses")
    assert config.cookie_max_age == 2 * 365 * 24 * 3600
    assert config.session_timeout == 1800
    assert not config.trusted_proxies.enabled
    assert config.queue_full == "drop_oldest"
    assert (tmp_path / "sstrack-events").is_dir()  # validated and created at start-up


def test_keyword_beats_environment_beats_default() -> None:
    env = {"SSTRACK_COOKIE_NAME": "from_env", "SSTRACK_SESSION_TIMEOUT": "600",
           "SSTRACK_SINKS": "memory: stdout:"}
    config = Config.load({"cookie_name": "from_kwarg"}, env)
    assert config.cookie_name == "from_kwarg"
    assert config.session_timeout == 600
    assert config.sinks == ("memory:", "stdout:")


@pytest.mark.parametrize(("env", "field", "value"), [
    ({"SSTRACK_ENABLED": "off"}, "enabled", False),
    ({"SSTRACK_COOKIE_SECURE": "YES"}, "cookie_secure", True),
    ({"SSTRACK_TRUSTED_PROXIES": "2"}, "trusted_proxies", ProxyTrust(hops=2)),
    ({"SSTRACK_QUEUE_FULL": "DROP_NEWEST"}, "queue_full", "drop_newest"),
    ({"SSTRACK_FLUSH_INTERVAL": "0.25"}, "flush_interval", 0.25),
    ({"SSTRACK_COOKIE_DOMAIN": ""}, "cookie_domain", None),
])
def test_environment_parsing(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(Config.load({"sinks": "memory:"}, env), field) == value


def test_every_problem_is_reported_at_once(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    env = {"SSTRACK_SESSION_TIMEOUT": "soon", "SSTRACK_QUEUE_FULL": "block",
           "SSTRACK_SINKS": f"ftp://x jsonl:{blocker}/sub"}
    with pytest.raises(ConfigError) as caught:
        Config.load({"cookie_name": "bad name", "colour": "blue"}, env)
    problems = caught.value.problems
    text = str(caught.value)
    assert len(problems) == 6, problems
    assert "SSTRACK_SESSION_TIMEOUT 'soon'" in text
    assert "SSTRACK_QUEUE_FULL 'block': expected one of drop_oldest, drop_newest" in text
    assert "unknown option 'colour'" in text
    assert "cookie_name" in text
    assert "SSTRACK_SINKS 'ftp://x'" in text and "jsonl:" in text
    assert f"SSTRACK_SINKS 'jsonl:{blocker}/sub'" in text


def test_unknown_keyword_suggests_the_right_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'cookie_name'"):
        Config.load({"cookie_nme": "x", "sinks": "memory:"}, {})


def test_unknown_variable_warns_with_a_suggestion(caplog: pytest.LogCaptureFixture) -> None:
    Config.load({"sinks": "memory:"}, {"SSTRACK_SINK": "memory:"})
    assert "SSTRACK_SINK" in caplog.text and "did you mean SSTRACK_SINKS" in caplog.text


def test_unwritable_directory_fails_at_start_up() -> None:
    # /proc refuses new directories even to root, so this holds in any container.
    with pytest.raises(ConfigError, match="cannot create directory '/proc/sstrack'"):
        Config.load({"sinks": "jsonl:/proc/sstrack"}, {})


def test_middleware_fails_fast_on_bad_options() -> None:
    from sstrack.asgi import TrackingMiddleware

    with pytest.raises(ConfigError, match="batch_size"):
        TrackingMiddleware(lambda *a: None, sinks="memory:", batch_size=0)  # type: ignore[arg-type]


def test_middleware_fails_fast_on_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from sstrack.wsgi import TrackingMiddleware

    monkeypatch.setenv("SSTRACK_SINKS", "nowhere:")
    with pytest.raises(ConfigError, match="SSTRACK_SINKS 'nowhere:'"):
        TrackingMiddleware(lambda e, s: [])


def test_configure_with_same_settings_keeps_the_worker() -> None:
    sstrack.configure(sinks="memory:")
    from sstrack import runtime

    first = runtime._current
    sstrack.configure(sinks="memory:")
    assert runtime._current is first
    sstrack.configure(sinks="memory:other")
    assert runtime._current is not first


def test_options_and_config_fields_agree() -> None:
    fields = [f for f in Config.__dataclass_fields__ if f != "environ"]
    assert fields == [option.name for option in OPTIONS]


def test_readme_documents_every_option() -> None:
    text = README.read_text()
    for option in OPTIONS:
        assert re.search(rf"\|\s*`{option.env}`\s*\|", text), option.env


def test_sink_errors_never_echo_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.load({"sinks": "kafka://h:bad/t?sasl.password=SECRETXYZ"}, {})
    assert "SECRETXYZ" not in str(caught.value)
    assert "SSTRACK_SINKS" in str(caught.value)


def test_unknown_scheme_errors_never_echo_a_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.load({"sinks": "ftp://user:hunter2@example.com/x"}, {})
    assert "hunter2" not in str(caught.value) and "unknown scheme" in str(caught.value)
