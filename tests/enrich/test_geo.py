"""Geo lookup against small MaxMind-format databases built in the test."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

from sstrack.enrich.geo import GEO_FIELDS, GeoLookup

UNKNOWN = dict.fromkeys(GEO_FIELDS)

# Records shaped like GeoLite2-City's (only the keys sstrack reads, plus a geoname id).
LONDON = {
    "country": {"geoname_id": 2635167, "iso_code": "GB", "names": {"en": "United Kingdom"}},
    "subdivisions": [
        {"iso_code": "ENG", "names": {"en": "England"}},
        {"iso_code": "WSM", "names": {"en": "Westminster"}},
    ],
    "city": {"names": {"en": "London"}},
}
BERLIN = {
    "country": {"iso_code": "DE", "names": {"en": "Germany", "de": "Deutschland"}},
    "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin", "de": "Berlin"}}],
    "city": {"names": {"en": "Berlin"}},
}
COUNTRY_ONLY = {"country": {"iso_code": "AU", "names": {"en": "Australia"}}}


def write_db(path: Path, database_type: str, networks: dict[str, Any]) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en", "de"],
        description="sstrack test database",
    )
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("geo") / "GeoLite2-City.mmdb"
    return write_db(
        path,
        "GeoLite2-City",
        {"81.2.69.0/24": LONDON, "2001:db8::/32": BERLIN, "1.0.0.0/24": COUNTRY_ONLY},
    )


@pytest.fixture
def geo(city_db: Path) -> GeoLookup:
    return GeoLookup(city_db)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("81.2.69.160", ("GB", "United Kingdom", "ENG", "England", "London")),
        ("81.2.69.1", ("GB", "United Kingdom", "ENG", "England", "London")),
        ("::ffff:81.2.69.160", ("GB", "United Kingdom", "ENG", "England", "London")),
        (" 81.2.69.160 ", ("GB", "United Kingdom", "ENG", "England", "London")),
        ("2001:db8::1", ("DE", "Germany", "BE", "Land Berlin", "Berlin")),
        ("2001:DB8:ffff::42", ("DE", "Germany", "BE", "Land Berlin", "Berlin")),
        ("1.0.0.7", ("AU", "Australia", None, None, None)),
    ],
)
def test_lookup(geo: GeoLookup, ip: str, expected: tuple[str | None, ...]) -> None:
    assert geo.lookup(ip) == dict(zip(GEO_FIELDS, expected, strict=True))


@pytest.mark.parametrize(
    "ip",
    [
        "10.0.0.1",  # private
        "192.168.1.10",
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fe80::1%eth0",
        "8.8.8.8",  # public, not in this database
        "2a00:1450::1",
        "not-an-ip",
        "999.1.1.1",
        "1.2.3.4:80",
        "[2001:db8::1]",
        "",
        None,
    ],
)
def test_unknown_or_invalid_address(geo: GeoLookup, ip: str | None) -> None:
    assert geo.lookup(ip) == UNKNOWN


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60) | st.ip_addresses().map(str))
def test_lookup_never_raises(city_db: Path, ip: str) -> None:
    assert set(GeoLookup(city_db).lookup(ip)) == set(GEO_FIELDS)


def test_result_is_a_fresh_dict(geo: GeoLookup) -> None:
    geo.lookup("81.2.69.160")["city_name"] = "changed"
    assert geo.lookup("81.2.69.160")["city_name"] == "London"
    geo.lookup("10.0.0.1")["city_name"] = "changed"
    assert geo.lookup("10.0.0.2")["city_name"] is None


def test_repeated_address_is_served_from_cache(city_db: Path) -> None:
    geo = GeoLookup(city_db, cache_size=2)
    for ip in ("81.2.69.160", "81.2.69.160", "1.0.0.1", "10.0.0.1"):
        geo.lookup(ip)
    info = geo.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 3, 2)


def test_locales(city_db: Path) -> None:
    fields = GeoLookup(city_db, locales=["de", "en"]).lookup("2001:db8::1")
    assert (fields["country_name"], fields["subdivision_name"]) == ("Deutschland", "Berlin")
    # Falls back to the next locale where a name has no German form.
    assert GeoLookup(city_db, locales=["de", "en"]).lookup("81.2.69.1")["city_name"] == "London"


def test_close_then_lookup_reopens(city_db: Path) -> None:
    geo = GeoLookup(city_db)
    assert geo.lookup("81.2.69.160")["country_iso_code"] == "GB"
    geo.close()
    geo.close()  # idempotent
    assert geo.lookup("2001:db8::1")["country_iso_code"] == "DE"


def test_country_database(tmp_path: Path) -> None:
    path = write_db(tmp_path / "country.mmdb", "GeoLite2-Country", {"81.2.69.0/24": LONDON})
    geo = GeoLookup(path)
    assert geo.lookup("81.2.69.160") == {
        **UNKNOWN,
        "country_iso_code": "GB",
        "country_name": "United Kingdom",
    }


def test_dbip_city_database(tmp_path: Path) -> None:
    path = write_db(tmp_path / "dbip.mmdb", "DBIP-City-Lite", {"81.2.69.0/24": LONDON})
    assert GeoLookup(path).lookup("81.2.69.160")["city_name"] == "London"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mmdb"
    with pytest.raises(ValueError, match=r"nope\.mmdb.*no such file"):
        GeoLookup(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a regular file"):
        GeoLookup(tmp_path)


@pytest.mark.parametrize(
    "content", [b"", b"this is not a database", os.urandom(4096)], ids=["empty", "text", "random"]
)
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "corrupt.mmdb"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"corrupt\.mmdb.*not a valid MaxMind DB file"):
        GeoLookup(path)


def test_truncated_file(tmp_path: Path, city_db: Path) -> None:
    path = tmp_path / "truncated.mmdb"
    path.write_bytes(city_db.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a valid MaxMind DB file"):
        GeoLookup(path)


def test_unreadable_file(tmp_path: Path, city_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geoip2.database

    path = tmp_path / "secret.mmdb"
    path.write_bytes(city_db.read_bytes())
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any file: simulate what another user gets

        def denied(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(geoip2.database, "Reader", denied)
    with pytest.raises(ValueError, match=r"secret\.mmdb.*permission denied"):
        GeoLookup(path)


def test_unsupported_database_type(tmp_path: Path) -> None:
    path = write_db(tmp_path / "asn.mmdb", "GeoLite2-ASN", {"81.2.69.0/24": {"x": "y"}})
    with pytest.raises(ValueError, match=r"asn\.mmdb.*'GeoLite2-ASN'.*City or Country"):
        GeoLookup(path)


def test_missing_geoip2(monkeypatch: pytest.MonkeyPatch, city_db: Path) -> None:
    monkeypatch.setitem(sys.modules, "geoip2.database", None)
    with pytest.raises(ValueError, match=r"needs the geoip2 package"):
        GeoLookup(city_db)


def test_file_removed_after_start_up(tmp_path: Path, city_db: Path) -> None:
    path = tmp_path / "moved.mmdb"
    path.write_bytes(city_db.read_bytes())
    geo = GeoLookup(path)
    path.unlink()
    assert geo.lookup("81.2.69.160") == UNKNOWN  # logged once, never raised
    assert geo.lookup("2001:db8::1") == UNKNOWN
