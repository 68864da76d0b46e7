"""Output shapes of the dashboards' API (``reporting.api.dashboards``). Rates are fractions
(0.0123 = 1.23%) and ``null`` when there is nothing to divide by; days are UTC dates. The
formulas are in docs/reporting.md."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from reporting.selectors import OVERVIEW_PERIODS

Base = serializers.Serializer[Any]


def _rate(help_text: str) -> serializers.FloatField:
    return serializers.FloatField(allow_null=True, help_text=help_text)


class TotalsOutput(Base):
    sent = serializers.IntegerField(help_text="Accepted by the recipient's server over TLS (escrow notices apart).")
    delivered = serializers.IntegerField(help_text="sent − bounced_after_sent.")
    escrowed = serializers.IntegerField(help_text="Escrow notices sent (the message is held in the secure portal).")
    attempted = serializers.IntegerField(help_text="sent + escrowed + bounces of messages never accepted.")
    bounced = serializers.IntegerField(help_text="Hard and soft bounces, including after acceptance.")
    bounced_after_sent = serializers.IntegerField()
    deferred = serializers.IntegerField(help_text="Deferrals (temporary failures; a message may have several).")
    bounce_rate = _rate("bounced / attempted.")
    deferral_rate = _rate("deferred / (attempted + deferred).")
    escrow_share = _rate("escrowed / (sent + escrowed).")
    escrow_read_rate = _rate("escrow_read / escrowed (at most 1).")
    opens_unique = serializers.IntegerField(help_text="Messages opened by a person at least once.")
    opens_total = serializers.IntegerField(help_text="Opens by people.")
    opens_machine = serializers.IntegerField(help_text="Opens by privacy proxies and scanners (not in the rates).")
    open_rate_unique = _rate("opens_unique / delivered.")
    open_rate_total = _rate("opens_total / delivered.")
    clicks_unique = serializers.IntegerField(help_text="Messages in which a person clicked at least once.")
    clicks_total = serializers.IntegerField(help_text="Clicks by people.")
    clicks_machine = serializers.IntegerField(help_text="Clicks by link scanners (not in the rates).")
    click_rate_unique = _rate("clicks_unique / delivered.")
    click_rate_total = _rate("clicks_total / delivered.")
    click_to_open_rate = _rate("clicks_unique / opens_unique.")
    unsubscribes = serializers.IntegerField()
    unsubscribe_rate = _rate("unsubscribes / delivered.")
    complaints = serializers.IntegerField(help_text="Spam complaints (feedback loops).")
    complaint_rate = _rate("complaints / delivered.")
    replies = serializers.IntegerField(help_text="Secure replies from the escrow portal.")
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Every metric's raw count.")


class DailyOutput(Base):
    days = serializers.ListField(child=serializers.DateField(), help_text="Consecutive UTC days.")
    metrics = serializers.DictField(
        child=serializers.ListField(child=serializers.IntegerField()), help_text="Metric → one count per day."
    )


class DomainOutput(Base):
    domain = serializers.CharField()
    attempted = serializers.IntegerField()
    delivered = serializers.IntegerField()
    deferred = serializers.IntegerField()
    bounced = serializers.IntegerField()
    bounce_rate = _rate("bounced / attempted.")
    sent_tls = serializers.IntegerField(help_text="Accepted over verified TLS.")
    escrowed = serializers.IntegerField(help_text="Escrow notices sent instead.")
    tls_share = _rate("sent_tls / (sent_tls + escrowed).")
    average_delivery_ms = serializers.FloatField(
        allow_null=True, help_text="Mean time from the first attempt to acceptance, over messages sent."
    )


class LinkOutput(Base):
    link_id = serializers.IntegerField()
    url = serializers.CharField(help_text="The link as written in the approved template; empty if gone.")
    position = serializers.IntegerField(allow_null=True)
    clicks_unique = serializers.IntegerField(help_text="Messages whose first click by a person was this link.")
    clicks_total = serializers.IntegerField()
    clicks_machine = serializers.IntegerField()


class CampaignDashboardOutput(Base):
    campaign_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    launched_at = serializers.DateTimeField(allow_null=True)
    totals = TotalsOutput()
    daily = DailyOutput()
    domains = DomainOutput(many=True, help_text="The busiest recipient domains.")
    domain_count = serializers.IntegerField(help_text="All recipient domains of the campaign.")
    other_domains = DomainOutput(allow_null=True, help_text="The remaining domains summed, when there are more.")
    links = LinkOutput(many=True, help_text="The most clicked tracked links.")
    link_count = serializers.IntegerField(help_text="Tracked links clicked at least once.")


class OverviewInput(Base):
    days = serializers.ChoiceField(
        choices=list(OVERVIEW_PERIODS), required=False, default=30, help_text="The period: the last N days."
    )


class TrendOutput(Base):
    current = serializers.IntegerField()
    previous = serializers.IntegerField(help_text="The same figure over the period before.")
    change = _rate("(current − previous) / previous; null when previous is 0.")


class RateCheckOutput(Base):
    rate = _rate("The period's rate.")
    volume = serializers.IntegerField(help_text="The rate's denominator.")
    watch = serializers.FloatField(help_text="Approaching the limit from here.")
    limit = serializers.FloatField(help_text="Mailbox providers' limit.")
    level = serializers.ChoiceField(choices=["ok", "watch", "over", "insufficient"])


class DomainWindowOutput(Base):
    attempted = serializers.IntegerField()
    bounced = serializers.IntegerField()
    deferred = serializers.IntegerField()
    bounce_rate = _rate("bounced / attempted.")
    deferral_rate = _rate("deferred / (attempted + deferred).")


class DomainWarningOutput(Base):
    domain = serializers.CharField()
    degraded = serializers.ListField(child=serializers.ChoiceField(choices=["bounce", "deferral"]))
    recent = DomainWindowOutput(help_text="The last 7 days.")
    baseline = DomainWindowOutput(allow_null=True, help_text="The 28 days before; null for a domain new to you.")


class CampaignRowOutput(Base):
    campaign_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField()
    escrowed = serializers.IntegerField()
    bounce_rate = _rate("In the period.")
    open_rate_unique = _rate("In the period.")
    click_rate_unique = _rate("In the period.")
    complaints = serializers.IntegerField()


class OverviewOutput(Base):
    days = serializers.IntegerField()
    start = serializers.DateField()
    end = serializers.DateField(help_text="Today (UTC), included.")
    previous_start = serializers.DateField()
    totals = TotalsOutput(help_text="The period.")
    previous = TotalsOutput(help_text="The period before, as long.")
    trends = serializers.DictField(child=TrendOutput(), help_text="Key figure → this period against the one before.")
    daily = DailyOutput()
    checks = serializers.DictField(child=RateCheckOutput(), help_text="complaint_rate and bounce_rate.")
    degraded_domains = DomainWarningOutput(many=True)
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Plain-language warnings.")
    campaigns = CampaignRowOutput(many=True, help_text="The busiest campaigns of the period.")
