"""Daily salts: derived from a secret, or random and shared through a state directory."""

from __future__ import annotations

import hmac
import logging
import multiprocessing
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sstrack.privacy import salt as salt_module
from sstrack.privacy.salt import SALT_BYTES, DailySalt, default_state_dir

SECRET = b"0123456789abcdef-secret"
DAY = datetime(2025, 5, 9, 12, 0, tzinfo=timezone.utc)
NEXT_DAY = DAY + timedelta(days=1)


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# Secret mode --------------------------------------------------------------------------------


def test_secret_salt_is_hmac_of_the_day() -> None:
    expected = hmac.new(SECRET, b"sstrack-daily-salt\x002025-05-09", "sha256").digest()
    assert DailySalt(secret=SECRET).current(DAY) == expected
    assert DailySalt(secret=SECRET.decode()).current(DAY) == expected  # str secrets too
    assert DailySalt(secret=SECRET).mode == "secret"


def test_secret_salt_agrees_across_instances_and_rotates_daily() -> None:
    a, b = DailySalt(secret=SECRET), DailySalt(secret=SECRET)
    assert a.current(DAY) == b.current(DAY)
    assert a.current(DAY) != a.current(NEXT_DAY)
    assert a.current(DAY) != DailySalt(secret=SECRET + b"x").current(DAY)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (datetime(2025, 5, 9, 0, 0), datetime(2025, 5, 9, 23, 59, 59, 999999), True),
        (datetime(2025, 5, 9, 23, 59, 59, 999999), datetime(2025, 5, 10, 0, 0), False),
        # 01:30 in UTC+02:00 is 23:30 UTC the day before.
        (datetime(2025, 5, 10, 1, 30, tzinfo=timezone(timedelta(hours=2))),
         datetime(2025, 5, 9, 23, 30, tzinfo=timezone.utc), True),
        (datetime(2025, 5, 9, 12, 0), datetime(2025, 5, 9, 12, 0).replace(tzinfo=timezone.utc),
         True),  # naive means UTC
        (datetime(2025, 5, 9, 12, 0, tzinfo=timezone.utc),
         datetime(2025, 5, 9, 12, 0, tzinfo=timezone.utc).timestamp(), True),  # timestamps
    ],
)
def test_the_day_is_the_utc_day(first: datetime, second: datetime | float, same: bool) -> None:
    daily = DailySalt(secret=SECRET)
    assert (daily.current(first) == daily.current(second)) is same


def _today_or_next(value: bytes, before: datetime) -> bool:
    """``value`` is the salt of ``before``'s day, or of the next if midnight just passed."""
    reference = DailySalt(secret=SECRET)
    return value in (reference.current(before), reference.current(before + timedelta(days=1)))


def test_no_argument_means_now() -> None:
    before = datetime.now(timezone.utc)
    assert _today_or_next(DailySalt(secret=SECRET).current(), before)


@pytest.mark.parametrize("bogus", [float("nan"), float("inf"), -float("inf"), 1e300])
def test_a_bogus_timestamp_counts_as_now(bogus: float) -> None:
    before = datetime.now(timezone.utc)
    assert _today_or_next(DailySalt(secret=SECRET).current(bogus), before)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        DailySalt(secret=b"too short")


# Random mode --------------------------------------------------------------------------------


def test_random_salt_is_stored_privately_and_reused(tmp_path: Path) -> None:
    daily = DailySalt(state_dir=tmp_path)
    assert daily.mode == "random"
    value = daily.current(DAY)
    assert len(value) == SALT_BYTES
    assert _files(tmp_path) == ["salt-2025-05-09"]
    assert (tmp_path / "salt-2025-05-09").read_bytes() == value
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "salt-2025-05-09").stat().st_mode) == 0o600
    assert DailySalt(state_dir=tmp_path).current(DAY) == value  # another process agrees


def test_random_salt_is_read_once_per_day(tmp_path: Path) -> None:
    daily = DailySalt(state_dir=tmp_path)
    value = daily.current(DAY)
    (tmp_path / "salt-2025-05-09").unlink()
    assert daily.current(DAY + timedelta(hours=11)) == value  # from memory
    assert _files(tmp_path) == []


def test_random_salt_rotates_and_old_ones_are_deleted(tmp_path: Path) -> None:
    daily = DailySalt(state_dir=tmp_path)
    salts = [daily.current(DAY + timedelta(days=n)) for n in range(3)]
    assert len(set(salts)) == 3
    # Today's and yesterday's stay (events queued across midnight); older go.
    assert _files(tmp_path) == ["salt-2025-05-10", "salt-2025-05-11"]
    # An old day's salt cannot be recovered: asking again gives a new one.
    assert DailySalt(state_dir=tmp_path).current(DAY) != salts[0]


def test_stale_temporary_files_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".salt-2025-05-01.123.456.tmp"
    fresh = tmp_path / ".salt-2025-05-09.789.1.tmp"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (0, 0))
    DailySalt(state_dir=tmp_path).current(DAY)
    assert not stale.exists()
    assert fresh.exists()  # may belong to a process writing right now


def test_state_dir_is_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    DailySalt(state_dir=target).current(DAY)
    assert _files(target) == ["salt-2025-05-09"]


def test_default_state_dir_is_per_user_in_tmp() -> None:
    path = default_state_dir()
    assert path.name.startswith("sstrack-salts")
    if hasattr(os, "getuid"):
        assert path.name == f"sstrack-salts-{os.getuid()}"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_planted_shared_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    planted = tmp_path / "sstrack-salts"
    planted.mkdir()
    planted.chmod(0o777)  # anyone could have put a salt they know in here
    (planted / "salt-2025-05-09").write_bytes(b"k" * SALT_BYTES)
    monkeypatch.setattr(salt_module, "default_state_dir", lambda: planted)
    daily = DailySalt()
    with caplog.at_level(logging.WARNING, logger="sstrack"):
        value = daily.current(DAY)
    assert value != b"k" * SALT_BYTES
    assert len(value) == SALT_BYTES
    assert daily.current(DAY) == value  # stable within the process for the day
    assert any("salt directory" in r.getMessage() for r in caplog.records)


def test_an_unusable_directory_falls_back_to_a_process_salt(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    daily = DailySalt(state_dir=not_a_dir)
    value = daily.current(DAY)
    assert len(value) == SALT_BYTES
    assert daily.current(DAY) == value
    assert daily.current(NEXT_DAY) != value


def test_a_corrupt_salt_file_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "salt-2025-05-09").write_bytes(b"short")
    value = DailySalt(state_dir=tmp_path).current(DAY)
    assert len(value) == SALT_BYTES
    assert value != b"short"


# Several processes --------------------------------------------------------------------------


def _worker(state_dir: str, when: float, barrier: object, results: object) -> None:
    barrier.wait(timeout=60)  # type: ignore[attr-defined]
    results.put(DailySalt(state_dir=state_dir).current(when).hex())  # type: ignore[attr-defined]


def test_processes_racing_on_a_new_day_agree(tmp_path: Path) -> None:
    """Real processes, released together, all create-or-read the same day's salt."""
    ctx = multiprocessing.get_context("spawn")
    count = 6
    barrier, results = ctx.Barrier(count), ctx.Queue()
    when = DAY.timestamp()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), when, barrier, results))
             for _ in range(count)]
    for proc in procs:
        proc.start()
    try:
        salts = {results.get(timeout=60) for _ in procs}
    finally:
        for proc in procs:
            proc.join(timeout=60)
    assert all(proc.exitcode == 0 for proc in procs)
    assert len(salts) == 1
    assert _files(tmp_path) == ["salt-2025-05-09"]  # one salt, no temporary files left
    assert bytes.fromhex(salts.pop()) == DailySalt(state_dir=tmp_path).current(DAY)


def test_the_date_helper_matches_the_calendar() -> None:
    daily = DailySalt(secret=SECRET)
    for offset in range(-400, 400, 37):
        moment = DAY + timedelta(days=offset, hours=offset % 24)
        label = moment.date().isoformat().encode()
        assert daily.current(moment) == hmac.new(
            SECRET, b"sstrack-daily-salt\x00" + label, "sha256").digest()
