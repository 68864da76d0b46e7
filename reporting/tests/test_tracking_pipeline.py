"""Tracking end to end: campaigns sent by the real pipeline to a real SMTP server (aiosmtpd with
STARTTLS), the received messages' links followed through the public routes.

Covers: links rewritten and the pixel added only when every switch allows; clicks redirect
only to the version's own links (tampered, foreign and cross-version tokens get 400); opens
and clicks recorded, machine ones flagged; unique vs total; no URL of any received message
names the recipient or carries a merge value.
"""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import re
import urllib.parse
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.tests import test_pipeline_support as support
from delivery.tests.test_pipeline_support import (
    PHI_HTML,
    PLAIN_DOMAIN,
    TLS_DOMAIN,
    consenting_contacts,
    launch,
    rows,
    run,
)
from reporting.models import CampaignDailyStat, CampaignLinkStat, Event, TrackedLink
from reporting.tracking import CLICK, OPEN, make_token, tracking_settings_update
from tenants.context import tenant_context
from tenants.roles import Role

pytestmark = pytest.mark.django_db
ca, mx_cert, servers, pipeline_env, needs_baa = (
    support.ca,
    support.mx_cert,
    support.servers,
    support.pipeline_env,
    support.needs_baa,
)

SITE = "https://sealpost.test"
VISIT = "https://clinic.example/visit?from=mail&amp;lang=en"
VISIT_URL = "https://clinic.example/visit?from=mail&lang=en"
FAQ = "https://clinic.example/faq"
# Not PHI: the organisation's news with two literal links, the preference and unsubscribe links.
NEWS_HTML = (
    "<html><body><p>News from {{ org.name }}.</p>"
    f'<p><a href="{VISIT}">Book a visit</a> or read the <a class="faq" href=\'{FAQ}\'>FAQ</a>.</p>'
    f'<p><a href="{VISIT}">Book again</a></p>'
    '<p><a href="{{ links.preferences }}">Preferences</a> <a href="{{ links.unsubscribe }}">Unsubscribe</a></p>'
    "</body></html>"
)
# PHI: a name, a patient id and a health matter, plus a literal link.
PHI_TRACKED_HTML = PHI_HTML.replace(
    "</p>", f' Patient id {{{{ contact.external_id }}}}. <a href="{FAQ}">FAQ</a></p>', 1
)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
# Lookups (organisation, message with its campaign and opt-out, link, settings), the event with
# its engagement and five rollups, the tenant's settings and the test's savepoints.
MAX_CLICK_QUERIES = 20
URL = re.compile(r"""(?:https?|mailto):[^\s"'<>()]+""", re.I)


@pytest.fixture
def later(monkeypatch):
    """Requests arrive an hour after the hand-off (a person reading, not a gateway scanning)."""
    monkeypatch.setattr("reporting.tracking_views.now", lambda: timezone.now() + timedelta(hours=1))


def _settings(env, **switches):
    values = {"track_opens": True, "track_clicks": True, "track_phi_messages": False, **switches}
    with tenant_context(env.tenant):
        tracking_settings_update(tenant=env.tenant, user=env.fixture.users[Role.ADMIN], **values)


def _parsed(env, server=None):
    server = server or env.tls
    return [
        (r.rcpt_tos[0], email.message_from_bytes(r.content, policy=email.policy.default), r.content)
        for r in server.recorder.received
    ]


def _html(message) -> str:
    return str(message.get_body(preferencelist=("html",)).get_content())


def _text(message) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def _click_urls(html: str) -> list[str]:
    return re.findall(r'href="(https://sealpost\.test/t/c/[^"]+)"', html)


def _pixel_urls(html: str) -> list[str]:
    return re.findall(r'src="(https://sealpost\.test/t/o/[^"]+\.gif)"', html)


def _path(url: str) -> str:
    assert url.startswith(SITE)
    return url[len(SITE) :]


def _events(env, kind=None):
    with tenant_context(env.tenant):
        events = Event.objects.for_tenant(env.tenant).filter(kind__in=["opened", "clicked"])
        if kind:
            events = events.filter(kind=kind)
        return list(events.order_by("id"))


def _metrics(env, campaign) -> dict[str, int]:
    with tenant_context(env.tenant):
        out: dict[str, int] = {}
        for row in CampaignDailyStat.objects.for_tenant(env.tenant).filter(campaign_id=campaign.pk):
            out[row.metric] = out.get(row.metric, 0) + row.count
        return out


def test_links_are_rewritten_and_the_pixel_added_and_a_click_goes_only_to_its_link(
    pipeline_env, client, later, django_assert_max_num_queries
):
    env = pipeline_env
    (contact,) = consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env, html=NEWS_HTML)
    assert run(env, campaign).counts["sent"] == 1
    ((_, message, _raw),) = _parsed(env)
    html = _html(message)
    # The literal links are tracked (the same URL twice: one link, one token), Sealpost's own are not.
    clicks = _click_urls(html)
    assert len(clicks) == 3 and clicks[0] == clicks[2] != clicks[1]
    assert VISIT not in html and FAQ not in html
    assert 'class="faq" href="https://sealpost.test/t/c/' in html
    assert re.search(r'href="https://sealpost\.test/r/preferences/[^"]+"', html)
    assert re.search(r'href="https://sealpost\.test/r/unsubscribe/[^"]+"', html)
    (pixel,) = _pixel_urls(html)
    assert html.index(pixel) < html.lower().index("</body>")
    # The text part keeps the real URLs (docs/tracking.md).
    assert "/t/c/" not in _text(message) and "/t/o/" not in _text(message)
    with tenant_context(env.tenant):
        links = list(TrackedLink.objects.for_tenant(env.tenant).filter(version_id=campaign.template_version_id))
    assert sorted((link.position, link.url) for link in links) == [(0, VISIT_URL), (1, FAQ)]

    # A click is a bounded number of queries: the lookups, the event and its rollups.
    with django_assert_max_num_queries(MAX_CLICK_QUERIES):
        response = client.get(_path(clicks[0]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302 and response["Location"] == VISIT_URL
    with django_assert_max_num_queries(MAX_CLICK_QUERIES):
        response = client.get(_path(clicks[1]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302 and response["Location"] == FAQ
    assert response["Cache-Control"].startswith("no-store")
    assert response["X-Robots-Tag"] == "noindex, nofollow" and response["Referrer-Policy"] == "no-referrer"
    (message_row,) = rows(env, campaign)
    by_url = {link.url: link.pk for link in links}
    assert [(e.kind, e.link_id, e.machine, e.message_id, e.contact_id, e.recipient_domain) for e in _events(env)] == [
        ("clicked", by_url[VISIT_URL], False, message_row.pk, contact.pk, TLS_DOMAIN),
        ("clicked", by_url[FAQ], False, message_row.pk, contact.pk, TLS_DOMAIN),
    ]
    with tenant_context(env.tenant):
        per_link = {
            (s.link_id, s.metric): s.count
            for s in CampaignLinkStat.objects.for_tenant(env.tenant).filter(campaign_id=campaign.pk)
        }
    assert per_link == {
        (by_url[VISIT_URL], "clicked"): 1,
        (by_url[VISIT_URL], "clicked_unique"): 1,
        (by_url[FAQ], "clicked"): 1,
    }


def test_tampered_and_foreign_click_tokens_get_400_and_record_nothing(pipeline_env, client, later):
    from campaigns.tests.support import make_campaign

    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env, html=NEWS_HTML)
    run(env, campaign)
    ((_, message, _),) = _parsed(env)
    click = _click_urls(_html(message))[0]
    token = click.rsplit("/", 1)[1]
    (row,) = rows(env, campaign)
    # Another approved version (another campaign's) with its own link: its id is a real link id.
    other_version = support.approved_version(env.fixture, html='<a href="https://elsewhere.example/x">X</a>')
    with tenant_context(env.tenant):
        from reporting.tracking import tracked_links_ensure

        (foreign_link,) = tracked_links_ensure(tenant=env.tenant, version=other_version).values()
    make_campaign(env.fixture, version=other_version)
    tenant_b = pipeline_env.fixture.tenant.__class__.objects.get(slug="org-b")
    attempts = {
        "altered": token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        "truncated": token[:-4],
        "garbage": "not-a-token",
        "pixel token": make_token(tenant_id=env.tenant.pk, message_id=row.pk, link_id=0, kind=OPEN),
        "link of another version": make_token(
            tenant_id=env.tenant.pk, message_id=row.pk, link_id=foreign_link.pk, kind=CLICK
        ),
        "no such link": make_token(
            tenant_id=env.tenant.pk, message_id=row.pk, link_id=foreign_link.pk + 999, kind=CLICK
        ),
        "no such message": make_token(tenant_id=env.tenant.pk, message_id=row.pk + 999, link_id=1, kind=CLICK),
        "other tenant's prefix": make_token(
            tenant_id=tenant_b.pk, message_id=row.pk, link_id=foreign_link.pk, kind=CLICK
        ),
        "unknown tenant": make_token(tenant_id=999_999, message_id=row.pk, link_id=1, kind=CLICK),
        "open redirect in path": token + "/https://evil.example/",
        "open redirect in query": token,
    }
    for name, bad in attempts.items():
        suffix = "?next=https://evil.example/&url=https://evil.example/" if name == "open redirect in query" else ""
        response = client.get(f"/t/c/{bad}{suffix}", HTTP_USER_AGENT=BROWSER)
        if name == "open redirect in query":
            # The query is ignored: the link's own URL, never the one offered.
            assert response.status_code == 302 and response["Location"] == VISIT_URL, name
            continue
        assert response.status_code in (400, 404), name
        assert "Location" not in response, name
        if response.status_code == 400:
            assert response.content == b"Bad request", name
    assert [e.kind for e in _events(env)] == ["clicked"]  # only the query attempt's genuine link


def test_opens_are_recorded_machine_opens_flagged_and_unique_counted_once(pipeline_env, client, monkeypatch):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    campaign = launch(env, html=NEWS_HTML)
    run(env, campaign)
    pixels = [_pixel_urls(_html(message))[0] for _, message, _ in _parsed(env)]
    assert len(set(pixels)) == 2
    # Right after the hand-off: a gateway scanning (machine), whatever its user agent.
    response = client.get(_path(pixels[0]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    monkeypatch.setattr("reporting.tracking_views.now", lambda: timezone.now() + timedelta(hours=1))
    client.get(_path(pixels[0]), HTTP_USER_AGENT="Mozilla/5.0 (via ggpht.com GoogleImageProxy)")
    client.get(_path(pixels[0]), HTTP_USER_AGENT="Mozilla/5.0")  # Apple Mail Privacy Protection
    client.head(_path(pixels[0]), HTTP_USER_AGENT=BROWSER)
    client.get(_path(pixels[0]), HTTP_USER_AGENT=BROWSER)  # a person
    client.get(_path(pixels[0]), HTTP_USER_AGENT=BROWSER)  # the same person again
    client.get(_path(pixels[1]), HTTP_USER_AGENT=BROWSER)  # another person
    opens = _events(env, "opened")
    assert [(e.machine, e.detail) for e in opens] == [
        (True, "too_soon"),
        (True, "proxy"),
        (True, "apple_mpp"),
        (True, "head"),
        (False, ""),
        (False, ""),
        (False, ""),
    ]
    metrics = _metrics(env, campaign)
    assert metrics["opened"] == 3
    assert metrics["opened_unique"] == 2
    assert metrics["opened_machine"] == 4


def test_a_bad_pixel_token_still_gets_the_gif_but_records_nothing(pipeline_env, client, later):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env, html=NEWS_HTML)
    run(env, campaign)
    ((_, message, _),) = _parsed(env)
    token = _pixel_urls(_html(message))[0].rsplit("/", 1)[1].removesuffix(".gif")
    (row,) = rows(env, campaign)
    for bad in (
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        "garbage",
        make_token(tenant_id=env.tenant.pk, message_id=row.pk, link_id=1, kind=CLICK),
        make_token(tenant_id=env.tenant.pk, message_id=row.pk + 1000, link_id=0, kind=OPEN),
    ):
        response = client.get(f"/t/o/{bad}.gif", HTTP_USER_AGENT=BROWSER)
        assert response.status_code == 200 and response.content.startswith(b"GIF89a")
    assert _events(env) == []


def _sent_html(env, campaign, server=None) -> dict[str, str]:
    run(env, campaign)
    return {to: _html(message) for to, message, _ in _parsed(env, server)}


def test_organisation_switches_opens_and_clicks(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    _settings(env, track_opens=False)
    campaign = launch(env, html=NEWS_HTML)
    (html,) = _sent_html(env, campaign).values()
    assert _click_urls(html) and not _pixel_urls(html)

    env.tls.recorder.received.clear()
    _settings(env, track_opens=True, track_clicks=False)
    campaign = launch(env, html=NEWS_HTML)
    (html,) = _sent_html(env, campaign).values()
    assert not _click_urls(html) and _pixel_urls(html) and VISIT in html

    env.tls.recorder.received.clear()
    _settings(env, track_opens=False, track_clicks=False)
    campaign = launch(env, html=NEWS_HTML)
    (html,) = _sent_html(env, campaign).values()
    assert "/t/" not in html and VISIT in html and FAQ in html


def test_campaign_switch_and_contact_opt_out(pipeline_env):
    from reporting.tracking import campaign_tracking_set

    env = pipeline_env
    keep, opted_out = consenting_contacts(env.fixture, TLS_DOMAIN, 2)
    with tenant_context(env.tenant):
        opted_out.tracking_opt_out = True
        opted_out.save(update_fields=["tracking_opt_out"])
    campaign = launch(env, html=NEWS_HTML)
    sent = _sent_html(env, campaign)
    assert _pixel_urls(sent[keep.email]) and _click_urls(sent[keep.email])
    assert "/t/" not in sent[opted_out.email] and VISIT in sent[opted_out.email]

    env.tls.recorder.received.clear()
    campaign = launch(env, html=NEWS_HTML)
    with tenant_context(env.tenant):
        campaign_tracking_set(
            tenant=env.tenant, user=env.fixture.users[Role.MARKETER], campaign=campaign, enabled=False
        )
    sent = _sent_html(env, campaign)
    assert len(sent) == 2 and all("/t/" not in html for html in sent.values())


def test_phi_messages_are_not_tracked_unless_the_organisation_says_so(pipeline_env):
    env = pipeline_env
    consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env, html=PHI_TRACKED_HTML)
    (html,) = _sent_html(env, campaign).values()
    assert {m.level for m in rows(env, campaign)} == {"phi"}
    assert "/t/" not in html and FAQ in html

    env.tls.recorder.received.clear()
    _settings(env, track_phi_messages=True)
    campaign = launch(env, html=PHI_TRACKED_HTML)
    (html,) = _sent_html(env, campaign).values()
    assert _click_urls(html) and _pixel_urls(html)


def test_escrow_notices_and_escrowed_content_are_never_tracked(pipeline_env, client):
    from encryption.models import EscrowedMessage

    env = pipeline_env
    _settings(env, track_phi_messages=True)
    consenting_contacts(env.fixture, PLAIN_DOMAIN, 1)
    campaign = launch(env, html=PHI_TRACKED_HTML)
    sent = _sent_html(env, campaign, env.plain)
    assert {m.status for m in rows(env, campaign)} == {"escrowed"}
    (notice,) = sent.values()
    assert "/t/" not in notice
    with tenant_context(env.tenant):
        (stored,) = EscrowedMessage.objects.for_tenant(env.tenant)
        assert "/t/" not in stored.html and FAQ in stored.html
    # Nothing is recorded for an escrowed message, even with a validly made token.
    (row,) = rows(env, campaign)
    for kind, path in ((OPEN, "/t/o/{}.gif"), (CLICK, "/t/c/{}")):
        link_id = 0 if kind == OPEN else 1
        client.get(path.format(make_token(tenant_id=env.tenant.pk, message_id=row.pk, link_id=link_id, kind=kind)))
    assert _events(env) == []


def test_switches_are_checked_again_when_a_request_arrives(pipeline_env, client, later):
    env = pipeline_env
    (contact,) = consenting_contacts(env.fixture, TLS_DOMAIN, 1)
    campaign = launch(env, html=NEWS_HTML)
    run(env, campaign)
    ((_, message, _),) = _parsed(env)
    html = _html(message)
    with tenant_context(env.tenant):
        contact.tracking_opt_out = True
        contact.save(update_fields=["tracking_opt_out"])
    response = client.get(_path(_click_urls(html)[0]), HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302 and response["Location"] == VISIT_URL  # still goes where it said
    assert client.get(_path(_pixel_urls(html)[0]), HTTP_USER_AGENT=BROWSER).status_code == 200
    assert _events(env) == []
    with tenant_context(env.tenant):
        contact.tracking_opt_out = False
        contact.save(update_fields=["tracking_opt_out"])
    _settings(env, track_clicks=False, track_opens=False)
    client.get(_path(_click_urls(html)[0]), HTTP_USER_AGENT=BROWSER)
    client.get(_path(_pixel_urls(html)[0]), HTTP_USER_AGENT=BROWSER)
    assert _events(env) == []
    _settings(env)
    client.get(_path(_pixel_urls(html)[0]), HTTP_USER_AGENT=BROWSER)
    assert [e.kind for e in _events(env)] == ["opened"]


def _needles(value: str) -> set[str]:
    return {
        value,
        value.lower(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value, safe="").lower(),
    }


def test_no_url_in_any_received_message_names_the_recipient_or_carries_a_merge_value(pipeline_env):
    env = pipeline_env
    _settings(env, track_phi_messages=True)
    contacts = [
        support.consenting_contacts(env.fixture, TLS_DOMAIN, 1)[0],
        support.consenting_contacts(env.fixture, PLAIN_DOMAIN, 1)[0],  # escrow notice
    ]
    with tenant_context(env.tenant):
        for n, contact in enumerate(contacts):
            contact.first_name, contact.last_name = f"Quillon{n}", f"Zephyrine{n}"
            contact.external_id = f"MRN-77{n}31"
            contact.save()
    phi = launch(env, html=PHI_TRACKED_HTML)
    run(env, phi)
    news = launch(env, html=NEWS_HTML)
    run(env, news)
    received = _parsed(env) + _parsed(env, env.plain)
    assert len(received) == 4
    message_rows = rows(env, phi) + rows(env, news)
    forbidden: set[str] = set()
    for contact in contacts:
        for value in (contact.email, contact.first_name, contact.last_name, contact.external_id, str(contact.pk)):
            forbidden |= _needles(value)
        forbidden |= {contact.pk.hex, contact.email.split("@")[0]}
    message_ids = {str(row.pk) for row in message_rows}
    forbidden |= _needles("cardiology") | _needles("lab results")
    urls = []
    for _, message, _raw in received:
        # Both bodies decoded, and every header (List-Unsubscribe's URL and mailto address).
        parts = [_html(message), _text(message), *(str(value) for _, value in message.items())]
        for part in parts:
            urls += URL.findall(part)
    tracked = [u for u in urls if "/t/" in u]
    assert tracked, "the tracked messages carry tracking URLs"
    assert any("/t/o/" in u for u in tracked) and any("/t/c/" in u for u in tracked)
    assert any("/r/unsubscribe/" in u for u in urls) and any(u.startswith("mailto:") for u in urls)
    assert any("/secure/" in u for u in urls)  # the escrow notice's portal link
    for url in urls:
        decoded = urllib.parse.unquote(html_lib.unescape(url))
        for needle in forbidden:
            assert needle not in url and needle not in decoded, (needle, url[:40])
        # No message row id as a path segment or a query value.
        parts = urllib.parse.urlsplit(decoded)
        pieces = set(parts.path.split("/")) | {v for _, v in urllib.parse.parse_qsl(parts.query)}
        pieces |= {piece.removesuffix(".gif") for piece in pieces}
        assert not pieces & message_ids, url[:40]
