"""Sending domains: the domains an organisation sends From, their DKIM keys and DNS checks.

An admin adds a domain; Sealpost generates an RSA-2048 DKIM key for it (the private key stored
envelope-encrypted with the organisation's keys, like PHI) and shows three DNS records to
publish. "Check now" looks them up through ``delivery.posture``'s resolver (injectable: tests use
``delivery.testing.FakeResolver``):

* **DKIM** (required): a TXT record at ``<selector>._domainkey.<domain>`` whose ``p=`` is our
  public key. Without it receivers cannot verify Sealpost's signatures and DMARC fails.
* **SPF** (required): exactly one ``v=spf1`` TXT record at the domain. It passes when it
  contains ``DELIVERY_SPF_INCLUDE``; without the include it still passes unless it ends in
  ``-all`` (then receivers are told to reject mail from Sealpost's hosts), with a warning.
* **DMARC** (required): exactly one ``v=DMARC1`` TXT record at ``_dmarc.<domain>`` (or, as
  receivers do, at a parent domain) with ``p=none``, ``quarantine`` or ``reject``. ``p=none``
  passes with a warning: receivers take no action on mail that fails.

The domain is **verified** only when all three pass. A check whose lookups could not complete
(timeout, SERVFAIL) does not take verification away from a domain that had it. Campaign launch
asks ``sending_domain_verified``; the send pipeline asks ``sending_domain_key``.

The embedded demo has no DNS: ``sending_domain_verify_for_demo`` marks a demo domain verified
with ``verified_for_demo``, refused in production, and production never honours such a mark.
See docs/sending-domains.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from audit.services import Target, actor_for_user, record, system_actor
from delivery import posture
from delivery.dkim_signing import Algorithm, DkimKey, generate_dkim_key
from delivery.models import SendingDomain, SendingDomainStatus
from delivery.posture import InvalidDomain, normalise_domain
from tenants.context import require_tenant_is_current

if TYPE_CHECKING:
    from authn.models import User
    from tenants.models import Organisation

__all__ = [
    "InvalidDomain",
    "SendingDomainError",
    "SendingDomainNotVerified",
    "sending_domain_add",
    "sending_domain_check",
    "sending_domain_get",
    "sending_domain_key",
    "sending_domain_list",
    "sending_domain_records",
    "sending_domain_remove",
    "sending_domain_verified",
    "sending_domain_verify_for_demo",
]

DKIM_ALGORITHM: Algorithm = "rsa-sha256"
# A DMARC policy that protects patients from spoofed mail while honest mail (DKIM-signed by
# Sealpost, relaxed alignment) passes; shown as the record to publish.
RECOMMENDED_DMARC = "v=DMARC1; p=quarantine; adkim=r; aspf=r"
DMARC_POLICIES = ("none", "quarantine", "reject")
# What is kept of the records a check saw (they are public, but need not be unbounded).
RECORD_SEEN_MAX = 2000
# How many parent domains the DMARC lookup walks up (DMARCbis's tree walk has the same bound).
DMARC_TREE_WALK_MAX = 8


class SendingDomainError(ValueError):
    """The action cannot be done; the message is safe to show."""


class SendingDomainNotVerified(LookupError):
    """The domain is not a verified sending domain of the organisation: nothing may be signed or
    sent From it."""


class DemoVerificationRefused(SendingDomainError):
    pass


@dataclass(frozen=True)
class DnsRecord:
    """One record to publish, exactly as it goes into the DNS provider's form."""

    purpose: str  # "DKIM", "SPF", "DMARC"
    host: str
    type: str
    value: str
    note: str


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    explanation: str
    record_seen: str = ""
    inconclusive: bool = False  # the lookup did not complete: the answer is unknown


# --- Records to publish ---------------------------------------------------------------------------


def dkim_host(sending_domain: SendingDomain) -> str:
    return f"{sending_domain.dkim_selector}._domainkey.{sending_domain.domain}"


def spf_include() -> str:
    return str(settings.DELIVERY_SPF_INCLUDE)


def recommended_spf() -> str:
    return f"v=spf1 {spf_include()} ~all"


def sending_domain_records(sending_domain: SendingDomain) -> list[DnsRecord]:
    """The three TXT records the organisation publishes, for copy and paste."""
    domain = sending_domain.domain
    return [
        DnsRecord(
            "DKIM",
            dkim_host(sending_domain),
            "TXT",
            sending_domain.dkim_public_txt,
            "Sealpost's public key: receivers check every message's signature against it. Some DNS "
            "providers need a long value split into quoted strings of up to 255 characters; most split it "
            "for you.",
        ),
        DnsRecord(
            "SPF",
            domain,
            "TXT",
            recommended_spf(),
            f"Authorises Sealpost's servers to send as {domain}. A domain may have only one SPF record: if "
            f"{domain} already has one, add {spf_include()} to it (before its all) instead of publishing a "
            "second.",
        ),
        DnsRecord(
            "DMARC",
            f"_dmarc.{domain}",
            "TXT",
            RECOMMENDED_DMARC,
            "Tells receivers what to do with mail that claims to be from your domain but fails DKIM and SPF: "
            "quarantine puts it in spam. p=none only monitors (accepted, with a warning); p=reject refuses it.",
        ),
    ]


# --- Checks --------------------------------------------------------------------------------------


def _txt(name: str) -> list[str] | CheckResult:
    """The TXT records at ``name`` ([] when there are none), or a result saying the lookup failed."""
    try:
        answer = posture.get_resolver().txt(name)
    except posture.DnsNoRecords:
        return []
    except posture.DnsLookupFailed:
        explanation = (
            f"The DNS lookup of {name} did not complete (the DNS server did not answer or failed); "
            "check again in a few minutes."
        )
        return CheckResult(False, explanation, inconclusive=True)
    return [str(record) for record in answer.records]


def _seen(records: list[str]) -> str:
    return "\n".join(records)[:RECORD_SEEN_MAX]


def _tags(record: str) -> dict[str, str]:
    """A DKIM or DMARC tag list (``k=v; k=v``) as a dict: names lower-cased, values stripped."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), value.strip())
    return tags


def _public_key(txt_value: str) -> str:
    return "".join(_tags(txt_value).get("p", "").split())


def check_dkim(sending_domain: SendingDomain) -> CheckResult:
    host = dkim_host(sending_domain)
    records = _txt(host)
    if isinstance(records, CheckResult):
        return records
    if not records:
        return CheckResult(False, f"There is no TXT record at {host}: publish the DKIM record shown below.")
    ours = _public_key(sending_domain.dkim_public_txt)
    keys = [_public_key(record) for record in records if "p" in _tags(record)]
    if ours in keys:
        return CheckResult(True, f"The DKIM record at {host} holds Sealpost's public key.", _seen(records))
    if not keys:
        explanation = f"The TXT record at {host} is not a DKIM key record (no p= tag): replace it with the one below."
    elif all(key == "" for key in keys):
        explanation = f"The DKIM record at {host} has an empty p= (a revoked key): replace it with the one below."
    else:
        explanation = (
            f"The DKIM record at {host} holds a different public key: replace its value with the one below, "
            "copied in full."
        )
    return CheckResult(False, explanation, _seen(records))


def _spf_records(records: list[str]) -> list[str]:
    return [r for r in records if r.strip().lower() == "v=spf1" or r.strip().lower().startswith("v=spf1 ")]


def check_spf(sending_domain: SendingDomain) -> CheckResult:
    domain = sending_domain.domain
    include = spf_include()
    records = _txt(domain)
    if isinstance(records, CheckResult):
        return records
    spf = _spf_records(records)
    if not spf:
        return CheckResult(
            False,
            f"{domain} has no SPF record: publish the SPF record shown below ({recommended_spf()}).",
            _seen(records),
        )
    if len(spf) > 1:
        return CheckResult(
            False,
            f"{domain} has {len(spf)} SPF records; receivers treat more than one as an error (RFC 7208). "
            f"Merge them into a single record that includes {include}.",
            _seen(spf),
        )
    terms = [term.lower() for term in spf[0].split()[1:]]
    if include.lower() in terms or f"+{include.lower()}" in terms:
        return CheckResult(True, f"The SPF record of {domain} authorises Sealpost's servers ({include}).", _seen(spf))
    alls = [term for term in terms if term.lstrip("+-~?") == "all"]
    qualifier = alls[-1][0] if alls and alls[-1][0] in "+-~?" else ("+" if alls else "")
    if qualifier == "-":
        return CheckResult(
            False,
            f"The SPF record of {domain} ends in -all without {include}: receivers are told to reject mail from "
            f"Sealpost's servers. Add {include} before -all.",
            _seen(spf),
        )
    if qualifier == "+":
        warning = "it ends in +all, which lets any server on the internet send as your domain; replace +all with ~all"
    elif qualifier == "~":
        warning = "mail from Sealpost's servers gets an SPF soft fail and relies on DKIM alone"
    elif any(term.startswith("redirect=") for term in terms):
        warning = "it delegates to another domain's record (redirect=), which Sealpost does not follow"
    else:
        warning = "it has no all, so receivers treat mail from Sealpost's servers as neutral"
    return CheckResult(
        True,
        f"{domain} has an SPF record that does not reject Sealpost's servers, but it does not include {include}: "
        f"{warning}. Add {include} to it.",
        _seen(spf),
    )


def _dmarc_names(domain: str) -> list[str]:
    """``_dmarc.<domain>``, then the same at each parent that is not a top-level domain."""
    labels = domain.split(".")
    return [f"_dmarc.{'.'.join(labels[i:])}" for i in range(min(len(labels) - 1, DMARC_TREE_WALK_MAX))]


def check_dmarc(sending_domain: SendingDomain) -> CheckResult:
    domain = sending_domain.domain
    own = f"_dmarc.{domain}"
    for name in _dmarc_names(domain):
        records = _txt(name)
        if isinstance(records, CheckResult):
            return records
        dmarc = [r for r in records if _tags(r).get("v", "").upper() == "DMARC1" and r.strip()[:2].lower() == "v="]
        if not dmarc:
            continue
        if len(dmarc) > 1:
            return CheckResult(
                False,
                f"{name} has {len(dmarc)} DMARC records; receivers then apply none. Keep exactly one.",
                _seen(dmarc),
            )
        tags = _tags(dmarc[0])
        inherited = name != own
        policy = (tags.get("sp") or tags.get("p", "")) if inherited else tags.get("p", "")
        where = f"The DMARC record at {name}" + (f" (which covers {domain})" if inherited else "")
        if policy.lower() not in DMARC_POLICIES:
            return CheckResult(
                False,
                f"{where} has no valid policy (p= must be none, quarantine or reject): publish the DMARC record "
                "shown below.",
                _seen(dmarc),
            )
        policy = policy.lower()
        if policy == "none":
            explanation = (
                f"{where} has p=none: it only monitors, and receivers take no action on mail that fails, so "
                "your domain can still be spoofed. Accepted; move to p=quarantine or p=reject once its reports "
                "show your mail passes."
            )
        elif policy == "quarantine":
            explanation = f"{where} has p=quarantine: receivers put mail that fails DKIM and SPF in spam."
        else:
            explanation = f"{where} has p=reject: receivers refuse mail that fails DKIM and SPF."
        return CheckResult(True, explanation, _seen(dmarc))
    return CheckResult(False, f"There is no DMARC record at {own}: publish the DMARC record shown below.")


# --- Services ------------------------------------------------------------------------------------


def _selector_for_now() -> str:
    return f"sp{timezone.now():%Y%m}"


def sending_domain_add(*, tenant: Organisation, actor: User, domain: str) -> SendingDomain:
    """Add ``domain`` with a new RSA-2048 DKIM key, pending its first check; audited.
    InvalidDomain or SendingDomainError (already added) otherwise."""
    require_tenant_is_current(tenant)
    domain = normalise_domain(domain)
    if SendingDomain.objects.for_tenant(tenant).filter(domain=domain).exists():
        raise SendingDomainError(f"{domain} is already one of your sending domains.")
    private_pem, public_txt = generate_dkim_key(DKIM_ALGORITHM)
    try:
        with transaction.atomic():
            sending_domain = SendingDomain(
                tenant=tenant,
                domain=domain,
                dkim_selector=_selector_for_now(),
                dkim_private_key=private_pem,
                dkim_public_txt=public_txt,
                created_by=actor,
            )
            sending_domain.save()
            record(
                tenant=tenant,
                action="sending_domain.added",
                actor=actor_for_user(actor),
                target=Target.of(sending_domain),
                details={"domain": domain, "selector": sending_domain.dkim_selector, "algorithm": DKIM_ALGORITHM},
            )
    except IntegrityError:  # added by someone else in the meantime
        raise SendingDomainError(f"{domain} is already one of your sending domains.") from None
    return sending_domain


def sending_domain_check(*, tenant: Organisation, actor: User | None, sending_domain: SendingDomain) -> SendingDomain:
    """Look up the domain's DKIM, SPF and DMARC records now, store each result and the status;
    audited with the outcomes (``actor`` None: a scheduled re-check)."""
    require_tenant_is_current(tenant)
    dkim, spf, dmarc = check_dkim(sending_domain), check_spf(sending_domain), check_dmarc(sending_domain)
    passed = dkim.ok and spf.ok and dmarc.ok
    definite_failure = any(not r.ok and not r.inconclusive for r in (dkim, spf, dmarc))
    now = timezone.now()
    with transaction.atomic():
        row = SendingDomain.objects.for_tenant(tenant).select_for_update().filter(pk=sending_domain.pk).first()
        if row is None:
            raise SendingDomainError("This sending domain was removed meanwhile.")
        was_verified = row.status == SendingDomainStatus.VERIFIED and not row.verified_for_demo
        if passed:
            row.status = SendingDomainStatus.VERIFIED
            row.verified_at = row.verified_at if was_verified else now
        elif definite_failure or not was_verified:
            row.status = SendingDomainStatus.FAILING
            row.verified_at = None
        # else: only inconclusive lookups; a domain verified before stays verified.
        row.verified_for_demo = False  # a real check replaces the demo's mark
        for name, result in (("dkim", dkim), ("spf", spf), ("dmarc", dmarc)):
            setattr(row, f"{name}_ok", result.ok)
            setattr(row, f"{name}_explanation", result.explanation)
            setattr(row, f"{name}_record_seen", result.record_seen)
        row.last_checked_at = now
        row.save(
            update_fields=[
                "status",
                "verified_at",
                "verified_for_demo",
                "dkim_ok",
                "dkim_explanation",
                "dkim_record_seen",
                "spf_ok",
                "spf_explanation",
                "spf_record_seen",
                "dmarc_ok",
                "dmarc_explanation",
                "dmarc_record_seen",
                "last_checked_at",
            ]
        )
        record(
            tenant=tenant,
            action="sending_domain.checked",
            actor=actor_for_user(actor) if actor is not None else system_actor("sending_domain_check"),
            target=Target.of(row),
            details={
                "dkim_ok": dkim.ok,
                "spf_ok": spf.ok,
                "dmarc_ok": dmarc.ok,
                "verified": row.status == SendingDomainStatus.VERIFIED,
            },
        )
    return row


def sending_domain_remove(*, tenant: Organisation, actor: User, sending_domain: SendingDomain) -> None:
    """Remove the domain and its DKIM key (campaigns can no longer launch or send From it); audited."""
    require_tenant_is_current(tenant)
    with transaction.atomic():
        record(
            tenant=tenant,
            action="sending_domain.removed",
            actor=actor_for_user(actor),
            target=Target.of(sending_domain),
            details={"domain": sending_domain.domain},
        )
        SendingDomain.objects.for_tenant(tenant).filter(pk=sending_domain.pk).delete()


def sending_domain_verify_for_demo(*, tenant: Organisation, sending_domain: SendingDomain) -> SendingDomain:
    """Mark a demo domain verified without DNS (the embedded default has none), flagged
    ``verified_for_demo`` and shown as such; refused in production. Audited."""
    require_tenant_is_current(tenant)
    if settings.PRODUCTION:
        raise DemoVerificationRefused("Sending domains are never verified for a demo in production.")
    now = timezone.now()
    with transaction.atomic():
        sending_domain.status = SendingDomainStatus.VERIFIED
        sending_domain.verified_for_demo = True
        sending_domain.verified_at = now
        explanation = "Not looked up: verified for the local demo only."
        for name in ("dkim", "spf", "dmarc"):
            setattr(sending_domain, f"{name}_ok", True)
            setattr(sending_domain, f"{name}_explanation", explanation)
        sending_domain.save(
            update_fields=[
                "status",
                "verified_for_demo",
                "verified_at",
                "dkim_ok",
                "dkim_explanation",
                "spf_ok",
                "spf_explanation",
                "dmarc_ok",
                "dmarc_explanation",
            ]
        )
        record(
            tenant=tenant,
            action="sending_domain.verified_for_demo",
            actor=system_actor("seed_demo"),
            target=Target.of(sending_domain),
            details={"domain": sending_domain.domain},
        )
    return sending_domain


# --- Selectors -----------------------------------------------------------------------------------


def sending_domain_list(*, tenant: Organisation) -> QuerySet[SendingDomain]:
    require_tenant_is_current(tenant)
    return SendingDomain.objects.for_tenant(tenant).order_by("domain")


def sending_domain_get(*, tenant: Organisation, domain_id: uuid.UUID | str) -> SendingDomain:
    """The organisation's own sending domain, or 404 (also for another organisation's)."""
    require_tenant_is_current(tenant)
    sending_domain = SendingDomain.objects.for_tenant(tenant).filter(pk=domain_id).first()
    if sending_domain is None:
        raise Http404("No such sending domain.")
    return sending_domain


def verified_sending_domains(*, tenant: Organisation) -> QuerySet[SendingDomain]:
    """The organisation's verified sending domains, by name (in production, never one verified
    only for the demo)."""
    require_tenant_is_current(tenant)
    rows = SendingDomain.objects.for_tenant(tenant).filter(status=SendingDomainStatus.VERIFIED)
    if settings.PRODUCTION:
        rows = rows.filter(verified_for_demo=False)
    return rows.order_by("domain")


def _verified(tenant: Organisation, domain: str) -> SendingDomain | None:
    try:
        domain = normalise_domain(domain)
    except InvalidDomain:
        require_tenant_is_current(tenant)
        return None
    return verified_sending_domains(tenant=tenant).filter(domain=domain).first()


def sending_domain_verified(*, tenant: Organisation, domain: str) -> bool:
    """Whether ``domain`` (a From address's domain) is a verified sending domain of ``tenant``:
    its own row, exactly that domain, verified by its last check (or for the demo, outside
    production). Campaign launch asks this."""
    return _verified(tenant, domain) is not None


def sending_domain_key(*, tenant: Organisation, domain: str) -> DkimKey:
    """The DKIM key to sign ``tenant``'s mail From ``domain`` with; SendingDomainNotVerified
    unless it is a verified sending domain of ``tenant``. The send pipeline asks this."""
    sending_domain = _verified(tenant, domain)
    if sending_domain is None:
        raise SendingDomainNotVerified(
            f"{domain} is not a verified sending domain of this organisation: nothing is signed or sent From it."
        )
    return DkimKey(
        domain=sending_domain.domain,
        selector=sending_domain.dkim_selector,
        private_pem=sending_domain.dkim_private_key,
    )
