"""GeoIP from an offline MaxMind-format database: City and Country records, addresses that are
never looked up, and a broken file that is logged and answered with "unknown", not a crash."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authn import geo
from authn.geo import Location, distance_km, forget_reader, locate
from authn.tests.geoip import (
    BERLIN,
    BERLIN_IP,
    COUNTRY_RECORDS,
    NEW_YORK,
    NEW_YORK_IP,
    PARIS_IPV6,
    TOKYO,
    TOKYO_IP,
    UNLISTED_IP,
    geoip_db,  # noqa: F401 - fixture
    no_geoip,  # noqa: F401 - fixture
    write_database,
)


def test_without_a_database_nothing_is_located(no_geoip):  # noqa: F811
    assert locate(NEW_YORK_IP) is None
    assert geo.status() == geo.GeoStatus(configured=False, available=False)
    assert not geo.is_configured()


def test_a_city_database_gives_country_and_coordinates(geoip_db):  # noqa: F811
    assert locate(NEW_YORK_IP) == Location("US", *NEW_YORK)
    assert locate(TOKYO_IP) == Location("JP", *TOKYO)
    assert locate(BERLIN_IP) == Location("DE", *BERLIN)
    assert locate(" 198.51.100.200 ") == Location("US", *NEW_YORK)


def test_ipv6_and_ipv4_mapped_addresses_are_located(geoip_db):  # noqa: F811
    assert locate(PARIS_IPV6) is not None and locate(PARIS_IPV6).country == "FR"  # type: ignore[union-attr]
    assert locate(f"::ffff:{TOKYO_IP}") == Location("JP", *TOKYO)


@pytest.mark.parametrize("ip", [UNLISTED_IP, "2001:db8:2::1"])
def test_an_address_the_database_does_not_know_is_none(geoip_db, ip):  # noqa: F811
    assert locate(ip) is None


@pytest.mark.parametrize(
    "ip",
    ["10.1.2.3", "127.0.0.1", "192.168.1.5", "172.16.0.1", "100.64.0.1", "169.254.1.1", "::1", "fe80::1", "fd00::1"],
)
def test_private_and_loopback_addresses_are_never_looked_up(geoip_db, ip):  # noqa: F811
    # The test database does hold 10.0.0.0/8, so a lookup would have answered.
    assert locate(ip) is None


@pytest.mark.parametrize("ip", ["", "not-an-address", "999.1.1.1", "198.51.100.0/24"])
def test_an_invalid_address_is_none(geoip_db, ip):  # noqa: F811
    assert locate(ip) is None


def test_a_country_database_gives_the_country_only(settings, tmp_path):
    path = write_database(tmp_path / "country.mmdb", COUNTRY_RECORDS, database_type="GeoLite2-Country")
    forget_reader()
    settings.GEOIP_DATABASE = str(path)
    try:
        assert locate(NEW_YORK_IP) == Location("US", None, None)
        status = geo.status()
        assert status.available and status.database_type == "GeoLite2-Country" and not status.has_coordinates
    finally:
        forget_reader()


def test_flat_country_records_and_registered_country_are_understood(settings, tmp_path):
    records = {
        "198.51.100.0/24": {"country": "us"},
        "203.0.113.0/24": {"registered_country": {"iso_code": "JP"}},
        "192.0.2.0/24": {"city": {"names": {"en": "Nowhere"}}},  # nothing usable
        "2001:db8:1::/48": {"country": {"iso_code": "FR"}, "location": {"latitude": 123.0, "longitude": 2.0}},
    }
    path = write_database(tmp_path / "odd.mmdb", records, database_type="Odd")
    forget_reader()
    settings.GEOIP_DATABASE = str(path)
    try:
        assert locate(NEW_YORK_IP) == Location("US", None, None)
        assert locate(TOKYO_IP) == Location("JP", None, None)
        assert locate(BERLIN_IP) is None
        assert locate(PARIS_IPV6) == Location("FR", None, None)  # an impossible latitude is dropped
    finally:
        forget_reader()


def test_status_describes_the_database(geoip_db):  # noqa: F811
    status = geo.status()
    assert status.configured and status.available
    assert status.database_type == "GeoLite2-City" and status.has_coordinates
    assert status.built is not None


@pytest.mark.parametrize("content", [None, b"", b"this is not a maxmind database" * 100])
def test_a_missing_or_corrupt_file_is_logged_and_locates_nothing(settings, tmp_path, caplog, content):
    path = tmp_path / "broken.mmdb"
    if content is not None:
        path.write_bytes(content)
    forget_reader()
    settings.GEOIP_DATABASE = str(path)
    try:
        with caplog.at_level(logging.ERROR, logger="authn.geo"):
            assert locate(NEW_YORK_IP) is None
            assert locate(TOKYO_IP) is None  # not retried on every lookup: logged once
        errors = [record for record in caplog.records if record.name == "authn.geo"]
        assert len(errors) == 1
        message = errors[0].getMessage()
        assert "GEOIP_DATABASE" in message and str(path) in message
        assert NEW_YORK_IP not in message and TOKYO_IP not in message
        status = geo.status()
        assert status.configured and not status.available
    finally:
        forget_reader()


def test_a_fixed_file_is_picked_up_after_the_retry_interval(settings, tmp_path, monkeypatch):
    path = tmp_path / "later.mmdb"
    forget_reader()
    settings.GEOIP_DATABASE = str(path)
    try:
        assert locate(NEW_YORK_IP) is None
        write_database(path, COUNTRY_RECORDS)
        assert locate(NEW_YORK_IP) is None  # still within the retry interval
        monkeypatch.setattr(geo, "REOPEN_AFTER_SECONDS", 0)
        assert locate(NEW_YORK_IP) == Location("US", None, None)
    finally:
        forget_reader()


def test_changing_the_setting_opens_the_new_file(settings, tmp_path, geoip_db):  # noqa: F811
    assert locate(NEW_YORK_IP) == Location("US", *NEW_YORK)
    other = write_database(tmp_path / "other.mmdb", {"198.51.100.0/24": {"country": {"iso_code": "CA"}}})
    settings.GEOIP_DATABASE = str(other)
    assert locate(NEW_YORK_IP) == Location("CA", None, None)


def test_distance_between_known_cities():
    assert distance_km(*NEW_YORK, *TOKYO) == pytest.approx(10_850, rel=0.01)
    assert distance_km(*NEW_YORK, *BERLIN) == pytest.approx(6_385, rel=0.01)
    assert distance_km(*BERLIN, *BERLIN) == 0
    assert distance_km(0, 0, 0, 180) == pytest.approx(20_015, rel=0.001)  # half the circumference


latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)


@given(latitudes, longitudes, latitudes, longitudes)
def test_distance_is_symmetric_and_bounded(lat1, lon1, lat2, lon2):
    there = distance_km(lat1, lon1, lat2, lon2)
    back = distance_km(lat2, lon2, lat1, lon1)
    assert there == pytest.approx(back, abs=1e-6)
    assert 0 <= there <= 20_016
