"""Daily-rotating salts for cookieless ids and hashed IPs, shared by a host's worker processes.

Two sources:

* **A configured secret**: the salt of a UTC day is
  ``HMAC-SHA256(secret, "sstrack-daily-salt\\0YYYY-MM-DD")``. Every process on
  every host agrees without coordination, but whoever holds the secret can
  recompute any past day's salt, and so re-link that day's ids.
* **No secret**: each day gets 32 random bytes in a file in a state
  directory, created atomically so that concurrent processes agree, and
  deleted once older than yesterday, as Plausible does with its salts. After
  that nobody, sstrack included, can recompute the day's ids.

Each process reads the file once per day and keeps the salt in memory.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import stat
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from .._log import warn_limited

__all__ = ["SALT_BYTES", "DailySalt", "default_state_dir"]

SALT_BYTES = 32
"""Length of each salt."""

_DAY = 86400  # Unix time has no leap seconds, so UTC days are exact multiples
_EPOCH = date(1970, 1, 1)
_MAX_TS = 1e11  # about the year 5000
_MIN_SECRET = 16
_STALE_TMP = 3600.0  # seconds before a crashed writer's temporary file is removed


def default_state_dir() -> Path:
    """``<tmp>/sstrack-salts-<uid>``: shared by one user's processes on a host."""
    suffix = f"-{os.getuid()}" if hasattr(os, "getuid") else ""
    return Path(tempfile.gettempdir()) / f"sstrack-salts{suffix}"


class DailySalt:
    """The salt of the current UTC day, from a secret or from a shared state directory.

    Args:
        secret: Derive salts from this secret (at least 16 bytes) instead of
            storing random ones.
        state_dir: Where random salts live; :func:`default_state_dir` when
            None. Must be on a filesystem with hard links (any local one), and
            shared by every process that must agree on ids.

    If the state directory cannot be used, the process falls back to a
    random salt of its own for the day and logs a warning: ids stay
    unlinkable across days, but processes no longer agree on them.
    """

    def __init__(self, *, secret: bytes | str | None = None,
                 state_dir: str | os.PathLike[str] | None = None) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if secret is not None and len(secret) < _MIN_SECRET:
            raise ValueError(f"the salt secret must be at least {_MIN_SECRET} bytes")
        self._secret = secret
        self._state_dir = Path(state_dir) if state_dir is not None else None
        self._cache: dict[date, bytes] = {}
        # (start, end, salt) of the last day used: one tuple read, no lock, on
        # the common path. Races only cost a repeated file read.
        self._hot: tuple[float, float, bytes] = (0.0, 0.0, b"")

    @property
    def mode(self) -> str:
        """``secret`` or ``random``."""
        return "secret" if self._secret is not None else "random"

    def current(self, now: datetime | float | None = None) -> bytes:
        """The salt of the UTC day containing ``now`` (default: the present).

        Args:
            now: A datetime (naive means UTC) or Unix timestamp, e.g. an
                event's capture time, so that events queued before midnight
                keep the day they happened in. A timestamp that is NaN or
                beyond the year 5000 counts as now.
        """
        if now is None:
            ts = time.time()
        elif isinstance(now, datetime):
            ts = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).timestamp()
        else:
            ts = float(now)
        start, end, salt = self._hot
        if start <= ts < end:
            return salt
        if not -_MAX_TS < ts < _MAX_TS:  # NaN, or no real calendar date: use today
            ts = time.time()
        day_number = int(ts // _DAY)
        day = _EPOCH + timedelta(days=day_number)
        salt = self._cache.get(day) or self._load(day)
        self._hot = (day_number * _DAY, (day_number + 1) * _DAY, salt)
        return salt

    def _load(self, day: date) -> bytes:
        if self._secret is not None:
            label = b"sstrack-daily-salt\x00" + day.isoformat().encode("ascii")
            salt = hmac.digest(self._secret, label, "sha256")
        else:
            salt = self._from_disk(day)
        self._cache[day] = salt
        # Today and yesterday are enough: events straddling midnight.
        for old in sorted(self._cache)[:-2]:
            self._cache.pop(old, None)
        return salt

    def _from_disk(self, day: date) -> bytes:
        directory = self._state_dir or default_state_dir()
        try:
            _ensure_dir(directory, strict=self._state_dir is None)
            salt = _read_or_create(directory / f"salt-{day.isoformat()}")
        except OSError as exc:
            warn_limited("privacy.salt", "sstrack: cannot use salt directory %s (%s); "
                         "this process uses its own salt today", directory, exc)
            return os.urandom(SALT_BYTES)
        _remove_old(directory, day)
        return salt


def _ensure_dir(path: Path, *, strict: bool) -> None:
    """Create ``path`` (mode 0700); in the shared temp dir, refuse one someone else made.

    A directory planted by another user could hold salts they know.
    """
    path.mkdir(mode=0o700, parents=not strict, exist_ok=True)
    info = os.lstat(path) if strict else os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(f"{path} is not a directory")
    if strict and hasattr(os, "getuid") and (info.st_uid != os.getuid() or info.st_mode & 0o022):
        raise PermissionError(f"{path} is not owned by this user or is writable by others")


def _read_or_create(path: Path) -> bytes:
    """Read the day's salt, creating it first if no process has yet.

    The salt is written to a private temporary file and hard-linked into
    place: ``link`` fails if the name exists, so exactly one process's salt
    wins, and readers never see a partly written file.
    """
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(os.urandom(SALT_BYTES))
            file.flush()
            os.fsync(file.fileno())
        # FileExistsError: another process won the race; its salt is the day's.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as file:
        salt = file.read(SALT_BYTES + 1)
    if len(salt) != SALT_BYTES:
        raise OSError(f"{path} does not hold a {SALT_BYTES}-byte salt")
    return salt


def _remove_old(directory: Path, day: date) -> None:
    """Delete salts older than yesterday, which makes their ids unlinkable for good."""
    cutoff = f"salt-{(day - timedelta(days=1)).isoformat()}"
    now = time.time()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        expired = name.startswith("salt-") and len(name) == len(cutoff) and name < cutoff
        leftover = name.startswith(".salt-") and name.endswith(".tmp")
        # OSError: another process removed it first, or it is not ours to remove.
        with contextlib.suppress(OSError):
            if expired or (leftover and now - os.lstat(directory / name).st_mtime > _STALE_TMP):
                (directory / name).unlink()
