"""Which transport sends campaign messages: ``DELIVERY_TRANSPORT`` (docs/delivery-transport.md).

* ``mx`` (default): ``SmtpTransport``, straight to each recipient domain's MX hosts, with TLS
  exactly as the pipeline decided per recipient (verified by WebPKI under MTA-STS, or DANE).
* ``relay``: ``RelayTransport``, every message through one smart host (``DELIVERY_RELAY_*``)
  over verified STARTTLS with AUTH. What the relay does onward is its own configuration.
* ``ses``: ``SesTransport``, Amazon SES (``DELIVERY_SES_*``); a ``verified`` envelope is sent
  only when the configuration set makes SES require TLS.

Whichever it is, the pipeline still decides each message's protection from Sealpost's own
posture probe of the recipient domain; the transport only carries out that decision, as far as
it can see (the guarantees per mode are in the docs). The settings are checked at start-up
(``sealpost.settings.delivery_transport_settings``); ``configured_transport`` trusts them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from django.conf import settings

from delivery.smtp_replies import Outcome
from delivery.transport import Envelope, HandOff, RelayTransport, SmtpTransport

MX = "mx"
RELAY = "relay"
SES = "ses"


class Transport(Protocol):
    """What the pipeline needs of a transport."""

    def send_batch(self, envelopes: Sequence[Envelope], *, on_handed_off: HandOff | None = None) -> list[Outcome]: ...

    def send(self, envelope: Envelope, *, on_handed_off: HandOff | None = None) -> Outcome: ...

    def close(self) -> None: ...


def configured_mode() -> str:
    return str(getattr(settings, "DELIVERY_TRANSPORT", MX) or MX)


def configured_transport() -> Transport:
    """A new transport of the configured kind (the pipeline keeps one per worker process)."""
    mode = configured_mode()
    if mode == MX:
        return SmtpTransport()
    if mode == RELAY:
        return RelayTransport()
    if mode == SES:
        from delivery.ses import SesTransport

        return SesTransport()
    raise ValueError(f"DELIVERY_TRANSPORT={mode!r} must be one of mx, relay, ses")


__all__ = ["MX", "RELAY", "SES", "Transport", "configured_mode", "configured_transport"]
