"""Sealpost settings, driven by environment variables (see docs/configuration.md).

With no variables at all this is the embedded default: SQLite, a Celery broker on the local
filesystem, a local master-key file and the local SMTP sink. ``DATABASE_URL`` and ``REDIS_URL``
switch to PostgreSQL and Redis; ``SEALPOST_PRODUCTION=true`` turns on everything
``manage.py check --deploy`` asks for and refuses to start without real secrets.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.utils.csp import CSP

from sealpost.env import EnvError, env_bool, env_int, env_list, env_required, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SEALPOST_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")

PRODUCTION = env_bool("SEALPOST_PRODUCTION", False)
DEBUG = env_bool("SEALPOST_DEBUG", False)
if PRODUCTION and DEBUG:
    raise EnvError("SEALPOST_DEBUG cannot be true when SEALPOST_PRODUCTION is true.")


def _embedded_secret_key() -> str:
    """The embedded default keeps a random key in var/ so sessions survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = env_required("SECRET_KEY") if PRODUCTION else (env_str("SECRET_KEY") or _embedded_secret_key())
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise EnvError("ALLOWED_HOSTS must be set in production.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000") or "http://localhost:8000"

INSTALLED_APPS = [
    # Ours first: tenants overrides ``migrate`` and ``flush`` to run them as the schema owner.
    "tenants",
    "authn",
    "audit",
    "baa",
    "segments",
    "consent",
    "templates",
    "campaigns",
    "encryption",
    "delivery",
    "reporting",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sealpost.request_id.RequestIdMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "authn.sessions.SessionTimeoutMiddleware",
    "authn.binding.SessionBindingMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "tenants.middleware.TenantMiddleware",
    "authn.enforcement.ConditionalAccessMiddleware",
]

ROOT_URLCONF = "sealpost.urls"
WSGI_APPLICATION = "sealpost.wsgi.application"
ASGI_APPLICATION = "sealpost.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "sealpost" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "tenants.context_processors.tenancy",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
# DATABASE_URL: the application's role (subject to row-level security, owns nothing).
# DATABASE_MIGRATE_URL: the schema owner, used only by migrate/flush and test set-up.
DATABASE_URL = env_str("DATABASE_URL")
DATABASE_MIGRATE_URL = env_str("DATABASE_MIGRATE_URL")


def _database(url: str | None, migrate_url: str | None) -> dict[str, Any]:
    if url is None:
        if migrate_url is not None:
            raise EnvError("DATABASE_MIGRATE_URL needs DATABASE_URL as well.")
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "sealpost.sqlite3"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    try:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0))
        )
    except ValueError as exc:
        raise EnvError(f"DATABASE_URL: {exc}") from None
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise EnvError("DATABASE_URL must be a postgres:// URL (or unset for the embedded SQLite).")
    config["ENGINE"] = "tenants.db.postgresql"
    config["CONN_HEALTH_CHECKS"] = True
    if migrate_url is not None:
        owner = dj_database_url.parse(migrate_url)
        if (owner["HOST"], owner["PORT"], owner["NAME"]) != (config["HOST"], config["PORT"], config["NAME"]):
            raise EnvError("DATABASE_MIGRATE_URL must point at the same database as DATABASE_URL.")
        config["OWNER"] = {"USER": owner["USER"], "PASSWORD": owner.get("PASSWORD", "")}
    config.setdefault("TEST", {})
    return config


DATABASES = {"default": _database(DATABASE_URL, DATABASE_MIGRATE_URL)}
# The embedded SQLite builds covering indexes (``include=``) as plain ones, which is all it
# needs at its size; Django warns about it on every command.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if DATABASE_URL is None else []
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery ----------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"visibility_timeout": 3600}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
# Keep our JSON handler and PHI scrubbing on the root logger in workers and beat.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Task modules outside the apps' tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["segments.retention", "segments.import_recovery", "reporting.compliance_tasks"]
# How often beat looks for due work (campaigns.scheduling): the longest a due step waits.
DUE_WORK_TICK_SECONDS = env_int("DUE_WORK_TICK_SECONDS", 10, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "audit-checkpoints": {
        "task": "audit.write_checkpoints",
        "schedule": env_int("AUDIT_CHECKPOINT_SECONDS", 600, minimum=10),
    },
    "audit-verify": {
        "task": "audit.verify_chains",
        "schedule": env_int("AUDIT_VERIFY_SECONDS", 3600, minimum=60),
    },
    # Emergency access ends on its own at expires_at; this writes the expiry to the audit log.
    "break-glass-expiry": {"task": "authn.break_glass_expire", "schedule": 60},
    # Data retention: each organisation's policy removes its long-inactive contacts, daily.
    "segments-retention": {"task": "segments.retention_run_all", "schedule": 24 * 3600},
    # Imports whose worker died, never-started ones and abandoned uploads end (and lose their file).
    "segments-imports-reap": {"task": "segments.imports_reap", "schedule": 300},
    # BAAs past their expiry date are marked expired (the gate already refuses them by date).
    "baa-expire": {"task": "baa.expire_agreements", "schedule": 3600},
    # Compliance officers hear of HIPAA marketing authorisations expiring in 30 and 7 days.
    "consent-authorisation-expiry": {"task": "consent.authorisation_expiry_reminders", "schedule": 24 * 3600},
    # Recipient domains' TLS posture: re-probe cached postures about to expire (delivery.tasks).
    "delivery-posture-refresh": {"task": "delivery.refresh_domain_postures", "schedule": 3600},
    # Scheduled campaigns whose time has come start sending (campaigns.tasks).
    "campaigns-dispatch-due": {"task": "campaigns.dispatch_due", "schedule": 60},
    # Due work (journey steps, delayed sends) is claimed from the database and run by workers;
    # a late or missed tick only delays it (campaigns.scheduling).
    # Ticks not started within a period are dropped (workers down): the next one finds it all.
    "campaigns-due-work": {
        "task": "campaigns.due_work_tick",
        "schedule": DUE_WORK_TICK_SECONDS,
        "options": {"expires": DUE_WORK_TICK_SECONDS},
    },
    # Sending campaigns with due work nobody holds (retries due, a dead worker's batch) get a
    # batch chain again; finished ones complete (delivery.tasks).
    "delivery-dispatch-due": {"task": "delivery.dispatch_due", "schedule": 60},
    # Escrowed messages past their expiry lose their content (encryption.tasks).
    "escrow-expire": {"task": "encryption.escrow_expire", "schedule": 3600},
    # Compliance report exports past their expiry lose their file (reporting.compliance_tasks).
    "reporting-exports-expire": {"task": "reporting.compliance_exports_expire", "schedule": 3600},
}

# --- Business associate agreements ----------------------------------------------------------------
# Who countersigns for Sealpost, and how long an agreement runs from its effective date.
BAA_COUNTERSIGNER_NAME = env_str("BAA_COUNTERSIGNER_NAME", "Sealpost Privacy Officer") or "Sealpost Privacy Officer"
BAA_COUNTERSIGNER_TITLE = env_str("BAA_COUNTERSIGNER_TITLE", "HIPAA Privacy Officer, Sealpost") or (
    "HIPAA Privacy Officer, Sealpost"
)
BAA_TERM_DAYS = env_int("BAA_TERM_DAYS", 3 * 365, minimum=30)

# --- Email (the local SMTP sink by default) ----------------------------------------------------
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": env_str("EMAIL_HOST", "127.0.0.1"),
            "port": env_int("EMAIL_PORT", 8025, minimum=1),
            "username": env_str("EMAIL_HOST_USER"),
            "password": env_str("EMAIL_HOST_PASSWORD"),
            "use_tls": env_bool("EMAIL_USE_TLS", PRODUCTION),
            "timeout": 30,
        },
    }
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Sealpost <no-reply@sealpost.localhost>")
SMTP_SINK_MAILDIR = VAR_DIR / "mailbox"

# --- Recipients' consent links (consent.links, docs/consent-recipients.md) ----------------------
# The domain of the List-Unsubscribe mailto address (u-<token>@this domain); its MX must pipe
# mail to ``manage.py consent_unsubscribe_mail``. By default the host of SITE_URL.
CONSENT_UNSUBSCRIBE_MAIL_DOMAIN = env_str("CONSENT_UNSUBSCRIBE_MAIL_DOMAIN") or (
    urlsplit(SITE_URL).hostname or "localhost"
)
# How long preference-centre and unsubscribe links in sent messages keep working (days).
CONSENT_LINK_MAX_AGE_DAYS = env_int("CONSENT_LINK_MAX_AGE_DAYS", 400, minimum=60)
# How long a double opt-in confirmation link works (hours).
CONSENT_OPTIN_CONFIRM_HOURS = env_int("CONSENT_OPTIN_CONFIRM_HOURS", 48, minimum=1)
# Opt-in form submissions allowed per client IP and per form in CONSENT_OPTIN_RATE_WINDOW seconds,
# and confirmation emails per address per window (silently capped: the page never says so).
CONSENT_OPTIN_RATE_WINDOW = env_int("CONSENT_OPTIN_RATE_WINDOW", 3600, minimum=60)
CONSENT_OPTIN_RATE_PER_IP = env_int("CONSENT_OPTIN_RATE_PER_IP", 10, minimum=1)
CONSENT_OPTIN_RATE_PER_FORM = env_int("CONSENT_OPTIN_RATE_PER_FORM", 500, minimum=1)
CONSENT_OPTIN_EMAILS_PER_ADDRESS = env_int("CONSENT_OPTIN_EMAILS_PER_ADDRESS", 3, minimum=1)
# Who may frame the hosted opt-in form (CSP frame-ancestors); only that page may be framed.
CONSENT_OPTIN_FRAME_ANCESTORS = env_list("CONSENT_OPTIN_FRAME_ANCESTORS", ["https:"])

# Contact imports: the largest CSV accepted (bytes). Uploads are stored encrypted under
# SEALPOST_VAR_DIR/imports until the import ends.
CONTACT_IMPORT_MAX_BYTES = env_int("CONTACT_IMPORT_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
# The first handler refuses a body declared larger than that before reading the file.
FILE_UPLOAD_HANDLERS = [
    "segments.csv_io.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# The dev mailbox page exists only in the embedded default, never in production.
DEV_MAILBOX_ENABLED = not PRODUCTION and env_bool("SEALPOST_DEV_MAILBOX", True)

# --- Recipient-domain TLS posture (delivery.posture, docs/delivery-tls.md) ---------------------
_HOST_PORT = re.compile(r"(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>[0-9]{1,5})")


def env_host_port_map(name: str, *, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A JSON object of recipient domain -> "host:port" ("[::1]:25" for IPv6), strictly parsed:
    anything else is an error naming the variable and the entry, not a silently empty map."""
    raw = env_str(name, environ=environ)
    if raw is None:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EnvError(f"{name} is not valid JSON ({exc.msg} at position {exc.pos}).") from None
    if not isinstance(parsed, dict):
        raise EnvError(f'{name} must be a JSON object of domain -> "host:port", e.g. {{"example.com": "mx:2525"}}.')
    overrides: dict[str, str] = {}
    for domain, target in parsed.items():
        key = domain.strip().rstrip(".").lower()
        if not key or any(not label for label in key.split(".")) or not all(c.isalnum() or c in ".-" for c in key):
            raise EnvError(f"{name}: {domain!r} is not a domain name.")
        match = _HOST_PORT.fullmatch(target) if isinstance(target, str) else None
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise EnvError(f'{name}: the value for {domain!r} must be "host:port" (port 1-65535), not {target!r}.')
        if key in overrides:
            raise EnvError(f"{name}: {domain!r} is given twice.")
        overrides[key] = target
    return overrides


# Test and demo routing (never needed in production): recipient domain -> the SMTP server used
# instead of its MX records; and -> where https://mta-sts.<domain>/ is fetched from (the
# certificate is still checked for mta-sts.<domain>).
DELIVERY_MX_OVERRIDES = env_host_port_map("DELIVERY_MX_OVERRIDES")
DELIVERY_MTA_STS_OVERRIDES = env_host_port_map("DELIVERY_MTA_STS_OVERRIDES")
# A PEM file of extra trusted CAs for recipients' SMTP and MTA-STS certificates (demo and tests).
DELIVERY_TLS_CA_FILE = env_str("DELIVERY_TLS_CA_FILE")
if DELIVERY_TLS_CA_FILE is not None and not Path(DELIVERY_TLS_CA_FILE).is_file():
    raise EnvError(f"DELIVERY_TLS_CA_FILE={DELIVERY_TLS_CA_FILE!r} is not a readable file.")
# The name Sealpost gives in EHLO when probing recipients' MX hosts.
DELIVERY_EHLO_NAME = env_str("DELIVERY_EHLO_NAME") or urlsplit(SITE_URL).hostname or "localhost"
# Each network step of a probe (connect, SMTP reply, TLS handshake, DNS, policy fetch) in seconds.
DELIVERY_PROBE_TIMEOUT_SECONDS = env_int("DELIVERY_PROBE_TIMEOUT_SECONDS", 10, minimum=1)
# How long a posture is trusted: verified ones for the TTL, all others (no TLS, failures) for the
# shorter failure TTL, so a fixed server is noticed sooner.
DELIVERY_POSTURE_TTL_SECONDS = env_int("DELIVERY_POSTURE_TTL_SECONDS", 24 * 3600, minimum=60)
DELIVERY_POSTURE_FAILURE_TTL_SECONDS = env_int("DELIVERY_POSTURE_FAILURE_TTL_SECONDS", 3600, minimum=60)
# The send pipeline: batch chains started per campaign (about two per worker process), and how
# long a message that keeps being deferred is retried before it counts as bounced.
DELIVERY_DISPATCH_FANOUT = env_int("DELIVERY_DISPATCH_FANOUT", 4, minimum=1)
DELIVERY_GIVE_UP_AFTER = env_int("DELIVERY_GIVE_UP_AFTER_SECONDS", 4 * 24 * 3600, minimum=60)
# The envelope sender (SMTP MAIL FROM, the Return-Path) of every message: an address at a bounce
# domain whose MX is ``manage.py inbound_smtp``, so bounce reports reach Sealpost. Empty: the
# campaign's From address (bounces then go to the organisation's own mailbox).
DELIVERY_RETURN_PATH = env_str("DELIVERY_RETURN_PATH", "") or ""
if DELIVERY_RETURN_PATH and not re.fullmatch(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", DELIVERY_RETURN_PATH):
    raise EnvError(
        f"DELIVERY_RETURN_PATH={DELIVERY_RETURN_PATH!r} must be an address such as bounces@bounce.example.com."
    )
# Check-now requests per organisation per hour on the Recipient domains page.
DELIVERY_DOMAIN_CHECKS_PER_HOUR = env_int("DELIVERY_DOMAIN_CHECKS_PER_HOUR", 60, minimum=1)
# The SPF mechanism that authorises Sealpost's sending hosts: a sending domain's SPF record must
# contain it (the Sending domains page shows the record to publish, with it).
DELIVERY_SPF_INCLUDE = env_str("DELIVERY_SPF_INCLUDE", "include:_spf.sealpost.example") or ""
if not re.fullmatch(r"include:[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+", DELIVERY_SPF_INCLUDE):
    raise EnvError(f"DELIVERY_SPF_INCLUDE={DELIVERY_SPF_INCLUDE!r} must look like include:_spf.example.com.")

# --- How campaign messages leave (delivery.transports, docs/delivery-transport.md) --------------
DELIVERY_TRANSPORTS = ("mx", "relay", "ses")
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}$){_DNS_LABEL}(?:\.{_DNS_LABEL})*")
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}"
_AWS_REGION = re.compile(_REGION)
_SES_CONFIGURATION_SET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SNS_TOPIC_ARN = re.compile(rf"arn:aws(?:-cn|-us-gov)?:sns:{_REGION}:[0-9]{{12}}:[A-Za-z0-9_-]{{1,256}}")


def delivery_transport_settings(*, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``DELIVERY_TRANSPORT`` (``mx``, ``relay`` or ``ses``) and the relay and SES variables,
    strictly parsed and checked together: a relay without a host or credentials, an SES set-up
    without a configuration set, or a malformed name stops start-up with the variable named."""
    transport = env_str("DELIVERY_TRANSPORT", "mx", environ=environ) or "mx"
    if transport not in DELIVERY_TRANSPORTS:
        raise EnvError(f"DELIVERY_TRANSPORT={transport!r} must be one of mx, relay, ses.")
    host = env_str("DELIVERY_RELAY_HOST", environ=environ)
    if host is not None and not _DNS_NAME.fullmatch(host):
        raise EnvError(
            f"DELIVERY_RELAY_HOST={host!r} must be a host name (its TLS certificate is verified against it)."
        )
    port = env_int("DELIVERY_RELAY_PORT", 587, minimum=1, environ=environ)
    if port > 65535:
        raise EnvError(f"DELIVERY_RELAY_PORT={port} must be at most 65535.")
    if port == 465:
        raise EnvError("DELIVERY_RELAY_PORT=465 is implicit TLS, which is not supported: use STARTTLS (587).")
    username = env_str("DELIVERY_RELAY_USERNAME", environ=environ)
    password = env_str("DELIVERY_RELAY_PASSWORD", environ=environ)
    region = env_str("DELIVERY_SES_REGION", "us-east-1", environ=environ) or "us-east-1"
    if not _AWS_REGION.fullmatch(region):
        raise EnvError(f"DELIVERY_SES_REGION={region!r} is not an AWS region name such as eu-west-1.")
    configuration_set = env_str("DELIVERY_SES_CONFIGURATION_SET", environ=environ)
    if configuration_set is not None and not _SES_CONFIGURATION_SET.fullmatch(configuration_set):
        raise EnvError(f"DELIVERY_SES_CONFIGURATION_SET={configuration_set!r} is not a configuration set name.")
    topics = env_list("DELIVERY_SES_SNS_TOPIC_ARNS", [], environ=environ)
    for topic in topics:
        if not _SNS_TOPIC_ARN.fullmatch(topic):
            raise EnvError(f"DELIVERY_SES_SNS_TOPIC_ARNS: {topic!r} is not an SNS topic ARN.")
    if transport == "relay":
        if host is None:
            raise EnvError("DELIVERY_TRANSPORT=relay needs DELIVERY_RELAY_HOST (the smart host's name).")
        if username is None or password is None:
            raise EnvError(
                "DELIVERY_TRANSPORT=relay needs DELIVERY_RELAY_USERNAME and DELIVERY_RELAY_PASSWORD "
                "(or DELIVERY_RELAY_PASSWORD_FILE): the relay must require authentication."
            )
    elif (username is None) != (password is None):
        raise EnvError("DELIVERY_RELAY_USERNAME and DELIVERY_RELAY_PASSWORD go together: set both or neither.")
    if transport == "ses" and configuration_set is None:
        raise EnvError(
            "DELIVERY_TRANSPORT=ses needs DELIVERY_SES_CONFIGURATION_SET, a configuration set whose TlsPolicy is "
            "REQUIRE: without it SES may deliver in plaintext, so no PHI message could be sent."
        )
    return {
        "DELIVERY_TRANSPORT": transport,
        "DELIVERY_RELAY_HOST": host,
        "DELIVERY_RELAY_PORT": port,
        "DELIVERY_RELAY_USERNAME": username,
        "DELIVERY_RELAY_PASSWORD": password,
        "DELIVERY_SES_REGION": region,
        "DELIVERY_SES_CONFIGURATION_SET": configuration_set,
        "DELIVERY_SES_SNS_TOPIC_ARNS": topics,
    }


# mx: straight to each recipient domain's MX hosts; relay: through one smart host (verified
# STARTTLS and AUTH); ses: through Amazon SES. SNS topics whose SES notifications (bounces,
# complaints) /delivery/ses/notifications/ accepts; empty: that endpoint answers 404.
_delivery_transport = delivery_transport_settings()
DELIVERY_TRANSPORT: str = _delivery_transport["DELIVERY_TRANSPORT"]
DELIVERY_RELAY_HOST: str | None = _delivery_transport["DELIVERY_RELAY_HOST"]
DELIVERY_RELAY_PORT: int = _delivery_transport["DELIVERY_RELAY_PORT"]
DELIVERY_RELAY_USERNAME: str | None = _delivery_transport["DELIVERY_RELAY_USERNAME"]
DELIVERY_RELAY_PASSWORD: str | None = _delivery_transport["DELIVERY_RELAY_PASSWORD"]
DELIVERY_SES_REGION: str = _delivery_transport["DELIVERY_SES_REGION"]
DELIVERY_SES_CONFIGURATION_SET: str | None = _delivery_transport["DELIVERY_SES_CONFIGURATION_SET"]
DELIVERY_SES_SNS_TOPIC_ARNS: list[str] = _delivery_transport["DELIVERY_SES_SNS_TOPIC_ARNS"]

# --- Keys -------------------------------------------------------------------------------------
MASTER_KEY_FILE = Path(env_str("SEALPOST_MASTER_KEY_FILE", str(VAR_DIR / "master.key")) or VAR_DIR / "master.key")
# Where tenant data keys are wrapped: "local" (the master key file above) or "kms" (AWS KMS).
ENCRYPTION_KEY_PROVIDER = env_str("ENCRYPTION_KEY_PROVIDER", "local") or "local"
if ENCRYPTION_KEY_PROVIDER not in ("local", "kms"):
    raise EnvError("ENCRYPTION_KEY_PROVIDER must be 'local' or 'kms'.")
KMS_KEY_ID = env_str("KMS_KEY_ID", "") or ""
AWS_REGION = env_str("AWS_REGION", "us-east-1") or "us-east-1"
if ENCRYPTION_KEY_PROVIDER == "kms" and not KMS_KEY_ID:
    raise EnvError("ENCRYPTION_KEY_PROVIDER=kms needs KMS_KEY_ID (a key id, ARN or alias).")
# Signs audit checkpoints; kept outside the database so whoever can rewrite the audit table
# cannot forge a checkpoint. Checkpoints are also appended to AUDIT_CHECKPOINT_LOG.
AUDIT_CHECKPOINT_KEY_FILE = Path(
    env_str("AUDIT_CHECKPOINT_KEY_FILE", str(VAR_DIR / "audit_checkpoint.key")) or VAR_DIR / "audit_checkpoint.key"
)
AUDIT_CHECKPOINT_LOG = Path(
    env_str("AUDIT_CHECKPOINT_LOG", str(VAR_DIR / "audit_checkpoints.jsonl")) or VAR_DIR / "audit_checkpoints.jsonl"
)

# --- Authentication and sessions --------------------------------------------------------------
AUTH_USER_MODEL = "authn.User"
LOGIN_URL = "authn:login"
LOGIN_REDIRECT_URL = "tenants:dashboard"
LOGOUT_REDIRECT_URL = "authn:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SESSION_COOKIE_AGE = env_int("SESSION_ABSOLUTE_SECONDS", 8 * 3600, minimum=300)
# Automatic logoff after this long without a request (authn.sessions).
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 15 * 60, minimum=60)
# Passkeys (WebAuthn): the relying party is this site. Assertions are accepted only from these
# exact origins; the RP ID must be the origin's host or a registrable suffix of it.
WEBAUTHN_RP_NAME = env_str("WEBAUTHN_RP_NAME", "Sealpost") or "Sealpost"
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", [SITE_URL.rstrip("/")])
WEBAUTHN_RP_ID = env_str("WEBAUTHN_RP_ID", urlsplit(WEBAUTHN_ORIGINS[0]).hostname or "localhost") or "localhost"
# How long a WebAuthn challenge may be answered.
WEBAUTHN_CHALLENGE_SECONDS = env_int("WEBAUTHN_CHALLENGE_SECONDS", 120, minimum=30)
# A passkey assertion opens sensitive actions (exports, key and policy changes) for this long.
STEP_UP_SECONDS = env_int("STEP_UP_SECONDS", 5 * 60, minimum=30)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
if PRODUCTION:
    # __Host- cookies: Secure, Path=/, no Domain, so no sibling host can set or read them.
    SESSION_COOKIE_NAME = "__Host-sealpost_session"
    CSRF_COOKIE_NAME = "__Host-sealpost_csrf"
    DEVICE_COOKIE_NAME = "__Host-sealpost_device"
else:
    SESSION_COOKIE_NAME = "sealpost_session"
    CSRF_COOKIE_NAME = "sealpost_csrf"
    DEVICE_COOKIE_NAME = "sealpost_device"
# A session is bound to the network it started on: this prefix around the client's address.
SESSION_BIND_IPV4_PREFIX = env_int("SESSION_BIND_IPV4_PREFIX", 24, minimum=0)
SESSION_BIND_IPV6_PREFIX = env_int("SESSION_BIND_IPV6_PREFIX", 56, minimum=0)
# Offline GeoIP (a MaxMind-format .mmdb file) for conditional access; unset = no GeoIP (authn.geo).
GEOIP_DATABASE = env_str("GEOIP_DATABASE")

# --- Transport security and headers -----------------------------------------------------------
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_HSTS_SECONDS = 63_072_000 if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SEALPOST_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Static files -----------------------------------------------------------------------------
STATIC_URL = "/static/"
# Collected files exist only in production images; the embedded default serves from the apps.
STATIC_ROOT = BASE_DIR / "staticfiles" if PRODUCTION else None
STATICFILES_DIRS = [BASE_DIR / "sealpost" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "authn.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.HasTenantPermission"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "sealpost.api_errors.structured_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sealpost API",
    "DESCRIPTION": (
        "HIPAA-compliant email campaigns. Authenticate with `Authorization: Bearer <token>`; "
        "a token is bound to one organisation."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets used under several field names get one schema name.
    "ENUM_NAME_OVERRIDES": {"TemplateVersionStatusEnum": "templates.models.VersionStatus"},
}

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO") or "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "sealpost.logging.RequestIdFilter"},
        "scrub": {"()": "sealpost.logging.ScrubFilter"},
    },
    "formatters": {"json": {"()": "sealpost.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "scrub"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "celery": {"level": LOG_LEVEL},
        # aiosmtpd logs envelope addresses at INFO and message lines at DEBUG.
        "mail.log": {"level": "WARNING"},
    },
}
# The embedded default serves static files straight from the apps (no collectstatic step).
WHITENOISE_USE_FINDERS = not PRODUCTION
