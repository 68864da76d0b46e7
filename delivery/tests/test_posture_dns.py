"""MX resolution (overrides, preference order, implicit MX, null MX), domain names, and the
delivery settings' strict parsing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from delivery.posture import InvalidDomain, MxTarget, normalise_domain, probe_domain, resolve_mx, split_host_port
from delivery.testing import FakeResolver, use_resolver
from sealpost.env import EnvError
from sealpost.settings import env_host_port_map

DOMAIN = "clinic.example.test"


@pytest.fixture
def resolver():
    with use_resolver(FakeResolver()) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _delivery_settings(settings, resolver):
    settings.DELIVERY_MX_OVERRIDES = {}
    settings.DELIVERY_MTA_STS_OVERRIDES = {}
    settings.DELIVERY_PROBE_TIMEOUT_SECONDS = 2


def test_an_mx_override_replaces_the_lookup(settings, resolver):
    settings.DELIVERY_MX_OVERRIDES = {DOMAIN: "mx.demo.test:2526"}
    resolution = resolve_mx(DOMAIN)
    assert resolution.targets == (MxTarget("mx.demo.test", 2526, 0, overridden=True),)
    assert resolution.secure is True  # configured, not looked up: as trustworthy as the settings
    assert not any(kind == "MX" for kind, _ in resolver.queries)


def test_mx_hosts_come_in_preference_order(resolver):
    resolver.mx_records[DOMAIN] = ([(20, "b.mx.test."), (10, "A.MX.test."), (30, "a.mx.test")], False)
    resolution = resolve_mx(DOMAIN)
    assert [(t.host, t.port, t.preference) for t in resolution.targets] == [
        ("a.mx.test", 25, 10),
        ("b.mx.test", 25, 20),
    ]
    assert resolution.secure is False
    resolver.mx_records[DOMAIN] = ([(10, "a.mx.test")], True)
    assert resolve_mx(DOMAIN).secure is True  # DNSSEC-validated (AD): DANE may be used


def test_a_null_mx_refuses_delivery(resolver):
    resolver.mx_records[DOMAIN] = ([(0, ".")], False)
    posture = probe_domain(DOMAIN)
    assert posture.delivery_refused is True
    assert posture.tls == "none" and posture.mx_hosts == ()
    assert posture.reasons == (f"{DOMAIN} accepts no mail (null MX, RFC 7505)",)


def test_a_domain_that_does_not_exist_refuses_delivery(resolver):
    resolver.nxdomain.add(DOMAIN)
    posture = probe_domain(DOMAIN)
    assert posture.delivery_refused is True
    assert posture.reasons[0] == f"the domain {DOMAIN} does not exist"


def test_without_mx_records_the_domain_itself_is_the_mx(resolver):
    resolution = resolve_mx(DOMAIN)
    assert resolution.targets == (MxTarget(DOMAIN, 25, 0),)
    resolver.default_address = None
    assert resolve_mx(DOMAIN).refused == f"the domain {DOMAIN} has no MX records and no address"


def test_a_failed_lookup_is_no_tls_for_now_not_a_refusal(resolver):
    resolver.failing.add(DOMAIN)
    posture = probe_domain(DOMAIN)
    assert (posture.tls, posture.delivery_refused) == ("none", False)
    assert posture.reasons[0] == "the MX lookup failed: the lookup failed (SERVFAIL)"


def test_an_mx_pointing_into_private_address_space_is_not_contacted(resolver):
    # Probes (and the check-now form) must not become a scanner of our own network.
    resolver.mx_records[DOMAIN] = ([(10, "mx.inside.test")], False)
    resolver.address_records["mx.inside.test"] = ["10.1.2.3", "127.0.0.1"]
    posture = probe_domain(DOMAIN)
    assert posture.tls == "none"
    assert posture.reasons == (
        "MX mx.inside.test resolves only to private or reserved addresses",
        "no MX host could be reached",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Example.COM.", "example.com"), (" clinic.example.test ", DOMAIN), ("bücher.example", "xn--bcher-kva.example")],
)
def test_domains_are_normalised(value, expected):
    assert normalise_domain(value) == expected


@pytest.mark.parametrize(
    "value", ["", "localhost", "127.0.0.1", "-a.example", "a..example", "a_b.example", "x" * 64 + ".test"]
)
def test_invalid_domains_are_refused(value):
    with pytest.raises(InvalidDomain):
        normalise_domain(value)


def test_host_port_values_are_split():
    assert split_host_port("mx.test:25") == ("mx.test", 25)
    assert split_host_port("[::1]:2525") == ("::1", 2525)
    for bad in ("mx.test", "mx.test:0", "mx.test:70000", ":25"):
        with pytest.raises(ValueError):
            split_host_port(bad)


def test_override_settings_parse_strictly():
    name = "DELIVERY_MX_OVERRIDES"
    assert env_host_port_map(name, environ={}) == {}
    assert env_host_port_map(name, environ={name: '{"Clinic.Example.": "localhost:2526"}'}) == {
        "clinic.example": "localhost:2526"
    }
    cases = {
        "{not json": "DELIVERY_MX_OVERRIDES is not valid JSON",
        '["a.test"]': "must be a JSON object",
        '{"a.test": "localhost"}': "the value for 'a.test' must be \"host:port\"",
        '{"a.test": "localhost:99999"}': "the value for 'a.test' must be \"host:port\"",
        '{"a.test": 25}': "the value for 'a.test' must be \"host:port\"",
        '{"a b": "localhost:25"}': "'a b' is not a domain name",
        '{"a.test": "x:1", "A.test": "y:2"}': "'A.test' is given twice",
    }
    for raw, message in cases.items():
        with pytest.raises(EnvError) as error:
            env_host_port_map(name, environ={name: raw})
        assert message in str(error.value), raw


def test_bad_delivery_settings_stop_start_up_with_a_clear_message(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("DELIVERY_")}
    base["SEALPOST_VAR_DIR"] = str(tmp_path)
    root = Path(__file__).resolve().parents[2]
    for variable, value, message in [
        ("DELIVERY_TLS_CA_FILE", str(tmp_path / "missing.pem"), "is not a readable file"),
        ("DELIVERY_MTA_STS_OVERRIDES", '{"a.test": "nowhere"}', "DELIVERY_MTA_STS_OVERRIDES: the value for 'a.test'"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", "import sealpost.settings"],
            env={**base, variable: value},
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert message in result.stderr, result.stderr[-500:]


@pytest.fixture
def dns_server():
    from delivery.testing import start_dns_server

    server = start_dns_server(
        {
            (DOMAIN, "MX"): ["20 b.mx.test.", "10 a.mx.test."],
            ("null.example.test", "MX"): ["0 ."],
            (f"_mta-sts.{DOMAIN}", "TXT"): ['"v=STSv1; " "id=42"', '"unrelated"'],
            ("_25._tcp.a.mx.test", "TLSA"): ["3 1 1 " + "ab" * 32],
        }
    )
    server.nxdomain.add("gone.example.test")
    yield server
    server.stop()


def test_the_dnspython_resolver_reads_records_and_the_ad_flag(dns_server):
    from delivery.posture import DnsPythonResolver, TlsaRecord

    real = DnsPythonResolver(timeout=2, nameservers=["127.0.0.1"], port=dns_server.port)
    mx = real.mx(DOMAIN)
    assert sorted(mx.records) == [(10, "a.mx.test"), (20, "b.mx.test")]
    assert mx.authenticated is False
    assert real.mx("null.example.test").records == ((0, "."),)
    assert sorted(real.txt(f"_mta-sts.{DOMAIN}").records) == ["unrelated", "v=STSv1; id=42"]
    dns_server.authenticated = True
    tlsa = real.tlsa("_25._tcp.a.mx.test")
    assert tlsa.records == (TlsaRecord(3, 1, 1, bytes.fromhex("ab" * 32)),)
    assert tlsa.authenticated is True


def test_the_dnspython_resolver_tells_missing_from_failed(dns_server):
    from delivery.posture import DnsLookupFailed, DnsNoRecords, DnsPythonResolver

    real = DnsPythonResolver(timeout=2, nameservers=["127.0.0.1"], port=dns_server.port)
    with pytest.raises(DnsNoRecords) as missing:
        real.mx("gone.example.test")
    assert missing.value.nxdomain is True
    with pytest.raises(DnsNoRecords) as empty:
        real.tlsa("_25._tcp.b.mx.test")
    assert empty.value.nxdomain is False
    port = dns_server.port
    dns_server.stop()
    silent = DnsPythonResolver(timeout=0.5, nameservers=["127.0.0.1"], port=port)
    with pytest.raises(DnsLookupFailed, match="the MX lookup failed"):
        silent.mx(DOMAIN)
