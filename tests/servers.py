"""Real HTTP servers in subprocesses, and the events they write, for integration tests.

A test starts uvicorn or gunicorn on 127.0.0.1 with ``start_uvicorn`` or
``start_gunicorn`` (or any command through ``start_server``), drives it over
HTTP, stops it with SIGTERM like a process manager would, and reads the
JSON-lines files the server's sstrack wrote. The server's output goes to a
log file whose text is added to failure messages.

The server imports its app from this repository (``tests.apps.flask_app:app``),
writes events to ``<directory>/events`` and runs with a short flush interval
so tests need not wait long. No ``SSTRACK_*`` variable leaks in from the
environment running the tests.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trustme

__all__ = [
    "FLUSH_INTERVAL",
    "HOST",
    "Certificates",
    "Event",
    "Server",
    "abandon_response",
    "free_port",
    "gunicorn_command",
    "hang_up_when",
    "http_client",
    "make_certificates",
    "read_event_files",
    "read_events",
    "server_env",
    "start_gunicorn",
    "start_runserver",
    "start_server",
    "start_uvicorn",
    "stop_process",
    "stop_process_group",
    "uvicorn_command",
    "wait_for_events",
]

HOST = "127.0.0.1"
# The repository root, so a server can import ``tests.apps.*``.
ROOT_DIR = Path(__file__).resolve().parent.parent
FLUSH_INTERVAL = 0.05

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
Command = Callable[[int], Sequence[str]]

_LOG_TAIL = 6000
_PORT_TAKEN = ("Address already in use", "Connection in use", "[Errno 98]")


# -- events on disk --------------------------------------------------------------


def read_event_files(directory: Path) -> dict[Path, list[Event]]:
    """Every ``*.jsonl`` file under ``directory`` and the events in it, in file order."""
    if not directory.is_dir():
        return {}
    files = {}
    for path in sorted(directory.rglob("*.jsonl")):
        # A batch being written right now may be cut short; a line without
        # its newline is not an event yet. Complete lines must all parse.
        complete = path.read_bytes().split(b"\n")[:-1]
        files[path] = [json.loads(line) for line in complete if line]
    return files


def read_events(directory: Path) -> list[Event]:
    """Every event under ``directory``, from all processes' files."""
    return [event for events in read_event_files(directory).values() for event in events]


def wait_for_events(directory: Path, predicate: Predicate | None = None, *, count: int = 1,
                    timeout: float = 10.0) -> list[Event]:
    """Poll until at least ``count`` events match ``predicate``; return the matches.

    Raises:
        AssertionError: after ``timeout`` seconds, saying how many matched.
    """
    deadline = time.monotonic() + timeout
    while True:
        events = read_events(directory)
        found = [event for event in events if predicate is None or predicate(event)]
        if len(found) >= count:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"expected {count} matching event(s) under {directory} "
                                 f"within {timeout}s; {len(found)} of {len(events)} match")
        time.sleep(FLUSH_INTERVAL / 2)


# -- processes ------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(events_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: JSON-lines events in ``events_dir``."""
    # FORWARDED_ALLOW_IPS is read by both uvicorn and gunicorn; it must not
    # make the server trust forwarding headers behind sstrack's back.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("SSTRACK_") and key != "FORWARDED_ALLOW_IPS"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT_DIR), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env["SSTRACK_SINKS"] = f"jsonl:{events_dir}"
    env["SSTRACK_FLUSH_INTERVAL"] = str(FLUSH_INTERVAL)
    env.update(overrides or {})
    return env


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM ``process``, wait up to ``timeout`` seconds, then SIGKILL; its exit code.

    Idempotent. Only when SIGTERM was not enough is the whole process group
    killed, so no gunicorn worker outlives a stuck master; the group is the
    one ``start_server`` created for this process (``start_new_session``).
    """
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):  # still unreaped, so the group is ours
        os.killpg(process.pid, signal.SIGKILL)
    return process.wait(timeout)


@dataclass
class Server:
    """A running server process and where it writes events and logs."""

    process: subprocess.Popen[bytes]
    port: int
    events_dir: Path
    log_path: Path
    tls: ssl.SSLContext | None = None

    @property
    def pid(self) -> int:
        """The PID of the process we started (gunicorn's master, or uvicorn itself)."""
        return self.process.pid

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def host(self) -> str:
        """The Host header clients send, ``127.0.0.1:<port>``."""
        return f"{HOST}:{self.port}"

    def url(self, target: str = "/") -> str:
        """The absolute URL of ``target`` (a path with an optional query)."""
        return f"{self.scheme}://{self.host}{target}"

    def client(self, **kwargs: Any) -> httpx.Client:
        """A cookie-less client (see :func:`http_client`) that trusts this server's TLS."""
        return http_client(verify=self.tls or True, **kwargs)

    def log(self) -> str:
        """The tail of what the server printed."""
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL:]
        except OSError as exc:
            return f"(no log: {exc})"

    def events(self, predicate: Predicate | None = None) -> list[Event]:
        """The events on disk now that match ``predicate``."""
        return [event for event in read_events(self.events_dir)
                if predicate is None or predicate(event)]

    def wait_for_events(self, predicate: Predicate | None = None, *, count: int = 1,
                        timeout: float = 10.0) -> list[Event]:
        """:func:`wait_for_events` on this server's directory, its log in the failure."""
        try:
            return wait_for_events(self.events_dir, predicate, count=count, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- server log ---\n{self.log()}") from None

    def stop(self, timeout: float = 15.0) -> int:
        """Stop the server like a process manager would (see :func:`stop_process`)."""
        return stop_process(self.process, timeout)


def start_server(command: Command, directory: Path, *, env: Mapping[str, str] | None = None,
                 tls: ssl.SSLContext | None = None, ready_timeout: float = 20.0,
                 name: str = "server") -> Server:
    """Start ``command(port)`` in ``directory`` and wait until it answers HTTP.

    ``env`` is added to :func:`server_env`. ``tls`` is the client context
    for a server that speaks HTTPS. A port taken between choosing and binding
    it (another test run on the machine) is retried with a new one.
    """
    directory.mkdir(parents=True, exist_ok=True)
    events_dir = directory / "events"
    for _attempt in range(3):
        port = free_port()
        log_path = directory / f"{name}-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(command(port)), cwd=directory, env=server_env(events_dir, env),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        server = Server(process, port, events_dir, log_path, tls)
        try:
            if _wait_until_ready(server, ready_timeout):
                return server
        except BaseException:
            server.stop()
            raise
    raise RuntimeError(f"no free port for {name} after 3 attempts:\n{server.log()}")


def _wait_until_ready(server: Server, timeout: float) -> bool:
    """``True`` once the server answers HTTP; ``False`` if its port was taken."""
    deadline = time.monotonic() + timeout
    while True:
        code = server.process.poll()
        if code is not None:
            log = server.log()
            if any(text in log for text in _PORT_TAKEN):
                return False
            raise RuntimeError(f"server exited with code {code} before answering HTTP:\n{log}")
        if _answers_http(server.port, server.tls):
            return True
        if time.monotonic() >= deadline:
            raise TimeoutError(f"server did not answer HTTP within {timeout}s:\n{server.log()}")
        time.sleep(0.05)


def _answers_http(port: int, tls: ssl.SSLContext | None) -> bool:
    # A request line no server accepts: the HTTP layer answers 400 by itself,
    # so probing proves the server is up without putting an event on disk.
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as raw:
            if tls is None:
                raw.sendall(b"PROBE\r\n\r\n")
                return raw.recv(8).startswith(b"HTTP/")
            with tls.wrap_socket(raw, server_hostname=HOST) as sock:
                sock.sendall(b"PROBE\r\n\r\n")
                return sock.recv(8).startswith(b"HTTP/")
    except OSError:  # refused, reset, timed out, or TLS not up yet
        return False


# -- TLS ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    """A server certificate for 127.0.0.1 and a client context that trusts it."""

    cert_file: Path
    key_file: Path
    client_context: ssl.SSLContext


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA and a certificate for 127.0.0.1 (``trustme``), written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert(HOST)
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    issued.cert_chain_pems[0].write_to_path(str(cert_file))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(cert_file), append=True)
    issued.private_key_pem.write_to_path(str(key_file))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return Certificates(cert_file, key_file, context)


# -- uvicorn and gunicorn -----------------------------------------------------------


def uvicorn_command(app: str, *args: str) -> Command:
    """``python -m uvicorn app`` on a port; extra ``args`` go before the app."""

    def command(port: int) -> list[str]:
        # --no-proxy-headers: uvicorn would otherwise rewrite the client and
        # scheme from X-Forwarded-* for peers in --forwarded-allow-ips
        # (127.0.0.1 by default), and the tests could not tell sstrack's
        # own proxy trust from uvicorn's.
        return [sys.executable, "-m", "uvicorn", "--host", HOST, "--port", str(port),
                "--no-proxy-headers", "--timeout-graceful-shutdown", "5", *args, app]

    return command


def gunicorn_command(app: str, *args: str) -> Command:
    """``python -m gunicorn app`` (sync workers unless ``args`` say otherwise)."""

    def command(port: int) -> list[str]:
        # An empty --forwarded-allow-ips: by default gunicorn believes
        # X-Forwarded-Proto from 127.0.0.1 and sets wsgi.url_scheme from it,
        # which would hide whether sstrack's own proxy trust works.
        return [sys.executable, "-m", "gunicorn", "--bind", f"{HOST}:{port}",
                "--forwarded-allow-ips", "", "--graceful-timeout", "10",
                "--access-logfile", "-", *_gunicorn_control_socket(), *args, app]

    return command


def _gunicorn_control_socket() -> list[str]:
    # Recent gunicorn (27 here) listens on one control socket per user, in
    # ~/.gunicorn, which concurrent test servers would fight over; older
    # versions have neither the socket nor the flag.
    from gunicorn.config import KNOWN_SETTINGS

    has_flag = any("--no-control-socket" in (setting.cli or ()) for setting in KNOWN_SETTINGS)
    return ["--no-control-socket"] if has_flag else []


def start_uvicorn(app: str, directory: Path, *args: str, env: Mapping[str, str] | None = None,
                  tls: Certificates | None = None) -> Server:
    """Start uvicorn serving ``app`` (``module:attribute``, e.g. ``tests.apps.flask_app:app``)."""
    if tls is not None:
        args = (*args, "--ssl-certfile", str(tls.cert_file), "--ssl-keyfile", str(tls.key_file))
    return start_server(uvicorn_command(app, *args), directory, env=env,
                        tls=tls.client_context if tls else None, name="uvicorn")


def start_gunicorn(app: str, directory: Path, *args: str, env: Mapping[str, str] | None = None,
                   tls: Certificates | None = None) -> Server:
    """Start gunicorn serving ``app`` (``module:attribute``, e.g. ``tests.apps.flask_app:app``)."""
    if tls is not None:
        args = (*args, "--certfile", str(tls.cert_file), "--keyfile", str(tls.key_file))
    return start_server(gunicorn_command(app, *args), directory, env=env,
                        tls=tls.client_context if tls else None, name="gunicorn")


# -- clients -----------------------------------------------------------------------


def http_client(**kwargs: Any) -> httpx.Client:
    """An httpx client that never stores cookies.

    Each request then sends exactly the ``Cookie`` header the test gives it,
    which is what "a returning visitor" and "a new visitor" must mean.
    """
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    kwargs.setdefault("timeout", 10.0)
    return httpx.Client(cookies=jar, **kwargs)


def abandon_response(port: int, target: str, headers: Mapping[str, str], until: bytes,
                     timeout: float = 10.0) -> bytes:
    """GET ``target`` over plain HTTP, read until ``until`` arrives, then hang up.

    This is a browser leaving mid-response: the connection is closed with
    the response unfinished. Returns what was read.
    """
    lines = [f"GET {target} HTTP/1.1", f"Host: {HOST}:{port}",
             *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    received = b""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        deadline = time.monotonic() + timeout
        while until not in received:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{until!r} not received within {timeout}s: {received!r}")
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"server closed before {until!r}: {received!r}")
            received += data
    return received


def hang_up_when(port: int, target: str, headers: Mapping[str, str],
                 ready: Callable[[], bool], timeout: float = 10.0) -> None:
    """GET ``target`` over plain HTTP and hang up, unanswered, once ``ready()`` is true.

    This is a browser leaving while the app is still working on the
    response (``ready`` says when the app has started, e.g. a marker file).
    """
    lines = [f"GET {target} HTTP/1.1", f"Host: {HOST}:{port}",
             *(f"{name}: {value}" for name, value in headers.items()), "", ""]
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"the app did not start on {target} within {timeout}s")
            time.sleep(0.01)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM every process in ``process``'s group, wait, then SIGKILL what is left.

    For servers whose children outlive the parent on SIGTERM, such as Django's
    ``runserver`` with its autoreloader. The group is the one ``start_server``
    created (``start_new_session``), so it holds only the server's processes.
    """
    group = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout)
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)  # anyone left in the group?
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout)


def start_runserver(manage: Path, directory: Path, *, env: Mapping[str, str] | None = None,
                    ready_timeout: float = 30.0) -> Server:
    """Django's ``manage.py runserver``, autoreloader and all, on a free port of 127.0.0.1.

    runserver answers :func:`start_server`'s probe with an HTTP/0.9 error page
    (no status line), so here any answer means ready. Stop it with
    :func:`stop_process_group`: the autoreloader's child outlives a SIGTERM
    to its parent.
    """
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = directory / f"runserver-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(manage), "runserver", f"{HOST}:{port}"], cwd=directory,
            env=server_env(directory / "events", env), stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, directory / "events", log_path)
    deadline = time.monotonic() + ready_timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 2.0) as sock:
            sock.sendall(b"PROBE\r\n\r\n")
            if sock.recv(8):
                return server
        if process.poll() is not None or time.monotonic() >= deadline:
            stop_process_group(process)
            raise RuntimeError(f"runserver did not answer within {ready_timeout}s:\n{server.log()}")
        time.sleep(0.05)
