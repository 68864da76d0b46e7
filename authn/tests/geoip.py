"""A tiny MaxMind-format GeoIP database for tests, written with ``mmdb-writer``.

The networks are documentation ranges (RFC 5737, RFC 3849), which no real database places:

    198.51.100.0/24 -> US, New York        203.0.113.0/24 -> JP, Tokyo
    192.0.2.0/24    -> DE, Berlin          2001:db8:1::/48 -> FR, Paris
    10.0.0.0/8      -> US (a private range: ``locate`` must never look it up)

Use the ``geoip_db`` fixture (import it into the test module) for the City-style database;
``write_database`` builds others (Country-only, or any records).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from authn.geo import forget_reader

NEW_YORK_IP = "198.51.100.10"
TOKYO_IP = "203.0.113.10"
BERLIN_IP = "192.0.2.10"
PARIS_IPV6 = "2001:db8:1::10"
UNLISTED_IP = "8.8.8.8"

NEW_YORK = (40.7128, -74.0060)
TOKYO = (35.6762, 139.6503)
BERLIN = (52.5200, 13.4050)
PARIS = (48.8566, 2.3522)


def city(country: str, lat: float, lon: float) -> dict[str, Any]:
    return {
        "country": {"iso_code": country, "names": {"en": country}},
        "registered_country": {"iso_code": country},
        "location": {"latitude": lat, "longitude": lon, "accuracy_radius": 20},
    }


def country_only(country: str) -> dict[str, Any]:
    return {"country": {"iso_code": country}, "continent": {"code": "XX"}}


CITY_RECORDS: dict[str, dict[str, Any]] = {
    "198.51.100.0/24": city("US", *NEW_YORK),
    "203.0.113.0/24": city("JP", *TOKYO),
    "192.0.2.0/24": city("DE", *BERLIN),
    "2001:db8:1::/48": city("FR", *PARIS),
    "10.0.0.0/8": city("US", *NEW_YORK),
}
COUNTRY_RECORDS: dict[str, dict[str, Any]] = {
    "198.51.100.0/24": country_only("US"),
    "203.0.113.0/24": country_only("JP"),
    "192.0.2.0/24": country_only("DE"),
}


def write_database(path: Path, records: dict[str, Any], *, database_type: str = "GeoLite2-City") -> Path:
    writer = MMDBWriter(
        ip_version=6, ipv4_compatible=True, database_type=database_type, languages=["en"], description="Sealpost tests"
    )
    for network, record in records.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def geoip_db(settings, tmp_path) -> Iterator[Path]:
    """A City-style database at a temporary path, configured as ``GEOIP_DATABASE``."""
    path = write_database(tmp_path / "geoip-city.mmdb", CITY_RECORDS)
    forget_reader()
    settings.GEOIP_DATABASE = str(path)
    yield path
    forget_reader()


@pytest.fixture
def no_geoip(settings) -> Iterator[None]:
    forget_reader()
    settings.GEOIP_DATABASE = None
    yield
    forget_reader()
