"""IP geolocation from a MaxMind-format database (GeoLite2/GeoIP2 City or Country, DB-IP).

Optional: needs ``geoip2`` (``pip install 'sstrack[geo]'``), imported only when a
:class:`GeoLookup` is created. The file is checked when the lookup is created, so a
bad path is reported at configuration time, and opened for lookups on first use in
each process (memory-mapped, C reader when available: ``MODE_AUTO``).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    import geoip2.database
    import geoip2.models

__all__ = ["GEO_FIELDS", "GeoLookup"]

logger = logging.getLogger("sstrack.enrich")

#: Keys of the mapping returned by :meth:`GeoLookup.lookup`, in order.
GEO_FIELDS = (
    "country_iso_code",
    "country_name",
    "subdivision_iso_code",
    "subdivision_name",
    "city_name",
)

_UNKNOWN: dict[str, str | None] = dict.fromkeys(GEO_FIELDS)


def _database_kind(database_type: str) -> str | None:
    # geoip2 picks the method by substring of the type too ("GeoLite2-City",
    # "GeoIP2-City", "DBIP-City-Lite", "GeoIP2-Enterprise", "GeoLite2-Country").
    for kind in ("City", "Enterprise", "Country"):
        if kind in database_type:
            return kind
    return None


def _open_reader(path: str, locales: Sequence[str]) -> geoip2.database.Reader:
    """Open ``path``, turning every way it can fail into a ValueError that names it."""
    try:
        import geoip2.database
        import maxminddb
    except ImportError:
        raise ValueError(
            f"GeoIP database {path!r}: geo lookup needs the geoip2 package "
            "(pip install 'sstrack[geo]')"
        ) from None
    if not os.path.exists(path):
        raise ValueError(f"GeoIP database {path!r}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"GeoIP database {path!r}: not a regular file")
    try:
        return geoip2.database.Reader(path, locales=locales, mode=geoip2.database.MODE_AUTO)
    except PermissionError:
        raise ValueError(f"GeoIP database {path!r}: not readable (permission denied)") from None
    except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
        # maxminddb raises InvalidDatabaseError for a corrupt file, ValueError or
        # OSError for an empty or truncated one.
        raise ValueError(f"GeoIP database {path!r}: not a valid MaxMind DB file ({exc})") from None


def _to_fields(model: geoip2.models.Country) -> dict[str, str | None]:
    # The first subdivision is the largest (US state, German Land, English nation).
    subdivisions = getattr(model, "subdivisions", ())
    subdivision = subdivisions[0] if subdivisions else None
    city = getattr(model, "city", None)
    return {
        "country_iso_code": model.country.iso_code,
        "country_name": model.country.name,
        "subdivision_iso_code": subdivision.iso_code if subdivision else None,
        "subdivision_name": subdivision.name if subdivision else None,
        "city_name": city.name if city else None,
    }


def _normalise(ip: str) -> str:
    ip = ip.strip()
    # IPv4-mapped IPv6 (what dual-stack sockets report) is looked up as IPv4, which
    # every database holds, whether or not it aliases ::ffff:0:0/96.
    if ip[:7].lower() == "::ffff:" and "." in ip:
        return ip[7:]
    return ip


class GeoLookup:
    """Country, region and city of an IP address, with a bounded LRU cache.

    Thread-safe and fork-safe: the database is reopened in a child process.

    Args:
        path: A MaxMind DB file of a City, Country or Enterprise database.
        cache_size: Most distinct IP addresses whose answer is cached (in memory only).
        locales: Preference order of the languages of place names.

    Raises:
        ValueError: When the file is missing, unreadable, corrupt, of an unsupported
            type, or geoip2 is not installed; the message names the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cache_size: int = 4096,
        locales: Sequence[str] = ("en",),
    ) -> None:
        self.path = os.fspath(path)
        self._locales = list(locales)
        with _open_reader(self.path, self._locales) as reader:
            database_type = reader.metadata().database_type
        kind = _database_kind(database_type)
        if kind is None:
            raise ValueError(
                f"GeoIP database {self.path!r} is a {database_type!r} database; geo "
                "lookup needs a City or Country database such as GeoLite2-City"
            )
        import geoip2.errors
        import maxminddb

        self.database_type: str = database_type
        self._kind = kind
        # Invalid address (TypeError for one with a NUL), or not in the database
        # (private, reserved, unknown).
        self._not_found = (
            ValueError,
            TypeError,
            geoip2.errors.GeoIP2Error,
            maxminddb.InvalidDatabaseError,
        )
        self._open_failed = False
        self._lock = threading.Lock()
        self._reader: geoip2.database.Reader | None = None
        self._pid = 0
        self._cached = functools.lru_cache(maxsize=cache_size)(self._lookup_uncached)

    def _get_reader(self) -> geoip2.database.Reader:
        pid = os.getpid()
        if self._reader is None or self._pid != pid:
            with self._lock:
                if self._reader is None or self._pid != pid:
                    self._reader = _open_reader(self.path, self._locales)
                    self._pid = pid
        return self._reader

    def _lookup_uncached(self, ip: str) -> dict[str, str | None]:
        reader = self._get_reader()  # ValueError escapes, so that it is not cached
        try:
            if self._kind == "City":
                model: geoip2.models.Country = reader.city(ip)
            elif self._kind == "Enterprise":
                model = reader.enterprise(ip)
            else:
                model = reader.country(ip)
        except self._not_found:
            return _UNKNOWN
        return _to_fields(model)

    def lookup(self, ip: str | None) -> dict[str, str | None]:
        """Locate an IP address.

        Args:
            ip: An IPv4 or IPv6 address as text.

        Returns:
            A new dict with the keys of :data:`GEO_FIELDS`; a value is None when the
            database does not know it, and all are None for a missing, invalid,
            private or unknown address. Never raises.
        """
        if not ip:
            return dict(_UNKNOWN)
        try:
            return dict(self._cached(_normalise(ip)))
        except ValueError as exc:
            # The file went away after start-up (e.g. a forked child cannot reopen it).
            if not self._open_failed:
                self._open_failed = True
                logger.warning("sstrack: geo lookup disabled: %s", exc)
            return dict(_UNKNOWN)

    __call__ = lookup

    def cache_clear(self) -> None:
        """Empty the answer cache."""
        self._cached.cache_clear()

    def cache_info(self) -> functools._CacheInfo:
        """Return hit/miss/size statistics of the answer cache."""
        return self._cached.cache_info()

    def close(self) -> None:
        """Close the database; a later lookup reopens it."""
        with self._lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
