"""``sstrack check`` and ``sstrack replay``: output, exit codes, secrets, live and dead brokers."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import uuid
from pathlib import Path

import orjson
import pytest

pytest.register_assert_rewrite("tests.kafka_broker")

from sstrack.__main__ import main  # noqa: E402
from sstrack.sinks import build_sink  # noqa: E402
from sstrack.spool import Spool, sink_directory  # noqa: E402
from tests.kafka_broker import KafkaBroker, consume_all  # noqa: E402
from tests.servers import read_events  # noqa: E402

pytest_plugins = ["tests.kafka_broker"]  # the kafka_broker fixture
pytestmark = pytest.mark.timeout(60)

SECRET = "hunter2-secret"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(count: int) -> list[bytes]:
    return [orjson.dumps({"schema": "sstrack.event/1", "event_id": str(uuid.uuid4()),
                          "event": "request", "timestamp": "2026-11-22T07:06:46.059Z",
                          "visitor_id": f"v{n % 3}", "n": n}) for n in range(count)]


def _spool_and_die(root: str, sink_name: str, lines: list[bytes]) -> None:
    spool = Spool(root, sink_name, fsync="always")
    spool.open()
    spool.append(lines)
    os._exit(0)  # as if killed: the segment is left for whoever comes next


def spool_of_dead_process(root: Path, url: str, lines: list[bytes]) -> Path:
    """A spool left by a process that died; returns the sink's spool directory."""
    name = build_sink(url, dict(os.environ)).name
    child = multiprocessing.get_context("fork").Process(
        target=_spool_and_die, args=(str(root), name, lines))
    child.start()
    child.join(10)
    return Path(sink_directory(str(root), name))


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


# -- check -----------------------------------------------------------------------------------


def test_check_writes_and_removes_a_test_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SSTRACK_SINKS", f"jsonl:{tmp_path / 'events'} stdout:")
    monkeypatch.setenv("SSTRACK_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("SSTRACK_DEAD_LETTER_DIR", str(tmp_path / "dead"))
    assert main(["check"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"ok   jsonl:{tmp_path / 'events'}: test event written")
    assert out[1] == "ok   stdout:: nothing to connect to"
    assert out[2].startswith(f"ok   spool: {tmp_path / 'spool'} is writable")
    assert out[3] == f"ok   dead letters: {tmp_path / 'dead'} can be created"
    assert list((tmp_path / "events").iterdir()) == []  # nothing left for readers


def test_check_rejects_an_invalid_configuration(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SSTRACK_SINKS", f"ftp://user:{SECRET}@x")
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "SSTRACK_SINKS" in err and "unknown scheme" in err and SECRET not in err


def test_check_fails_on_a_spool_it_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("SSTRACK_SINKS", "stdout:")
    monkeypatch.setenv("SSTRACK_SPOOL_DIR", str(blocker / "spool"))
    assert main(["check"]) == 1
    assert f"FAIL spool: cannot create {blocker / 'spool'}" in capsys.readouterr().err


def test_check_delivers_a_test_event_to_a_live_broker(
        kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    topic = f"check-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, 1)
    monkeypatch.setenv("SSTRACK_SINKS", f"kafka://{kafka_broker.bootstrap}/{topic}")
    assert main(["check", "--timeout", "10"]) == 0
    assert f"test event delivered to topic {topic!r}" in capsys.readouterr().out
    [message] = consume_all(kafka_broker.bootstrap, topic, 1, timeout=10)
    assert json.loads(message.value)["event"] == "sstrack.check"


def test_check_names_an_unreachable_broker_and_hides_secrets(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    monkeypatch.setenv("SSTRACK_SINKS", f"kafka://127.0.0.1:{port}/t?sasl.password={SECRET}")
    monkeypatch.setenv("SSTRACK_KAFKA_SASL_USERNAME", "me")
    monkeypatch.setenv("SSTRACK_KAFKA_SSL_KEY_PASSWORD", SECRET + "2")
    assert main(["check", "--timeout", "2"]) == 1
    captured = capsys.readouterr()
    assert f"FAIL kafka://127.0.0.1:{port}/t?sasl.password=***: broker 127.0.0.1:{port} " \
           "unreachable" in captured.err
    assert SECRET not in captured.out + captured.err


# -- replay ----------------------------------------------------------------------------------


def test_replay_delivers_a_dead_processes_spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    url = f"jsonl:{tmp_path / 'events'}"
    monkeypatch.setenv("SSTRACK_SINKS", url)
    lines = events(50)
    directory = spool_of_dead_process(tmp_path / "spool", url, lines)
    assert len(segment_files(directory)) == 1
    assert main(["replay", str(tmp_path / "spool")]) == 0
    assert "replayed 50 events, dead-lettered 0, 0 left in the spool" in capsys.readouterr().out
    assert read_events(tmp_path / "events") == [orjson.loads(line) for line in lines]
    assert segment_files(directory) == []
    assert main(["replay", str(tmp_path / "spool")]) == 0  # again: nothing left to do


def test_replay_reports_a_spool_for_an_unconfigured_sink(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    spool_of_dead_process(tmp_path / "spool", "kafka://127.0.0.1:9/old-topic", events(3))
    monkeypatch.setenv("SSTRACK_SINKS", f"jsonl:{tmp_path / 'events'}")
    assert main(["replay", str(tmp_path / "spool")]) == 1
    assert "holds events for a sink not in SSTRACK_SINKS" in capsys.readouterr().err
    assert main(["replay"]) == 2  # no directory given and no SSTRACK_SPOOL_DIR


def test_replay_keeps_the_spool_while_the_broker_is_down_then_delivers(
        tmp_path: Path, kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    topic = f"replay-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, 2)
    url = f"kafka://{kafka_broker.bootstrap}/{topic}"
    monkeypatch.setenv("SSTRACK_SINKS", url)
    monkeypatch.setenv("SSTRACK_KAFKA_RECONNECT_BACKOFF_MAX_MS", "200")
    lines = events(200)
    directory = spool_of_dead_process(tmp_path / "spool", url, lines)
    kafka_broker.stop()
    try:
        assert main(["replay", str(tmp_path / "spool"), "--timeout", "2"]) == 1
    finally:
        kafka_broker.start()
    err = capsys.readouterr().err
    assert "FAIL" in err and "200 left in the spool" in err
    assert segment_files(directory)  # still there for the next attempt
    assert main(["replay", str(tmp_path / "spool"), "--timeout", "30"]) == 0
    assert "replayed 200 events" in capsys.readouterr().out
    got = consume_all(kafka_broker.bootstrap, topic, 200, timeout=20, settle=0.5)
    assert sorted(message.value for message in got) == sorted(lines)
    assert segment_files(directory) == []
