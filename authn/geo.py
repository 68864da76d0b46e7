"""GeoIP from an offline MaxMind-format database (``settings.GEOIP_DATABASE``, a ``.mmdb`` path).

City databases (GeoLite2/GeoIP2 City) give a country and coordinates; Country databases give the
country only. Nothing is looked up over the network.

A configured file that is missing or corrupt is logged as an error the first time it is needed
(the path and the kind of failure, never a client address) and ``locate`` then answers ``None``
for everyone: a sign-in must not crash on a broken GeoIP file. Conditional access treats ``None``
as "country unknown", which blocks where countries are restricted (fail closed) and allows
elsewhere. Opening is retried after ``REOPEN_AFTER_SECONDS`` so a fixed file is picked up
without a restart.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import maxminddb
from django.conf import settings

logger = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0088
REOPEN_AFTER_SECONDS = 300

# Addresses no public GeoIP database can place. The documentation ranges (192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are deliberately not here: Python counts them
# as "private", but they are looked up like any public address (a real database has no entry for
# them; the tests' small database does).
_NOT_LOOKED_UP = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


@dataclass(frozen=True)
class Location:
    country: str  # ISO 3166-1 alpha-2, upper case; "" when unknown
    latitude: float | None
    longitude: float | None

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class GeoStatus:
    """What the Access policy page shows: whether GeoIP is configured and usable."""

    configured: bool
    available: bool
    database_type: str = ""
    built: datetime | None = None
    has_coordinates: bool = False


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.path: str | None = None
        self.reader: Any = None
        self.failed_at: float | None = None


_cache = _Cache()


def forget_reader() -> None:
    """Drop the cached reader (tests, or after replacing the file)."""
    with _cache.lock:
        if _cache.reader is not None:
            _cache.reader.close()
        _cache.path = None
        _cache.reader = None
        _cache.failed_at = None


def _configured_path() -> str | None:
    path = getattr(settings, "GEOIP_DATABASE", None)
    return str(path) if path else None


def _reader() -> Any:
    """The open database for the configured path, or ``None`` (not configured, or unusable)."""
    path = _configured_path()
    if path is None:
        return None
    with _cache.lock:
        if _cache.path == path:
            if _cache.reader is not None:
                return _cache.reader
            if _cache.failed_at is not None and time.monotonic() - _cache.failed_at < REOPEN_AFTER_SECONDS:
                return None
        elif _cache.reader is not None:
            _cache.reader.close()
        _cache.path, _cache.reader, _cache.failed_at = path, None, None
        try:
            _cache.reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            _cache.failed_at = time.monotonic()
            logger.error(
                "GEOIP_DATABASE %s cannot be opened (%s): every location counts as unknown", path, type(exc).__name__
            )
            return None
        return _cache.reader


def is_configured() -> bool:
    return _configured_path() is not None


def status() -> GeoStatus:
    if not is_configured():
        return GeoStatus(configured=False, available=False)
    reader = _reader()
    if reader is None:
        return GeoStatus(configured=True, available=False)
    metadata = reader.metadata()
    database_type = str(metadata.database_type)
    return GeoStatus(
        configured=True,
        available=True,
        database_type=database_type,
        built=datetime.fromtimestamp(metadata.build_epoch, tz=UTC),
        has_coordinates="country" not in database_type.lower(),
    )


def _lookup_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in _NOT_LOOKED_UP if network.version == address.version):
        return None
    return address


def _country(record: dict[str, Any]) -> str:
    # City and Country databases: {"country": {"iso_code": "US"}}; a few compatible databases
    # store the code directly ({"country": "US"}). Fall back to the registered country.
    for key in ("country", "registered_country"):
        value = record.get(key)
        code = value.get("iso_code") if isinstance(value, dict) else value
        if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
            return code.upper()
    return ""


def _coordinate(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and -limit <= number <= limit else None


def locate(ip: str) -> Location | None:
    """Where ``ip`` is, or ``None``: no (usable) database, a private or invalid address, or an
    address the database does not know."""
    address = _lookup_address(ip)
    if address is None:
        return None
    reader = _reader()
    if reader is None:
        return None
    try:
        record = reader.get(address)
    except (ValueError, maxminddb.InvalidDatabaseError):
        # An IPv6 address in an IPv4-only database, or a damaged file: unknown, not a crash.
        return None
    if not isinstance(record, dict):
        return None
    location = record.get("location")
    latitude = longitude = None
    if isinstance(location, dict):
        latitude = _coordinate(location.get("latitude"), 90)
        longitude = _coordinate(location.get("longitude"), 180)
        if latitude is None or longitude is None:
            latitude = longitude = None
    country = _country(record)
    if not country and latitude is None:
        return None
    return Location(country=country, latitude=latitude, longitude=longitude)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) between two points, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
