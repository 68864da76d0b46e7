"""The message state machine: the primitives the send pipeline moves messages with.

Every move is one ``UPDATE … WHERE status = <from> [AND lease_owner = <owner>] RETURNING id``:
a compare-and-set, so of two workers racing for a message at most one wins, and a worker learns
from the returned ids exactly which of its batch it still owns.

- ``messages_claim`` leases due messages to a worker (``status = sending``, ``lease_owner``,
  ``lease_expires_at``): queued or deferred messages whose ``send_after`` has come, and messages
  left ``sending`` by a worker whose lease expired *before* it handed them off. Candidates are
  picked with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL), so concurrent claimers take disjoint
  batches without waiting; the outer ``UPDATE`` re-checks the conditions (that is what makes it
  safe on SQLite too, where writers are serialised). Claims need the campaign to be ``sending``:
  pausing or cancelling a campaign stops them.
- ``message_handed_off`` records the moment just before the end of SMTP DATA (or the SES call).
  A message whose lease expires after that is never re-sent: ``messages_expire_handed_off``
  (run by every claim) moves it to ``unknown``.
- ``message_mark`` / ``messages_mark_many`` move a message (a batch) along ``MESSAGE_TRANSITIONS``;
  out of ``sending`` only for the worker holding the lease.
- ``messages_skip_revoked`` re-checks consent and suppression for a batch in one query and skips
  the messages whose recipient may no longer be sent to (invariant 4: a revocation after launch
  wins).
- ``messages_first_attempt`` stamps ``first_attempt_at`` on the messages about to meet the
  transport for the first time: the give-up period of repeated deferrals counts from there.
- ``message_quarantine_decided`` is what a compliance officer's release or rejection of a held
  campaign message does to the message (``encryption.quarantine`` calls it in the decision's
  transaction): released → ``queued``, due now (the pipeline decides it again with
  ``released=True``); rejected → ``blocked`` (``quarantine_rejected``); released after the
  campaign was cancelled (or finished) → ``cancelled``. A quarantined message counts as
  unfinished, so its campaign is still ``sending`` and claims pick the released message up.

Times are the database's clock unless ``now`` is given (tests travel in time with it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from tenants.context import require_tenant_is_current
from tenants.models import Organisation

S = MessageStatus

# (from, to): every move a message may make. ``sending → sending`` is a claim taking over a
# lease that expired before hand-off; moves into ``sending`` are made by ``messages_claim`` only.
MESSAGE_TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.QUEUED, S.SENDING),
        (S.QUEUED, S.CANCELLED),
        (S.QUEUED, S.SKIPPED),
        (S.DEFERRED, S.SENDING),
        (S.DEFERRED, S.CANCELLED),
        (S.DEFERRED, S.SKIPPED),
        (S.SENDING, S.SENDING),
        (S.SENDING, S.SENT),
        (S.SENDING, S.DEFERRED),
        (S.SENDING, S.BOUNCED),
        (S.SENDING, S.FAILED),
        (S.SENDING, S.UNKNOWN),
        (S.SENDING, S.ESCROWED),
        (S.SENDING, S.BLOCKED),
        (S.SENDING, S.QUARANTINED),
        (S.SENDING, S.SKIPPED),  # only before hand-off
        (S.SENDING, S.CANCELLED),  # only before hand-off
        (S.SENT, S.BOUNCED),  # an asynchronous bounce report
        (S.UNKNOWN, S.SENT),  # evidence of the outcome arrived later (a delivery event, a bounce)
        (S.UNKNOWN, S.BOUNCED),
        (S.UNKNOWN, S.ESCROWED),  # an escrow notice whose outcome arrived late
        (S.QUARANTINED, S.QUEUED),  # released by a compliance officer
        (S.QUARANTINED, S.BLOCKED),  # rejected by a compliance officer
        (S.QUARANTINED, S.CANCELLED),  # released after its campaign was cancelled
    }
)
# Moves out of these need the lease owner.
LEASED = frozenset({S.SENDING})
# Moves out of ``sending`` that are refused once the message was handed off (it may be on its way).
BEFORE_HAND_OFF_ONLY = frozenset({S.SKIPPED, S.CANCELLED})
# Still to be tried: what pause keeps and cancel cancels.
PENDING = (S.QUEUED, S.DEFERRED)
# Not finished: a campaign with none of these left is complete. A quarantined message waits for
# a compliance officer, and a release sends it: its campaign stays ``sending`` until then.
UNFINISHED = (S.QUEUED, S.DEFERRED, S.SENDING, S.QUARANTINED)
# The fields a move may set besides the status (no PHI: codes and numbers only).
MARK_FIELDS = frozenset(
    {"protection_action", "reason_codes", "level", "smtp_code", "smtp_enhanced", "next_attempt_at", "tls_version"}
)
MAX_OWNER = 64
SKIP_REASON = "no_consent_or_suppressed"
# Reason codes of a compliance officer's quarantine decision.
QUARANTINE_RELEASED = "quarantine_released"
QUARANTINE_REJECTED = "quarantine_rejected"
CAMPAIGN_CANCELLED = "campaign_cancelled"
CAMPAIGN_FINISHED = "campaign_finished"
# Campaigns a released message can still be sent in (claims resume when a paused one resumes).
OPEN_CAMPAIGN = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)


class InvalidTransition(ValueError):
    """A move the state machine does not allow (a programming error in the caller)."""


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _dt(value: datetime | None) -> Any:
    """A datetime as the backend stores it (raw SQL bypasses the field's own conversion)."""
    return connection.ops.adapt_datetimefield_value(value)


def _uuid(value: Any) -> Any:
    return Campaign._meta.pk.get_db_prep_value(value, connection)  # type: ignore[union-attr]


def _ids_sql(ids: Sequence[int]) -> tuple[str, list[int]]:
    return ", ".join(["%s"] * len(ids)), [int(i) for i in ids]


def _id_in(ids: Sequence[int]) -> tuple[str, list[Any]]:
    """``id`` among ``ids``: on PostgreSQL ``id = ANY(%s)`` with one array parameter (a batch's
    500 ``%s`` placeholders cost the client more to bind than the statement costs to run),
    elsewhere ``id IN (%s, …)``."""
    if connection.vendor == "postgresql":
        return "id = ANY(%s)", [[int(i) for i in ids]]
    placeholders, params = _ids_sql(ids)
    return f"id IN ({placeholders})", params


def _returning(sql: str, params: list[Any]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(int(row[0]) for row in cursor.fetchall())


# Columns a move returns to describe its events (``_moved_events``).
MOVED_COLUMNS = "id, campaign_id, contact_id, recipient_domain, first_attempt_at"
# Where a move takes a message → the event it is (a release back to ``queued`` is none).
EVENT_OF_STATUS: dict[str, str] = {
    S.SENT: "sent",
    S.DEFERRED: "deferred",
    S.FAILED: "failed",
    S.UNKNOWN: "unknown",
    S.ESCROWED: "escrow_notice_sent",
    S.BLOCKED: "blocked",
    S.QUARANTINED: "quarantined",
    S.SKIPPED: "skipped",
    S.CANCELLED: "cancelled",
}
GAVE_UP = "gave_up"  # the pipeline's reason code for a bounce after deferrals (soft)


def _returning_moved(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run an ``UPDATE … RETURNING {MOVED_COLUMNS}``; rows sorted by id."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(cursor.fetchall(), key=lambda row: int(row[0]))


def _event_kind(to_status: str, fields: dict[str, Any]) -> str | None:
    if to_status == S.BOUNCED:
        code = fields.get("smtp_code")
        soft = GAVE_UP in (fields.get("reason_codes") or ()) or (code is not None and 400 <= int(code) < 500)
        return "bounced_soft" if soft else "bounced_hard"
    return EVENT_OF_STATUS.get(str(to_status))


def _record_moves(
    tenant: Organisation,
    rows: Sequence[tuple[Any, ...]],
    *,
    from_status: str,
    to_status: str,
    at: datetime,
    fields: dict[str, Any] | None = None,
    domains: dict[int, str] | None = None,
) -> list[int]:
    """Record the event of each move in ``rows`` (``MOVED_COLUMNS``); returns the moved ids."""
    from reporting.events import NewEvent, events_record

    fields = fields or {}
    kind = _event_kind(to_status, fields)
    ids = [int(row[0]) for row in rows]
    if kind is None or not rows:
        return ids
    detail = str(fields.get("smtp_enhanced") or "")
    events = []
    for message_id, campaign_id, contact_id, domain, first_attempt_at in rows:
        domain = (domains or {}).get(int(message_id)) or domain or ""
        delivery_ms = None
        if kind == "sent" and first_attempt_at is not None:
            started = _parse_dt(first_attempt_at)
            delivery_ms = int((at - started).total_seconds() * 1000)
        events.append(
            NewEvent(
                kind=kind,
                occurred_at=at,
                campaign_id=_as_uuid(campaign_id),
                message_id=int(message_id),
                contact_id=_as_uuid(contact_id),
                recipient_domain=domain,
                detail=detail,
                after_delivery=kind.startswith("bounced") and from_status == S.SENT,
                delivery_ms=delivery_ms,
            )
        )
    events_record(tenant=tenant, events=events)
    return ids


def _as_uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _parse_dt(value: Any) -> datetime:
    """A datetime column read by raw SQL (a string on SQLite)."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _check_owner(owner: str) -> None:
    if not owner or len(owner) > MAX_OWNER:
        raise ValueError(f"A lease owner is a non-empty identifier of at most {MAX_OWNER} characters.")


def check_transition(from_status: str, to_status: str) -> None:
    if (from_status, to_status) not in MESSAGE_TRANSITIONS:
        raise InvalidTransition(f"A message cannot move from {from_status} to {to_status}.")


def messages_expire_handed_off(*, tenant: Organisation, campaign: Campaign, now: datetime | None = None) -> list[int]:
    """Messages whose worker handed them off and then lost its lease (crashed, hung): their
    outcome is unknown, and they must never be sent again. Moves them to ``unknown``."""
    require_tenant_is_current(tenant)
    at = _now(now)
    rows = _returning_moved(
        "UPDATE campaigns_message SET status = %s, lease_owner = '', lease_expires_at = NULL, updated_at = %s "  # noqa: S608
        "WHERE tenant_id = %s AND campaign_id = %s AND status = %s "
        f"AND handed_off_at IS NOT NULL AND lease_expires_at < %s RETURNING {MOVED_COLUMNS}",
        [S.UNKNOWN, _dt(at), tenant.pk, _uuid(campaign.pk), S.SENDING, _dt(at)],
    )
    return _record_moves(tenant, rows, from_status=S.SENDING, to_status=S.UNKNOWN, at=at)


def messages_claim(
    *,
    tenant: Organisation,
    campaign: Campaign,
    owner: str,
    limit: int,
    lease_seconds: int,
    now: datetime | None = None,
) -> list[int]:
    """Lease up to ``limit`` due messages of ``campaign`` to ``owner`` for ``lease_seconds``;
    returns their ids (empty when the campaign is not sending). Each claim counts an attempt.
    Expired leases after hand-off are moved to ``unknown`` first, never claimed."""
    require_tenant_is_current(tenant)
    _check_owner(owner)
    if limit <= 0:
        return []
    at = _now(now)
    expires = at + timedelta(seconds=lease_seconds)
    with transaction.atomic():
        # A shared lock: pause and cancel (which lock the row for update) wait for claims in
        # flight, and no claim starts once they commit.
        share = " FOR SHARE" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM campaigns_campaign WHERE id = %s AND tenant_id = %s AND status = %s{share}",  # noqa: S608
                [_uuid(campaign.pk), tenant.pk, CampaignStatus.SENDING],
            )
            if cursor.fetchone() is None:
                return []
        messages_expire_handed_off(tenant=tenant, campaign=campaign, now=at)
        # One index-friendly pick per kind of due message, oldest kind first: an OR of them, or
        # a tie-break on id, would make PostgreSQL sort every queued row of the campaign.
        branches: list[tuple[str, list[Any]]] = [
            ("status = %s AND handed_off_at IS NULL AND lease_expires_at < %s", [S.SENDING, _dt(at)]),
            ("status = %s AND send_after <= %s", [S.DEFERRED, _dt(at)]),
            ("status = %s AND send_after <= %s", [S.QUEUED, _dt(at)]),
        ]
        claimed: list[int] = []
        for condition, params in branches:
            if len(claimed) >= limit:
                break
            claimed += _claim_where(tenant, campaign, owner, condition, params, limit - len(claimed), at, expires)
        return sorted(claimed)


def _claim_where(
    tenant: Organisation,
    campaign: Campaign,
    owner: str,
    condition: str,
    params: list[Any],
    limit: int,
    at: datetime,
    expires: datetime,
) -> list[int]:
    postgresql = connection.vendor == "postgresql"
    # The candidates are picked once, in a materialised CTE: as a plain ``IN (SELECT … LIMIT n
    # FOR UPDATE SKIP LOCKED)`` PostgreSQL may rescan the sub-select, skip the rows this very
    # statement just updated, and take more than ``limit``. The picked rows are locked until
    # the claim commits (PostgreSQL), or the whole claim holds SQLite's single write lock
    # (IMMEDIATE transactions), so nothing can move them between the pick and the update.
    materialized = "MATERIALIZED " if postgresql else ""
    lock = " FOR UPDATE SKIP LOCKED" if postgresql else ""
    # By primary key only: with the claim condition repeated here, stale statistics (right after
    # a launch wrote a million rows) make the planner scan the campaign's whole index range.
    picked = "id = ANY(ARRAY(SELECT id FROM picked))" if postgresql else "id IN (SELECT id FROM picked)"
    scope = "tenant_id = %s AND campaign_id = %s"
    scope_params = [tenant.pk, _uuid(campaign.pk)]
    return _returning(
        f"WITH picked AS {materialized}("  # noqa: S608
        f"SELECT id FROM campaigns_message WHERE {scope} AND {condition} ORDER BY send_after LIMIT %s{lock}) "
        "UPDATE campaigns_message SET status = %s, lease_owner = %s, lease_expires_at = %s, "
        "attempts = attempts + 1, updated_at = %s "
        f"WHERE {picked} RETURNING id",
        [
            *(*scope_params, *params, int(limit)),
            *(S.SENDING, owner, _dt(expires), _dt(at)),
        ],
    )


def messages_mark_many(
    *,
    tenant: Organisation,
    ids: Iterable[int],
    owner: str,
    from_status: str,
    to_status: str,
    now: datetime | None = None,
    domains: dict[int, str] | None = None,
    **fields: Any,
) -> list[int]:
    """Move the messages among ``ids`` that are in ``from_status`` (and, out of ``sending``,
    leased to ``owner``) to ``to_status``, setting ``fields`` (see ``MARK_FIELDS``); returns the
    ids that moved. ``deferred`` needs ``next_attempt_at``: the message is claimable again from
    then. Leaving ``sending`` ends the lease. Each move is recorded as an event (``reporting``),
    with the recipient domain from ``domains`` (message id → domain) or the message's own."""
    require_tenant_is_current(tenant)
    check_transition(from_status, to_status)
    if to_status == S.SENDING:
        raise InvalidTransition("Only messages_claim moves messages into sending.")
    unknown = set(fields) - MARK_FIELDS
    if unknown:
        raise ValueError(f"A move cannot set {', '.join(sorted(unknown))}.")
    if from_status in LEASED:
        _check_owner(owner)
    id_list = list(dict.fromkeys(int(i) for i in ids))
    if not id_list:
        return []
    at = _now(now)
    assignments = ["status = %s", "updated_at = %s"]
    params: list[Any] = [to_status, _dt(at)]
    if to_status == S.DEFERRED:
        retry_at = fields.get("next_attempt_at")
        if retry_at is None:
            raise ValueError("A deferred message needs next_attempt_at.")
        # ``send_after`` is what claims look at; the hand-off was refused, so it is cleared.
        assignments += ["send_after = %s", "handed_off_at = NULL"]
        params.append(_dt(retry_at))
    for name in sorted(fields):
        value = fields[name]
        assignments.append(f"{name} = %s")
        if name == "reason_codes":
            value = json.dumps(list(value))
        elif isinstance(value, datetime):
            value = _dt(value)
        params.append(value)
    if from_status in LEASED:
        assignments += ["lease_owner = ''", "lease_expires_at = NULL"]
    id_in, id_params = _id_in(id_list)
    conditions = ["tenant_id = %s", id_in, "status = %s"]
    where_params: list[Any] = [tenant.pk, *id_params, from_status]
    if from_status in LEASED:
        conditions.append("lease_owner = %s")
        where_params.append(owner)
        if to_status in BEFORE_HAND_OFF_ONLY:
            conditions.append("handed_off_at IS NULL")
    rows = _returning_moved(
        f"UPDATE campaigns_message SET {', '.join(assignments)} "  # noqa: S608
        f"WHERE {' AND '.join(conditions)} RETURNING {MOVED_COLUMNS}",
        params + where_params,
    )
    return _record_moves(
        tenant, rows, from_status=from_status, to_status=to_status, at=at, fields=fields, domains=domains
    )


def message_mark(
    *,
    tenant: Organisation,
    message_id: int,
    owner: str,
    from_status: str,
    to_status: str,
    now: datetime | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set one message (see ``messages_mark_many``); True if this call moved it."""
    moved = messages_mark_many(
        tenant=tenant, ids=[message_id], owner=owner, from_status=from_status, to_status=to_status, now=now, **fields
    )
    return bool(moved)


def _owner_ids(tenant: Organisation, owner: str, ids: Iterable[int]) -> list[int]:
    """The ids, deduplicated in order, after checking the tenant and the lease owner's name."""
    require_tenant_is_current(tenant)
    _check_owner(owner)
    return list(dict.fromkeys(int(i) for i in ids))


def messages_handed_off_many(
    *, tenant: Organisation, ids: Iterable[int], owner: str, now: datetime | None = None
) -> list[int]:
    """Record the hand-off of messages ``owner`` still holds a live lease on; returns those ids.
    Call it just before ending SMTP DATA (or calling SES) and send only the returned ones: from
    here on a lost lease means ``unknown``, never a second send."""
    id_list = _owner_ids(tenant, owner, ids)
    if not id_list:
        return []
    at = _now(now)
    id_in, id_params = _id_in(id_list)
    return _returning(
        "UPDATE campaigns_message SET handed_off_at = %s, updated_at = %s "  # noqa: S608
        f"WHERE tenant_id = %s AND {id_in} AND status = %s AND lease_owner = %s "
        "AND handed_off_at IS NULL AND lease_expires_at > %s RETURNING id",
        [_dt(at), _dt(at), tenant.pk, *id_params, S.SENDING, owner, _dt(at)],
    )


def message_handed_off(*, tenant: Organisation, message_id: int, owner: str, now: datetime | None = None) -> bool:
    return bool(messages_handed_off_many(tenant=tenant, ids=[message_id], owner=owner, now=now))


def messages_handed_off_committed(
    *, tenant: Organisation, ids: Iterable[int], owner: str, now: datetime | None = None
) -> list[int]:
    """``messages_handed_off_many`` in a transaction of its own, **committed** when this returns:
    what the transport calls just before the final dots. Outside any transaction on PostgreSQL
    it is one round trip: the tenant setting (``SET LOCAL``) and the compare-and-set go as one
    simple-protocol query, which PostgreSQL runs as one implicit transaction and commits before
    it answers (instead of BEGIN, set, UPDATE, reset, COMMIT: five round trips). Elsewhere
    (SQLite, or inside a caller's transaction as in tests) it is ``tenant_context`` +
    ``messages_handed_off_many``."""
    from tenants.context import TENANT_GUC, TenantMismatch, current_tenant, tenant_context

    active = current_tenant()
    if active is not None and active.pk != tenant.pk:
        raise TenantMismatch("Cannot hand off another tenant's messages.")
    _check_owner(owner)
    id_list = list(dict.fromkeys(int(i) for i in ids))
    if not id_list:
        return []
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        with tenant_context(tenant):
            return messages_handed_off_many(tenant=tenant, ids=id_list, owner=owner, now=now)
    at = _dt(_now(now))
    id_in, id_params = _id_in(id_list)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(%s, %s, true); "  # noqa: S608
            "UPDATE campaigns_message SET handed_off_at = %s, updated_at = %s "
            f"WHERE tenant_id = %s AND {id_in} AND status = %s AND lease_owner = %s "
            "AND handed_off_at IS NULL AND lease_expires_at > %s RETURNING id",
            [TENANT_GUC, str(tenant.pk), at, at, tenant.pk, *id_params, S.SENDING, owner, at],
        )
        if not cursor.nextset():  # the UPDATE's result follows set_config's
            return []
        return sorted(int(row[0]) for row in cursor.fetchall())


def messages_renew_lease(
    *, tenant: Organisation, ids: Iterable[int], owner: str, lease_seconds: int, now: datetime | None = None
) -> list[int]:
    """Extend ``owner``'s live leases (a long batch); returns the ids still held."""
    id_list = _owner_ids(tenant, owner, ids)
    if not id_list:
        return []
    at = _now(now)
    id_in, id_params = _id_in(id_list)
    return _returning(
        "UPDATE campaigns_message SET lease_expires_at = %s, updated_at = %s "  # noqa: S608
        f"WHERE tenant_id = %s AND {id_in} AND status = %s AND lease_owner = %s "
        "AND lease_expires_at > %s RETURNING id",
        [_dt(at + timedelta(seconds=lease_seconds)), _dt(at), tenant.pk, *id_params, S.SENDING, owner, _dt(at)],
    )


def messages_skip_revoked(
    *,
    tenant: Organisation,
    campaign: Campaign,
    ids: Iterable[int],
    owner: str = "",
    now: datetime | None = None,
) -> list[int]:
    """Re-check consent for the campaign's purpose, suppression and (marketing) authorisation of
    a batch's recipients (``consent.selectors.sendable_contact_ids``), and move the
    messages whose recipient may no longer be sent to (or was removed) to ``skipped``; returns
    their ids. Queued and deferred messages are skipped whoever asks; ``sending`` ones only for
    their lease ``owner`` and only before hand-off."""
    from consent.selectors import sendable_contact_ids

    require_tenant_is_current(tenant)
    id_list = list(dict.fromkeys(int(i) for i in ids))
    if not id_list:
        return []
    at = _now(now)
    # The batch's contacts are read first and checked by separate lookups on literal lists: as
    # one query with sub-selects it took a minute per batch right after a large import (stale
    # statistics, autovacuum off or behind).
    pairs = list(
        Message.objects.for_tenant(tenant)
        .filter(campaign_id=campaign.pk, id__in=id_list)
        .values_list("id", "contact_id")
    )
    contact_ids = [contact_id for _, contact_id in pairs if contact_id is not None]
    allowed = sendable_contact_ids(tenant=tenant, purpose=campaign.purpose, contact_ids=contact_ids, at=at)
    refused = [message_id for message_id, contact_id in pairs if contact_id not in allowed]
    if not refused:
        return []
    refused_in, refused_params = _id_in(refused)
    states = "(status IN (%s, %s)" + (
        " OR (status = %s AND lease_owner = %s AND handed_off_at IS NULL))" if owner else ")"
    )
    state_params: list[Any] = [S.QUEUED, S.DEFERRED] + ([S.SENDING, owner] if owner else [])
    with transaction.atomic():
        rows = _returning_moved(
            "UPDATE campaigns_message SET status = %s, reason_codes = %s, lease_owner = '', "  # noqa: S608
            "lease_expires_at = NULL, updated_at = %s "
            f"WHERE tenant_id = %s AND campaign_id = %s AND {states} AND {refused_in} RETURNING {MOVED_COLUMNS}",
            [
                S.SKIPPED,
                json.dumps([SKIP_REASON]),
                _dt(at),
                tenant.pk,
                _uuid(campaign.pk),
                *state_params,
                *refused_params,
            ],
        )
        return _record_moves(tenant, rows, from_status=S.QUEUED, to_status=S.SKIPPED, at=at)


def messages_first_attempt(
    *,
    tenant: Organisation,
    ids: Iterable[int],
    owner: str,
    now: datetime | None = None,
    domains: dict[int, str] | None = None,
) -> list[int]:
    """Stamp ``first_attempt_at`` (and the recipient domain, from ``domains``: message id →
    domain) on the messages among ``ids`` that ``owner`` holds and that never met the transport
    before; returns those ids. One UPDATE per recipient domain in the batch."""
    id_list = _owner_ids(tenant, owner, ids)
    if not id_list:
        return []
    at = _now(now)
    domain_of = {message_id: (domains or {}).get(message_id, "")[:253] for message_id in id_list}
    if connection.vendor == "postgresql":
        # One UPDATE, each message joined to its domain.
        return _returning(
            "UPDATE campaigns_message AS m SET first_attempt_at = %s, recipient_domain = v.domain "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, domain) "
            "WHERE m.id = v.id AND m.tenant_id = %s AND m.status = %s AND m.lease_owner = %s "
            "AND m.first_attempt_at IS NULL RETURNING m.id",
            [_dt(at), list(domain_of), list(domain_of.values()), tenant.pk, S.SENDING, owner],
        )
    by_domain: dict[str, list[int]] = {}
    for message_id, domain in domain_of.items():
        by_domain.setdefault(domain, []).append(message_id)
    stamped: list[int] = []
    for domain, members in sorted(by_domain.items()):
        id_in, id_params = _id_in(members)
        stamped += _returning(
            "UPDATE campaigns_message SET first_attempt_at = %s, recipient_domain = %s "  # noqa: S608
            f"WHERE tenant_id = %s AND {id_in} AND status = %s AND lease_owner = %s "
            "AND first_attempt_at IS NULL RETURNING id",
            [_dt(at), domain, tenant.pk, *id_params, S.SENDING, owner],
        )
    return sorted(stamped)


def message_quarantine_decided(
    *, tenant: Organisation, message_id: int, released: bool, now: datetime | None = None
) -> tuple[str, str] | None:
    """A compliance officer released (``released=True``) or rejected the quarantined message
    ``message_id``: move it on, in the caller's transaction. Returns ``(campaign id, new
    status)``, or None when the message is not (or no longer) quarantined. The campaign row is
    share-locked like a claim's, so a concurrent cancel either sees the queued message (and
    cancels it) or is seen here (and the message is cancelled instead of queued)."""
    require_tenant_is_current(tenant)
    at = _now(now)
    with transaction.atomic():
        found = (
            Message.objects.for_tenant(tenant)
            .filter(pk=message_id, status=S.QUARANTINED)
            .values_list("campaign_id", "reason_codes")
            .first()
        )
        if found is None:
            return None
        campaign_id, codes = found
        share = " FOR SHARE" if connection.vendor == "postgresql" else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT status FROM campaigns_campaign WHERE id = %s AND tenant_id = %s{share}",  # noqa: S608
                [_uuid(campaign_id), tenant.pk],
            )
            campaign_row = cursor.fetchone()
        campaign_status = campaign_row[0] if campaign_row else ""
        if not released:
            to_status, code = S.BLOCKED, QUARANTINE_REJECTED
        elif campaign_status in OPEN_CAMPAIGN:
            to_status, code = S.QUEUED, QUARANTINE_RELEASED
        else:
            to_status = S.CANCELLED
            code = CAMPAIGN_CANCELLED if campaign_status == CampaignStatus.CANCELLED else CAMPAIGN_FINISHED
        check_transition(S.QUARANTINED, to_status)
        assignments = ["status = %s", "updated_at = %s", "reason_codes = %s"]
        params: list[Any] = [to_status, _dt(at), json.dumps([*(codes or []), code])]
        if to_status == S.QUEUED:
            # Due now, and tried as if new: the give-up period starts at its next attempt.
            assignments += ["send_after = %s", "next_attempt_at = NULL", "first_attempt_at = NULL"]
            params.append(_dt(at))
        rows = _returning_moved(
            f"UPDATE campaigns_message SET {', '.join(assignments)} "  # noqa: S608
            f"WHERE tenant_id = %s AND id = %s AND status = %s RETURNING {MOVED_COLUMNS}",
            [*params, tenant.pk, int(message_id), S.QUARANTINED],
        )
        moved = _record_moves(tenant, rows, from_status=S.QUARANTINED, to_status=to_status, at=at)
    return (str(campaign_id), str(to_status)) if moved else None
