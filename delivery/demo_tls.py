"""The local demo's certificate authority: made at first run under ``VAR_DIR/demo-tls``.

The embedded default's SMTP sink has a STARTTLS listener standing for a recipient domain whose MX
offers verified TLS. Its certificate is issued for ``localhost`` (the demo's MX host name) by a
CA that exists only in this directory; the runner gives the CA to ``DELIVERY_TLS_CA_FILE``, so
Sealpost verifies the sink as it would a real MX. Nothing here is trusted anywhere else, and
production never runs it. Files are written owner-only; an existing set is reused while the
server certificate has more than ``RENEW_WITHIN`` left and still chains to the CA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEMO_TLS_DIRECTORY = "demo-tls"
DEMO_CA_NAME = "Sealpost Local Demo CA (not trusted anywhere else)"
# The name Sealpost connects to for the demo's MX (DELIVERY_MX_OVERRIDES): it resolves to the
# loopback address through /etc/hosts, where the sink listens.
DEMO_MX_HOST = "localhost"
CA_DAYS = 3650
SERVER_DAYS = 825
RENEW_WITHIN = timedelta(days=30)

_KEY_USAGE_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


@dataclass(frozen=True)
class DemoTls:
    """Where the demo's CA certificate and the sink's certificate and key are."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def demo_tls_paths(var_dir: Path) -> DemoTls:
    directory = var_dir / DEMO_TLS_DIRECTORY
    return DemoTls(directory / "ca.crt", directory / "sink.crt", directory / "sink.key")


def _key_usage(*allowed: str) -> x509.KeyUsage:
    return x509.KeyUsage(**{name: name in allowed for name in _KEY_USAGE_FIELDS})


def _write_private(path: Path, data: bytes) -> None:
    """``data`` at ``path``, owner-only, replacing any old file in one rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    temporary.replace(path)


def _ca(now: datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DEMO_CA_NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _server(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, host: str, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage("digital_signature"), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _usable(paths: DemoTls, host: str, now: datetime) -> bool:
    """The files exist, the server certificate names ``host``, is valid past the renewal margin
    and was signed by the CA in ``ca_file``."""
    try:
        ca_cert = x509.load_pem_x509_certificate(paths.ca_file.read_bytes())
        cert = x509.load_pem_x509_certificate(paths.cert_file.read_bytes())
        serialization.load_pem_private_key(paths.key_file.read_bytes(), password=None)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca_cert)
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound):
        return False
    return host in names.get_values_for_type(x509.DNSName) and cert.not_valid_after_utc - now > RENEW_WITHIN


def ensure_demo_tls(var_dir: Path, *, host: str = DEMO_MX_HOST) -> DemoTls:
    """The demo CA and the sink's certificate for ``host`` under ``var_dir``, made if missing,
    unusable or near expiry (a new CA each time: its key is never kept, so nothing else can
    be issued under it)."""
    paths = demo_tls_paths(var_dir)
    now = datetime.now(UTC)
    if _usable(paths, host, now):
        return paths
    paths.ca_file.parent.mkdir(parents=True, exist_ok=True)
    paths.ca_file.parent.chmod(0o700)
    ca_cert, ca_key = _ca(now)
    cert, key = _server(ca_cert, ca_key, host, now)
    _write_private(
        paths.key_file,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    _write_private(paths.cert_file, cert.public_bytes(serialization.Encoding.PEM))
    _write_private(paths.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
    return paths


# --- The demo's two recipient domains ------------------------------------------------------------

# Synthetic (.test is reserved, RFC 2606): the demo contacts live at these two, and the runner
# routes each to one of the sink's listeners through DELIVERY_MX_OVERRIDES.
DEMO_VERIFIED_DOMAIN = "verified.example.test"  # MX offers STARTTLS, certificate from the demo CA
DEMO_PLAIN_DOMAIN = "plain.example.test"  # MX offers no STARTTLS: PHI to it goes to escrow
DEMO_RECIPIENT_DOMAINS = (DEMO_VERIFIED_DOMAIN, DEMO_PLAIN_DOMAIN)


def demo_mx_overrides(*, plain_port: int, starttls_port: int, host: str = DEMO_MX_HOST) -> dict[str, str]:
    """``DELIVERY_MX_OVERRIDES`` entries routing the demo domains to the sink's listeners."""
    return {DEMO_VERIFIED_DOMAIN: f"{host}:{starttls_port}", DEMO_PLAIN_DOMAIN: f"{host}:{plain_port}"}
