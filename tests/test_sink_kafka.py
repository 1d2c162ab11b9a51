"""KafkaSink: URL and environment parsing, then behaviour against a real tansu broker."""

from __future__ import annotations

import contextlib
import os
import pathlib
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import pytest

pytest.register_assert_rewrite("tests.kafka_broker")  # imported here before pytest_plugins loads it

from confluent_kafka import KafkaError, Message  # noqa: E402

from sstrack.event import SCHEMA, rfc3339  # noqa: E402
from sstrack.sinks.base import Batch, Sink  # noqa: E402
from sstrack.sinks.kafka import DEFAULTS, KafkaSink, parse_url  # noqa: E402
from tests.kafka_broker import KafkaBroker, consume_all  # noqa: E402

pytest_plugins = ["tests.kafka_broker"]  # the kafka_broker fixture
pytestmark = pytest.mark.timeout(60)

SECRET = "hunter2-secret"


def events(count: int, visitors: Sequence[str | None] = ("v1", "v2", "v3")) -> Batch:
    start = time.time()
    items = [{"event_id": str(uuid.uuid4()), "event": "pageview" if i % 2 else "click",
              "timestamp": rfc3339(start + i / 1000), "visitor_id": visitors[i % len(visitors)],
              "schema": SCHEMA, "path": f"/page/{i}"} for i in range(count)]
    return Batch(items, [orjson.dumps(item) for item in items])


def new_topic(broker: KafkaBroker, partitions: int = 3) -> str:
    topic = f"t-{uuid.uuid4().hex[:12]}"
    broker.create_topic(topic, partitions)
    return topic


@pytest.fixture
def sinks() -> Iterator[list[KafkaSink]]:
    """Sinks a test opens; each is closed afterwards, so no producer outlives its test."""
    made: list[KafkaSink] = []
    yield made
    for sink in made:
        sink.close(0)


def sink_for(made: list[KafkaSink], url: str, environ: dict[str, str] | None = None,
             **kwargs: Any) -> KafkaSink:
    sink = KafkaSink(url, environ or {}, **kwargs)
    made.append(sink)
    return sink


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- configuration: no broker needed ---------------------------------------------------------


@pytest.mark.parametrize(("url", "hosts", "topic"), [
    ("kafka://127.0.0.1:9092/events", "127.0.0.1:9092", "events"),
    ("kafka://h1:9092,h2:9093/events", "h1:9092,h2:9093", "events"),
    ("kafka://broker.internal/events", "broker.internal:9092", "events"),
    ("kafka://[::1]:19092/a.b_c-D9", "[::1]:19092", "a.b_c-D9"),
    ("kafka://[fe80::1]/t", "[fe80::1]:9092", "t"),
    ("kafka://h:9092/" + "x" * 249, "h:9092", "x" * 249),
])
def test_valid_urls(url: str, hosts: str, topic: str) -> None:
    settings = parse_url(url, {})
    assert (settings.hosts, settings.topic) == (hosts, topic)
    assert settings.config["bootstrap.servers"] == hosts
    sink = KafkaSink(url, {})
    assert isinstance(sink, Sink)
    assert (sink.name, sink.topic) == (url, topic)


@pytest.mark.parametrize(("url", "problem"), [
    ("kafka:///events", "no broker host"),
    ("kafka://h:9092", "no topic"),
    ("kafka://h:9092/", "no topic"),
    ("kafka://h:abc/t", "bad port"),
    ("kafka://h:0/t", "bad port"),
    ("kafka://h:70000/t", "bad port"),
    ("kafka://h:/t", "bad port"),
    ("kafka://h:9092,/t", "'' is not a host"),
    ("kafka://::1:9092/t", "is not a host"),
    ("kafka://[::1/t", "Invalid IPv6 URL"),
    ("kafka://h/bad topic", "invalid topic name"),
    ("kafka://h/a/b", "invalid topic name"),
    ("kafka://h/..", "invalid topic name"),
    ("kafka://h/" + "x" * 250, "invalid topic name"),
    ("kafka://h/t#part", "#fragment"),
    ("kafkas://h/t", "scheme must be kafka://"),
    ("kafka://h/t?bootstrap.servers=x:1", "brokers come only from the URL"),
    ("kafka://h/t?linger.ms=1&linger.ms=2", "given twice"),
    ("kafka://h/t?error_cb=x", "not a librdkafka setting"),
    ("kafka://h/t?linger.ms", "has no value"),
    ("kafka://h/t?delivery.report.only.error=yes", "must be true or false"),
])
def test_invalid_urls_name_the_problem_and_the_variable(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match="SSTRACK_SINKS") as info:
        KafkaSink(url, {})
    assert problem in str(info.value)
    assert "kafka://host:9092" in str(info.value)  # the fix: what a valid URL looks like


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ValueError) as info:
        KafkaSink("kafka://h:x/bad topic?a.b=1&a.b=2", {"SSTRACK_KAFKA_BOOTSTRAP_SERVERS": "h:1"})
    message = str(info.value)
    for problem in ("bad port", "invalid topic", "given twice", "SSTRACK_KAFKA_BOOTSTRAP_SERVERS"):
        assert problem in message


def test_environment_maps_to_librdkafka_settings() -> None:
    environ = {"SSTRACK_KAFKA_SASL_PASSWORD": SECRET, "SSTRACK_KAFKA_COMPRESSION_TYPE": "zstd",
               "SSTRACK_KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512", "SSTRACK_KAFKA_EMPTY": "",
               "SSTRACK_KAFKA_LOG_LEVEL": "3", "SSTRACK_SINKS": "ignored", "KAFKA_LINGER_MS": "1"}
    config = parse_url("kafka://h/t", environ).config
    assert config["sasl.password"] == SECRET
    assert config["compression.type"] == "zstd"
    assert config["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert config["log_level"] == "3"  # librdkafka's one underscored setting
    assert "empty" not in config and config["linger.ms"] == DEFAULTS["linger.ms"]


@pytest.mark.parametrize(("environ", "query", "expected"), [
    ({}, "", "50"),  # sstrack's default
    ({"SSTRACK_KAFKA_LINGER_MS": "10"}, "", "10"),  # environment beats the default
    ({"SSTRACK_KAFKA_LINGER_MS": "10"}, "?linger.ms=20", "20"),  # the URL beats both
    ({}, "?linger.ms=20", "20"),
])
def test_precedence(environ: dict[str, str], query: str, expected: str) -> None:
    assert parse_url("kafka://h/t" + query, environ).config["linger.ms"] == expected


def test_defaults() -> None:
    config = parse_url("kafka://h/t", {}).config
    assert config["enable.idempotence"] == "true"
    assert config["compression.type"] in ("lz4", "zstd")
    assert int(config["message.timeout.ms"]) <= 120_000
    assert int(config["queue.buffering.max.kbytes"]) <= 65_536
    assert int(config["linger.ms"]) >= 20
    assert "acks" not in config  # idempotence implies acks=all; setting it could contradict


@pytest.mark.parametrize("query", [
    f"sasl.password={SECRET}", f"ssl.key.password={SECRET}", f"ssl.keystore.password={SECRET}",
    f"sasl.oauthbearer.client.secret={SECRET}", f"custom.token={SECRET}",
    f"sasl.oauthbearer.config=principal%3D{SECRET}",
])
def test_secrets_are_redacted_in_name(query: str) -> None:
    sink = KafkaSink(f"kafka://h:9092/t?compression.type=zstd&{query}", {})
    assert SECRET not in sink.name
    assert "compression.type=zstd" in sink.name and "=***" in sink.name


@pytest.mark.parametrize("url", [
    f"kafka://h:bad/t?sasl.password={SECRET}",
    f"kafka://user:{SECRET}@h:9092/t",
    f"kafka://user:p@{SECRET}@h:9092/t",
    f"kafka://h/t?sasl.password={SECRET}&sasl.password={SECRET}",
])
def test_secrets_are_redacted_in_errors(url: str) -> None:
    with pytest.raises(ValueError) as info:
        KafkaSink(url, {})
    assert SECRET not in str(info.value)


def test_secrets_are_redacted_when_librdkafka_rejects_settings(sinks: list[KafkaSink]) -> None:
    sink = sink_for(sinks, f"kafka://127.0.0.1:{closed_port()}/t?no.such.setting=1",
                    {"SSTRACK_KAFKA_SASL_PASSWORD": SECRET})
    with pytest.raises(ValueError, match=r"no\.such\.setting") as info:
        sink.open()
    assert SECRET not in str(info.value) and "SSTRACK_KAFKA_" in str(info.value)


def librdkafka_threads() -> int:
    """librdkafka's threads are native, so count them by name (``rdk:main``, ``rdk:broker…``)."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread may end while we look
            names.append(pathlib.Path(f"/proc/self/task/{task}/comm").read_text())
    return sum(name.startswith("rdk:") for name in names)


def test_construction_starts_nothing() -> None:
    threads = librdkafka_threads()
    sink = KafkaSink(f"kafka://127.0.0.1:{closed_port()}/t", {})
    assert librdkafka_threads() == threads
    sink.open()
    assert librdkafka_threads() > threads  # the probe does see a producer's threads
    sink.close(0)
    assert sink.delivered == 0


@pytest.mark.parametrize(("code", "retriable"), [
    (KafkaError.MSG_SIZE_TOO_LARGE, False),
    (KafkaError.UNKNOWN_TOPIC_OR_PART, False),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
    (KafkaError.INVALID_TIMESTAMP, False),
    (KafkaError._MSG_TIMED_OUT, True),
    (KafkaError.NOT_ENOUGH_REPLICAS, True),
    (KafkaError._PURGE_QUEUE, True),
    (KafkaError._TRANSPORT, True),
])
def test_delivery_failures_are_classified(code: int, retriable: bool) -> None:
    sink = KafkaSink("kafka://h/t", {})
    sink._on_delivery(KafkaError(code), Message(topic="t", value=b'{"n":1}'))
    sink._on_delivery(None, Message(topic="t", value=b'{"n":2}'))  # success: not a failure
    [failure] = sink.take_failures()
    assert failure.line == b'{"n":1}' and failure.retriable is retriable
    assert failure.reason.startswith(KafkaError(code).name())
    assert (sink.failed_retriable, sink.failed_permanent) == ((1, 0) if retriable else (0, 1))
    assert sink.failed_by_code == {KafkaError(code).name(): 1}
    assert sink.take_failures() == []


# -- against a real broker --------------------------------------------------------------------


def test_events_round_trip_keyed_ordered_and_stamped(kafka_broker: KafkaBroker,
                                                     sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    sink.open()
    batches = [events(150, ("a", "b", "c", "d", None)), events(150, ("c", "e")), events(1)]
    for batch in batches:
        sink.write(batch)
    sink.flush(20)
    assert sink.undelivered == 0 and sink.take_failures() == []
    sent = [pair for batch in batches for pair in zip(batch.events, batch.lines, strict=True)]
    assert sink.delivered == len(sent)

    got = consume_all(kafka_broker.bootstrap, topic, len(sent), timeout=20)
    by_value = {message.value: message for message in got}
    assert len(got) == len(by_value) == len(sent)  # byte-identical, nothing duplicated
    for event, line in sent:
        message = by_value[line]
        visitor = event["visitor_id"]
        assert message.key == (visitor.encode() if visitor is not None else None)
        assert message.headers == {"schema": SCHEMA.encode(), "event": event["event"].encode()}
        assert rfc3339(message.timestamp / 1000) == event["timestamp"]
    for visitor in ("a", "b", "c", "d", "e"):
        wanted = [line for event, line in sent if event["visitor_id"] == visitor]
        received = [m for m in got if m.key == visitor.encode()]
        assert len({m.partition for m in received}) == 1
        assert [m.value for m in sorted(received, key=lambda m: m.offset)] == wanted


def test_unusual_events_take_the_tolerant_path(kafka_broker: KafkaBroker,
                                               sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker, partitions=1)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    odd: list[dict[str, Any]] = [
        {"timestamp": "2026-11-22T06:53:58Z", "visitor_id": 42, "event": "e", "schema": SCHEMA},
        {"timestamp": "2026-11-22T06:53:58.5+00:00", "event": "e", "schema": SCHEMA},
        {"timestamp": "not a time", "visitor_id": "v", "event": None, "schema": SCHEMA},
        {},
    ]
    before = int(time.time() * 1000) - 1000
    sink.write(Batch(odd, [orjson.dumps(event) for event in odd]))
    sink.flush(10)
    got = consume_all(kafka_broker.bootstrap, topic, len(odd), timeout=10)
    assert [m.key for m in got] == [b"42", None, b"v", None]
    assert [m.timestamp for m in got[:2]] == [1795330438000, 1795330438500]
    assert all(m.timestamp >= before for m in got[2:])  # unreadable: stamped at produce time
    assert got[2].headers == {"schema": SCHEMA.encode(), "event": b"None"}


def test_broker_down_at_open_then_events_arrive(kafka_broker: KafkaBroker,
                                                sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    batch = events(200)
    kafka_broker.stop()
    try:
        started = time.monotonic()
        sink.open()
        sink.write(batch)
        sink.flush(0.5)
        assert time.monotonic() - started < 5  # generous: write must not wait for the broker
        assert sink.undelivered == len(batch) and sink.delivered == 0
    finally:
        kafka_broker.start()
    sink.flush(30)
    assert sink.undelivered == 0 and sink.delivered == len(batch)
    assert sink.take_failures() == []
    got = consume_all(kafka_broker.bootstrap, topic, len(batch), timeout=20)
    assert sorted(m.value for m in got) == sorted(batch.lines)


def test_full_queue_waits_a_bounded_time_then_reports(kafka_broker: KafkaBroker,
                                                      sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}"
                    "?queue.buffering.max.messages=10", buffer_wait=0.2)
    batch = events(50)
    kafka_broker.stop()
    try:
        sink.open()
        started = time.monotonic()
        sink.write(batch)
        assert time.monotonic() - started < 5
    finally:
        kafka_broker.start()
    failures = sink.take_failures()
    assert sink.buffer_full_waits == 1 and len(failures) == 40
    assert [f.line for f in failures] == list(batch.lines[10:])  # the rest of the batch, in order
    assert all(f.retriable and f.reason.startswith("_QUEUE_FULL") for f in failures)
    sink.flush(30)
    assert sink.delivered == 10 and sink.undelivered == 0


def test_oversized_event_is_a_permanent_failure(kafka_broker: KafkaBroker,
                                                sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    batch = events(3)
    big = orjson.dumps({**batch.events[1], "path": "x" * 1_500_000})
    batch = Batch(batch.events, [batch.lines[0], big, batch.lines[2]])
    sink.write(batch)
    sink.flush(10)
    [failure] = sink.take_failures()
    assert failure.line == big and not failure.retriable
    assert failure.reason.startswith("MSG_SIZE_TOO_LARGE")
    assert sink.failed_permanent == 1 and sink.failed_by_code == {"MSG_SIZE_TOO_LARGE": 1}
    assert sink.delivered == 2


def test_unknown_topic_fails_delivery_permanently(kafka_broker: KafkaBroker,
                                                  sinks: list[KafkaSink]) -> None:
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/missing-{uuid.uuid4().hex[:8]}"
                    "?allow.auto.create.topics=false&topic.metadata.propagation.max.ms=500"
                    "&message.timeout.ms=5000")
    batch = events(5)
    sink.write(batch)
    sink.flush(15)
    failures = sink.take_failures()
    assert sorted(f.line for f in failures) == sorted(batch.lines)
    assert all(not f.retriable and "UNKNOWN_TOPIC" in f.reason for f in failures)
    assert sink.delivered == 0 and sink.failed_permanent == 5


def test_close_hands_back_what_was_not_delivered(kafka_broker: KafkaBroker,
                                                 sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    batch = events(20)
    kafka_broker.stop()
    try:
        sink.open()
        sink.write(batch)
        started = time.monotonic()
        sink.close(0.3)
        assert time.monotonic() - started < 5
    finally:
        kafka_broker.start()
    failures = sink.take_failures()
    assert sorted(f.line for f in failures) == sorted(batch.lines)
    assert all(f.retriable and f.reason.startswith("_PURGE") for f in failures)
    assert sink.undelivered == 20 and sink.delivered == 0


def test_fatal_error_replaces_the_producer(kafka_broker: KafkaBroker,
                                           sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    sink.open()
    sink.write(events(5))
    sink.flush(10)
    first = sink._producer
    sink._on_error(KafkaError(KafkaError._FATAL, "injected", fatal=True))
    sink.write(events(5))
    sink.flush(10)
    assert sink._producer is not first
    assert sink.delivered == 10
    assert len(consume_all(kafka_broker.bootstrap, topic, 10, timeout=10)) == 10


def test_forked_child_gets_its_own_producer(kafka_broker: KafkaBroker,
                                            sinks: list[KafkaSink]) -> None:
    topic = new_topic(kafka_broker)
    sink = sink_for(sinks, f"kafka://{kafka_broker.bootstrap}/{topic}")
    sink.write(events(5))
    sink.flush(10)
    pid = os.fork()
    if pid == 0:  # the child: the inherited producer must be neither used nor destroyed
        code = 1
        try:
            sink.write(events(7))
            sink.flush(10)
            code = 0 if (sink.delivered, sink.undelivered) == (7, 0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.write(events(3))  # the parent's producer still works
    sink.flush(10)
    assert sink.delivered == 8
    assert len(consume_all(kafka_broker.bootstrap, topic, 15, timeout=10)) == 15


# -- check() -----------------------------------------------------------------------------------


def test_check_succeeds_and_delivers_a_test_event(kafka_broker: KafkaBroker) -> None:
    topic = new_topic(kafka_broker)
    sink = KafkaSink(f"kafka://{kafka_broker.bootstrap}/{topic}", {})
    assert sink.check(10) is None
    [message] = consume_all(kafka_broker.bootstrap, topic, 1, timeout=10)
    assert orjson.loads(message.value)["event"] == "sstrack.check"


def test_check_reports_an_unreachable_broker() -> None:
    port = closed_port()
    sink = KafkaSink(f"kafka://127.0.0.1:{port}/t", {})
    started = time.monotonic()
    problem = sink.check(1.5)
    assert time.monotonic() - started < 10
    assert problem is not None and problem.startswith(f"broker 127.0.0.1:{port} unreachable")


def test_check_reports_a_missing_topic(kafka_broker: KafkaBroker) -> None:
    sink = KafkaSink(f"kafka://{kafka_broker.bootstrap}/nope?allow.auto.create.topics=false", {})
    assert sink.check(10) == ("topic 'nope' does not exist; create it, or let the brokers "
                              "create topics (auto.create.topics.enable)")


def test_check_reports_failed_authentication_without_the_password() -> None:
    with KafkaBroker(proxy=False, authentication=True) as broker:
        sink = KafkaSink(f"kafka://{broker.bootstrap}/t", {
            "SSTRACK_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "SSTRACK_KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512",
            "SSTRACK_KAFKA_SASL_USERNAME": "nobody", "SSTRACK_KAFKA_SASL_PASSWORD": SECRET})
        problem = sink.check(3)
    assert problem is not None and problem.startswith("authentication failed")
    assert SECRET not in problem
