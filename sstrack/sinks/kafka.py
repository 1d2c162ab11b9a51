"""Kafka sink: ``kafka://host1:9092,host2:9092/topic?setting=value``.

One confluent-kafka ``Producer`` per process, created by :meth:`KafkaSink.open`
in the worker (never at construction, never reused across a fork). Each event
becomes one message: key = ``visitor_id`` (one visitor's events stay ordered in
one partition; no key when absent), value = the JSON line, timestamp = the
event's ``timestamp`` in ms, headers ``schema`` and ``event``.

librdkafka settings, later sources winning: sstrack's defaults below, then
``SSTRACK_KAFKA_<SETTING>`` variables (upper case, ``_`` for ``.``: e.g.
``SSTRACK_KAFKA_SASL_PASSWORD`` is ``sasl.password``), shared by every Kafka
sink and the place for secrets, then the URL's query parameters, which belong
to one sink, so the most specific wins. Brokers come only from the URL.

==========================  ==============  ===============================================
setting                     sstrack         why (librdkafka's default in brackets)
==========================  ==============  ===============================================
enable.idempotence          true            [false] retries never duplicate or reorder;
                                            implies ``acks=all`` and retries until timeout
compression.type            lz4             [none] event JSON shrinks 4.4x (454 → 103 wire
                                            bytes); measured here lz4 costs 1.6-1.9 µs of
                                            client CPU per event, zstd 2.2-2.4 µs for 56
                                            bytes: choose zstd where bandwidth costs more
linger.ms                   50              [5] fuller batches, fewer requests
queue.buffering.max.kbytes  65536           [1048576] one producer per worker process
message.timeout.ms          120000          [300000] report failure after 2 min, so the
                                            dispatcher can spool rather than wait 5 min
delivery.report.only.error  true            [false] no Python callback per delivered event
                                            (~0.3 µs each); ``delivered`` is counted from
                                            the queue length instead
partitioner                 murmur2_random  [consistent_random] hashes keys as the Java
                                            client does, so a visitor's partition matches
                                            JVM producers' (co-partitioned joins)
client.id                   sstrack         [rdkafka] names sstrack in broker logs, quotas
==========================  ==============  ===============================================
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from .._log import logger, warn_limited
from ..event import SCHEMA, rfc3339, uuid7
from .base import Batch
from .urls import is_secret, redact

__all__ = [
    "DEFAULTS", "ENV_PREFIX", "KafkaFailure", "KafkaSettings", "KafkaSink", "is_secret",
    "parse_url", "redact",
]

DEFAULTS: dict[str, str] = {
    "enable.idempotence": "true",
    "compression.type": "lz4",
    "linger.ms": "50",
    "queue.buffering.max.kbytes": "65536",
    "message.timeout.ms": "120000",
    "delivery.report.only.error": "true",
    "partitioner": "murmur2_random",
    "client.id": "sstrack",
}
"""sstrack's librdkafka settings; see the module docstring for the reasons."""

ENV_PREFIX = "SSTRACK_KAFKA_"
_USAGE = "expected kafka://host:9092[,host2:9092]/topic[?setting=value&…]"
_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")
_SETTING = re.compile(r"[a-z0-9]+(?:\.[a-z0-9]+)*")
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+")
_RESERVED = ("bootstrap.servers", "metadata.broker.list")
_UNDERSCORED = {"log.level": "log_level"}  # the one string setting named with "_"
_Headers = list[tuple[str, "str | bytes | None"]]
_MAX_FAILURES = 100_000  # kept for take_failures(); beyond this they are only counted

# Failures that the same message will hit again however often it is retried.
# Everything else (timeouts, purges, broker outages) is worth retrying.
_PERMANENT = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_RECORD,
    KafkaError.INVALID_TIMESTAMP, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION, KafkaError.TOPIC_EXCEPTION, KafkaError.POLICY_VIOLATION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT, KafkaError.UNSUPPORTED_COMPRESSION_TYPE,
    KafkaError.INVALID_REQUIRED_ACKS, KafkaError._INVALID_ARG,
})
_UNREACHABLE = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
                          KafkaError._RESOLVE, KafkaError._TIMED_OUT})
_AUTH = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
                   KafkaError._SSL, KafkaError.TOPIC_AUTHORIZATION_FAILED,
                   KafkaError.CLUSTER_AUTHORIZATION_FAILED})

# A producer inherited across fork() is never used or destroyed in the child:
# its threads exist only in the parent, so destroying it could hang
# (librdkafka#2374). Keeping a reference here stops garbage collection.
_ABANDONED: list[Producer] = []


class KafkaFailure(NamedTuple):
    """An event the producer could not deliver, for the dispatcher to retry or dead-letter."""

    line: bytes
    reason: str
    retriable: bool


class _LibrdkafkaLog:
    """Receives librdkafka's own log lines (``logger`` setting) at DEBUG.

    Left alone, librdkafka prints a line to stderr on every reconnect attempt
    while a broker is down; the error callback warns instead, rate-limited.
    """

    def log(self, level: int, fmt: str, *args: object) -> None:
        logger.debug("kafka: " + fmt, *args)


class KafkaSettings(NamedTuple):
    """A validated sink URL: brokers, topic and the producer's librdkafka settings."""

    hosts: str
    topic: str
    config: dict[str, str]


def _hosts(netloc: str, problems: list[str]) -> str:
    if "@" in netloc:
        problems.append("credentials do not belong in the URL; set SSTRACK_KAFKA_SASL_USERNAME "
                        "and SSTRACK_KAFKA_SASL_PASSWORD")
        netloc = netloc.rpartition("@")[2]
    if not netloc:
        problems.append("no broker host")
        return ""
    hosts = []
    for entry in netloc.split(","):
        host, port = entry, "9092"
        if ":" in entry.rpartition("]")[2]:  # a port, after any [IPv6] literal
            host, _, port = entry.rpartition(":")
        if not _HOST.fullmatch(host):
            problems.append(f"{entry!r} is not a host; write host:port, e.g. 127.0.0.1:9092")
        elif not (port.isdigit() and 0 < int(port) < 65536):
            problems.append(f"{entry!r} has a bad port; use a number from 1 to 65535")
        else:
            hosts.append(f"{host}:{int(port)}")
    return ",".join(hosts)


def _setting(name: str, where: str, problems: list[str]) -> bool:
    if name in _RESERVED:
        problems.append(f"{where}: brokers come only from the URL's hosts; remove it")
    elif not (_SETTING.fullmatch(name) or name in _UNDERSCORED.values()):
        problems.append(f"{where}: not a librdkafka setting name (like compression.type)")
    else:
        return True
    return False


def parse_url(url: str, environ: Mapping[str, str]) -> KafkaSettings:
    """Validate a sink URL and the ``SSTRACK_KAFKA_*`` variables; performs no I/O.

    Raises:
        ValueError: naming every problem and the fix; secrets are never shown.
    """
    problems: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [IPv6 literal
        raise ValueError(f"Kafka sink {redact(url)!r} in SSTRACK_SINKS: {exc} ({_USAGE})") from None
    if parts.scheme != "kafka" or not url.startswith("kafka://"):
        problems.append("the scheme must be kafka://")
    hosts = _hosts(parts.netloc, problems)
    topic = parts.path[1:]
    if not topic:
        problems.append("no topic; add it as the path, e.g. kafka://127.0.0.1:9092/events")
    elif not _TOPIC.fullmatch(topic) or topic in (".", ".."):
        problems.append(f"invalid topic name {topic!r}; use up to 249 of A-Z a-z 0-9 . _ -")
    if parts.fragment:
        problems.append("remove the #fragment")
    env: dict[str, str] = {}
    for key in sorted(environ):
        if key.startswith(ENV_PREFIX) and environ[key]:  # VAR= is unset, as in shells
            name = key[len(ENV_PREFIX):].lower().replace("_", ".")
            name = _UNDERSCORED.get(name, name)
            if _setting(name, key, problems):
                env[name] = environ[key]
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in query:
            problems.append(f"parameter {name!r} is given twice")
        elif not value:
            problems.append(f"parameter {name!r} has no value")
        elif _setting(name, f"parameter {name!r}", problems):
            query[name] = value
    config = {**DEFAULTS, **env, **query, "bootstrap.servers": hosts}
    if config["delivery.report.only.error"] not in ("true", "false"):
        problems.append("delivery.report.only.error must be true or false")
    if problems:
        raise ValueError(f"Kafka sink {redact(url)!r} in SSTRACK_SINKS: "
                         + "; ".join(problems) + f" ({_USAGE})")
    return KafkaSettings(hosts, topic, config)


def _timestamp_ms(value: object) -> int:
    """Milliseconds since the epoch of an RFC 3339 string; 0 (produce time) if unreadable."""
    if not isinstance(value, str):
        return 0
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


class KafkaSink:
    """Produces each event to a Kafka topic; see the module docstring for settings.

    Counters, read by stats: ``delivered`` (acknowledged by the brokers; exact
    once :meth:`flush` leaves nothing undelivered), ``failed_retriable`` and
    ``failed_permanent`` (with ``failed_by_code``), ``buffer_full_waits``
    (writes that had to wait for room in librdkafka's queue) and
    ``undelivered`` (left after the last flush). Failed events themselves
    are handed over by :meth:`take_failures`.

    Args:
        url: ``kafka://host1:9092,host2:9092/topic?setting=value``.
        environ: the environment, for ``SSTRACK_KAFKA_*`` settings.
        buffer_wait: how long one :meth:`write` may wait, in total, for room
            in a full local queue before reporting the rest of its batch as
            retriable ``_QUEUE_FULL`` failures. A healthy local broker drains
            100,000 events in well under this; a dead one never would.
    """

    def __init__(self, url: str, environ: Mapping[str, str], *, buffer_wait: float = 0.5) -> None:
        settings = parse_url(url, environ)
        self.name = redact(url)
        self.topic = settings.topic
        self.hosts = settings.hosts
        self.buffer_wait = buffer_wait
        # confluent-kafka reads this one setting itself, and wants a bool.
        self._config: dict[str, Any] = {**settings.config, "delivery.report.only.error":
                                        settings.config["delivery.report.only.error"] == "true"}
        self._secrets = [v for k, v in settings.config.items() if is_secret(k) and v]
        self._producer: Producer | None = None
        self._pid: int | None = None
        self._fatal = False
        self._headers: dict[str, tuple[str, _Headers]] = {}  # event name → (schema, headers)
        self._ts_prefix, self._ts_base = "", 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.failed_retriable = self.failed_permanent = self.buffer_full_waits = 0
        self.failures_discarded = self.undelivered = 0
        self.failed_by_code: Counter[str] = Counter()
        self._failures: list[KafkaFailure] = []
        self._delivered = self._delivered_before = self._produced = self._reported = 0

    # -- lifecycle -----------------------------------------------------------

    def open(self) -> None:
        """Create this process's producer (again after a fork: the parent's is abandoned)."""
        pid = os.getpid()
        if self._producer is not None:
            if self._pid == pid:
                return
            _ABANDONED.append(self._producer)
            self._producer = None
            self._reset_counters()  # the parent's counts and failures are the parent's
        config = {**self._config, "on_delivery": self._on_delivery, "error_cb": self._on_error,
                  "logger": _LibrdkafkaLog()}
        self._producer = self._create(config)
        self._pid, self._fatal = pid, False

    def _create(self, config: dict[str, Any]) -> Producer:
        try:
            return Producer(config)
        except (KafkaException, TypeError, ValueError) as exc:
            error = exc.args[0] if exc.args else exc
            message = error.str() if isinstance(error, KafkaError) else str(error)
            for secret in self._secrets:
                message = message.replace(secret, "***")
            raise ValueError(f"Kafka sink {self.name!r}: librdkafka rejected its settings "
                             f"({message}); check SSTRACK_KAFKA_* and the URL in SSTRACK_SINKS"
                             ) from None

    def flush(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for delivery; ``undelivered`` records what is left."""
        producer = self._producer
        if producer is None or self._pid != os.getpid():
            return
        self.undelivered = producer.flush(timeout)

    def close(self, timeout: float) -> None:
        """Flush, then report what is still undelivered as retriable failures and drop the producer.

        Purged in-flight messages may yet have reached the broker, so a retry
        can duplicate them; consumers deduplicate by ``event_id``.
        """
        producer = self._producer
        if producer is not None and self._pid == os.getpid():
            self.flush(timeout)
            self._retire(producer)
        elif producer is not None:
            _ABANDONED.append(producer)  # inherited across a fork; see _ABANDONED
        self._producer = self._pid = None

    def _retire(self, producer: Producer) -> None:
        if len(producer):
            producer.purge()  # each purged message fails with _PURGE_QUEUE/_PURGE_INFLIGHT
            # flush(0) alone does not serve the reports of messages purged in
            # flight; poll until every message has reported (bounded), or the
            # events would vanish without a failure to spool them from.
            deadline = time.monotonic() + 5.0
            while len(producer) and time.monotonic() < deadline:
                producer.poll(0.05)
        self._delivered_before = self.delivered
        self._produced = self._reported = 0

    # -- writing -------------------------------------------------------------

    def write(self, batch: Batch) -> None:
        """Queue every line for delivery; never blocks longer than ``buffer_wait``."""
        if self._pid != os.getpid() or self._fatal:
            self._reopen()
        producer = self._producer
        assert producer is not None
        produce, topic, headers_for = producer.produce, self.topic, self._headers
        prefix, base = self._ts_prefix, self._ts_base
        failed_before = self._sync_failures()
        deadline = 0.0
        for index, (event, line) in enumerate(zip(batch.events, batch.lines, strict=True)):
            try:
                ts = event["timestamp"]
                if ts[:19] == prefix and len(ts) == 24:
                    millis = base + int(ts[20:23])
                else:
                    millis = self._parse_timestamp(ts)
                    prefix, base = self._ts_prefix, self._ts_base
                visitor = event["visitor_id"]
                key = None if visitor is None else visitor.encode()
                schema, headers = headers_for[event["event"]]
                if schema != event["schema"]:
                    raise LookupError  # another schema version: rebuild the headers
            except Exception:  # an unusual event takes the slow, tolerant path
                key, millis, headers = self._slow_fields(event)
            try:
                # Positional: keyword parsing costs ~0.5 µs per call (order per cimpl.pyi).
                produce(topic, line, key, -1, None, None, millis, headers)
            except BufferError:
                deadline = deadline or time.monotonic() + self.buffer_wait
                if not self._produce_when_room(line, key, millis, headers, deadline):
                    self._give_up(batch.lines[index:])
                    break
            except KafkaException as exc:
                self._sync_failure(line, exc)
        self._produced += len(batch.lines) - (self._sync_failures() - failed_before)
        producer.poll(0)  # serve delivery reports and errors, freeing queue room

    def _reopen(self) -> None:
        if self._fatal and self._producer is not None and self._pid == os.getpid():
            warn_limited(f"kafka:{self.name}:fatal", "sstrack Kafka sink %s: producer hit a "
                         "fatal error; replacing it", self.name)
            self._retire(self._producer)
            self._producer = None
        self.open()

    def _parse_timestamp(self, ts: str) -> int:
        millis = _timestamp_ms(ts)
        if millis and len(ts) == 24 and ts[19] == "." and ts[20:23].isdigit():
            # Cache the second: the next events of a batch share it.
            self._ts_prefix, self._ts_base = ts[:19], millis - int(ts[20:23])
        return millis

    def _slow_fields(self, event: Mapping[str, Any]) -> tuple[bytes | None, int, _Headers]:
        visitor = event.get("visitor_id")
        key = None if visitor is None else str(visitor).encode("utf-8", "surrogatepass")
        schema, name = event.get("schema"), event.get("event")
        headers: _Headers = [("schema", str(schema).encode("utf-8", "replace")),
                             ("event", str(name).encode("utf-8", "replace"))]
        if isinstance(schema, str) and isinstance(name, str):
            if len(self._headers) >= 1024:  # event names are few; bound them anyway
                self._headers.clear()
            self._headers[name] = (schema, headers)
        return key, _timestamp_ms(event.get("timestamp")), headers

    def _produce_when_room(self, line: bytes, key: bytes | None, millis: int,
                           headers: _Headers, deadline: float) -> bool:
        """Poll (serving delivery reports frees room) and retry until ``deadline``."""
        producer = self._producer
        assert producer is not None
        self.buffer_full_waits += 1
        while (remaining := deadline - time.monotonic()) > 0:
            producer.poll(min(remaining, 0.05))
            try:
                producer.produce(self.topic, line, key, -1, None, None, millis, headers)
            except BufferError:
                continue
            except KafkaException as exc:
                self._sync_failure(line, exc)
            return True
        return False

    def _give_up(self, lines: Sequence[bytes]) -> None:
        error = KafkaError(KafkaError._QUEUE_FULL, f"local queue still full after "
                           f"{self.buffer_wait:g} s (broker down or slow)")
        warn_limited(f"kafka:{self.name}:queue_full", "sstrack Kafka sink %s: %s",
                     self.name, error.str())
        for line in lines:
            self._record(line, error)

    # -- outcomes ------------------------------------------------------------

    def _sync_failures(self) -> int:
        return self.failed_retriable + self.failed_permanent - self._reported

    def _sync_failure(self, line: bytes, exc: KafkaException) -> None:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else \
            KafkaError(KafkaError._FAIL, str(exc))
        if error.code() == KafkaError._FATAL:
            self._fatal = True
        self._record(line, error)

    def _on_delivery(self, error: KafkaError | None, message: Message[Any, Any]) -> None:
        if error is not None:  # successes are counted from the queue length
            self._reported += 1
            self._record(message.value() or b"", error)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = True
        warn_limited(f"kafka:{self.name}:{error.name()}", "sstrack Kafka sink %s: %s",
                     self.name, error.str())

    def _record(self, line: bytes, error: KafkaError) -> None:
        retriable = error.code() not in _PERMANENT
        if retriable:
            self.failed_retriable += 1
        else:
            self.failed_permanent += 1
        self.failed_by_code[error.name()] += 1
        if len(self._failures) < _MAX_FAILURES:
            self._failures.append(KafkaFailure(line, f"{error.name()}: {error.str()}", retriable))
        else:
            self.failures_discarded += 1

    def take_failures(self) -> list[KafkaFailure]:
        """Hand over the failed events recorded since the last call, oldest first."""
        failures, self._failures = self._failures, []
        return failures

    @property
    def delivered(self) -> int:
        """Events acknowledged by the brokers (never decreases)."""
        producer = self._producer
        pending = len(producer) if producer is not None and self._pid == os.getpid() else 0
        now = self._delivered_before + self._produced - self._reported - pending
        self._delivered = max(self._delivered, now)
        return self._delivered

    def stats(self) -> dict[str, int]:
        """The counters as a dict, for ``sstrack.stats()``."""
        return {"delivered": self.delivered, "failed_retriable": self.failed_retriable,
                "failed_permanent": self.failed_permanent,
                "buffer_full_waits": self.buffer_full_waits, "undelivered": self.undelivered}

    # -- sstrack check -------------------------------------------------------

    def check(self, timeout: float = 10.0, line: bytes | None = None) -> str | None:
        """Connect, fetch the topic's metadata and deliver one test event (or ``line``).

        Uses its own short-lived producer, so it is safe before :meth:`open`
        and from any thread. Returns ``None`` on success, else what went wrong.
        """
        deadline = time.monotonic() + timeout
        errors: list[KafkaError] = []
        reports: list[KafkaError | None] = []
        config = {**self._config, "delivery.report.only.error": False, "logger": _LibrdkafkaLog(),
                  "error_cb": errors.append, "on_delivery": lambda err, _: reports.append(err)}
        try:
            producer = self._create(config)
        except ValueError as exc:
            return str(exc)
        try:
            problem = self._check_topic(producer, deadline, errors)
            if problem:
                return problem
            producer.produce(self.topic, line or _check_line(), None, -1, None, None, 0,
                             [("schema", SCHEMA.encode()), ("event", b"sstrack.check")])
            producer.flush(max(deadline - time.monotonic(), 0.1))
            if reports and reports[0] is not None:
                return self._explain([reports[0]], f"test event rejected: {reports[0].str()} "
                                     f"({reports[0].name()})")
            if not reports:
                return self._explain(errors, f"test event not acknowledged within {timeout:g} s")
            return None
        finally:
            producer.purge()
            producer.flush(0)

    def _check_topic(self, producer: Producer, deadline: float,
                     errors: list[KafkaError]) -> str | None:
        """Fetch the topic's metadata; retry until ``deadline`` unless login fails."""
        while True:
            remaining = deadline - time.monotonic()
            try:
                topics = producer.list_topics(self.topic, max(min(remaining, 0.5), 0.1)).topics
                break
            except KafkaException:
                producer.poll(0)  # run the error callbacks that explain it
                if remaining <= 0.5 or any(error.code() in _AUTH for error in errors):
                    return self._explain(errors, f"no answer from {self.hosts}")
        error = topics[self.topic].error if self.topic in topics else None
        if error is None:
            return None
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            return (f"topic {self.topic!r} does not exist; create it, or let the brokers "
                    "create topics (auto.create.topics.enable)")
        return self._explain([error], f"topic {self.topic!r}: {error.str()} ({error.name()})")

    def _explain(self, errors: list[KafkaError], otherwise: str) -> str:
        """The most telling of ``errors``: a refused login, then an unreachable broker."""
        for error in errors:
            if error.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED:
                return ("authorisation failed: the idempotent producer needs IdempotentWrite on "
                        "the cluster; grant it or set SSTRACK_KAFKA_ENABLE_IDEMPOTENCE=false")
            if error.code() in _AUTH:
                kind = (f"authorisation for topic {self.topic!r}"
                        if "AUTHORIZATION" in error.name() else "authentication")
                return f"{kind} failed: {error.str()} ({error.name()})"
        for error in errors:
            if error.code() in _UNREACHABLE:
                plural = "s" if "," in self.hosts else ""
                return f"broker{plural} {self.hosts} unreachable: {error.str()}"
        return otherwise


def _check_line() -> bytes:
    """A minimal event, recognisable as a test by its name ``sstrack.check``."""
    now = time.time()
    return orjson.dumps({"event_id": uuid7(now), "event": "sstrack.check",
                         "timestamp": rfc3339(now), "visitor_id": None, "schema": SCHEMA})
