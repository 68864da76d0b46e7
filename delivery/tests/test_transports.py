"""DELIVERY_TRANSPORT: the settings parse strictly and are checked together, the pipeline's
transport is the configured one, and a campaign goes out through a relay (verified STARTTLS and
AUTH) and through SES (moto) with PHI only where the TLS guarantee holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sealpost.env import EnvError
from sealpost.settings import delivery_transport_settings

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


# --- Settings -----------------------------------------------------------------------------------


def test_the_default_is_direct_to_mx():
    parsed = delivery_transport_settings(environ={})
    assert parsed["DELIVERY_TRANSPORT"] == "mx"
    assert (parsed["DELIVERY_RELAY_HOST"], parsed["DELIVERY_RELAY_PORT"]) == (None, 587)
    assert (parsed["DELIVERY_SES_REGION"], parsed["DELIVERY_SES_CONFIGURATION_SET"]) == ("us-east-1", None)
    assert parsed["DELIVERY_SES_SNS_TOPIC_ARNS"] == []


def test_relay_mode_reads_the_password_from_a_file(tmp_path):
    secret = tmp_path / "relay-password"
    secret.write_text("s3cret\n")
    parsed = delivery_transport_settings(
        environ={
            "DELIVERY_TRANSPORT": "relay",
            "DELIVERY_RELAY_HOST": "smtp.relay.example",
            "DELIVERY_RELAY_PORT": "2587",
            "DELIVERY_RELAY_USERNAME": "sealpost",
            "DELIVERY_RELAY_PASSWORD_FILE": str(secret),
        }
    )
    assert parsed["DELIVERY_TRANSPORT"] == "relay"
    assert (parsed["DELIVERY_RELAY_HOST"], parsed["DELIVERY_RELAY_PORT"]) == ("smtp.relay.example", 2587)
    assert (parsed["DELIVERY_RELAY_USERNAME"], parsed["DELIVERY_RELAY_PASSWORD"]) == ("sealpost", "s3cret")


def test_ses_mode_and_sns_topics():
    parsed = delivery_transport_settings(
        environ={
            "DELIVERY_TRANSPORT": "ses",
            "DELIVERY_SES_REGION": "eu-west-1",
            "DELIVERY_SES_CONFIGURATION_SET": "phi-tls-required",
            "DELIVERY_SES_SNS_TOPIC_ARNS": f"{TOPIC}, arn:aws:sns:eu-west-1:123456789012:ses-complaints",
        }
    )
    assert parsed["DELIVERY_TRANSPORT"] == "ses"
    assert parsed["DELIVERY_SES_REGION"] == "eu-west-1"
    assert parsed["DELIVERY_SES_CONFIGURATION_SET"] == "phi-tls-required"
    assert parsed["DELIVERY_SES_SNS_TOPIC_ARNS"] == [TOPIC, "arn:aws:sns:eu-west-1:123456789012:ses-complaints"]


RELAY = {
    "DELIVERY_TRANSPORT": "relay",
    "DELIVERY_RELAY_HOST": "smtp.relay.example",
    "DELIVERY_RELAY_USERNAME": "u",
    "DELIVERY_RELAY_PASSWORD": "p",
}
SES = {"DELIVERY_TRANSPORT": "ses", "DELIVERY_SES_CONFIGURATION_SET": "tls-required"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DELIVERY_TRANSPORT": "smtp"}, "DELIVERY_TRANSPORT='smtp' must be one of mx, relay, ses"),
        ({"DELIVERY_TRANSPORT": "Relay"}, "DELIVERY_TRANSPORT='Relay' must be one of"),
        ({"DELIVERY_TRANSPORT": "relay"}, "DELIVERY_TRANSPORT=relay needs DELIVERY_RELAY_HOST"),
        ({**RELAY, "DELIVERY_RELAY_PASSWORD": ""}, "needs DELIVERY_RELAY_USERNAME and DELIVERY_RELAY_PASSWORD"),
        ({**RELAY, "DELIVERY_RELAY_USERNAME": ""}, "needs DELIVERY_RELAY_USERNAME and DELIVERY_RELAY_PASSWORD"),
        ({**RELAY, "DELIVERY_RELAY_HOST": "smtp.relay.example:587"}, "DELIVERY_RELAY_HOST='smtp.relay.example:587'"),
        ({**RELAY, "DELIVERY_RELAY_HOST": "-bad-.example"}, "must be a host name"),
        ({**RELAY, "DELIVERY_RELAY_PORT": "submission"}, "DELIVERY_RELAY_PORT='submission' is not a whole number"),
        ({**RELAY, "DELIVERY_RELAY_PORT": "0"}, "DELIVERY_RELAY_PORT=0 must be at least 1"),
        ({**RELAY, "DELIVERY_RELAY_PORT": "70000"}, "DELIVERY_RELAY_PORT=70000 must be at most 65535"),
        ({**RELAY, "DELIVERY_RELAY_PORT": "465"}, "DELIVERY_RELAY_PORT=465 is implicit TLS"),
        ({"DELIVERY_RELAY_USERNAME": "u"}, "go together"),
        ({"DELIVERY_TRANSPORT": "ses"}, "DELIVERY_TRANSPORT=ses needs DELIVERY_SES_CONFIGURATION_SET"),
        ({**SES, "DELIVERY_SES_REGION": "Europe"}, "DELIVERY_SES_REGION='Europe' is not an AWS region"),
        ({**SES, "DELIVERY_SES_CONFIGURATION_SET": "has space"}, "is not a configuration set name"),
        ({"DELIVERY_SES_SNS_TOPIC_ARNS": "arn:aws:sqs:eu-west-1:123456789012:q"}, "is not an SNS topic ARN"),
        ({"DELIVERY_SES_SNS_TOPIC_ARNS": f"{TOPIC},"}, "DELIVERY_SES_SNS_TOPIC_ARNS has an empty item"),
        ({**RELAY, "DELIVERY_RELAY_PASSWORD_FILE": "/nonexistent"}, "not both"),
    ],
)
def test_bad_transport_settings_are_errors_naming_the_variable(environ, message):
    with pytest.raises(EnvError) as error:
        delivery_transport_settings(environ=environ)
    assert message in str(error.value)


def test_a_relay_without_a_host_stops_start_up(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DELIVERY_", "SEALPOST_", "DJANGO_"))}
    base["SEALPOST_VAR_DIR"] = str(tmp_path)
    root = Path(__file__).resolve().parents[2]
    for extra, message in [
        ({"DELIVERY_TRANSPORT": "relay"}, "DELIVERY_TRANSPORT=relay needs DELIVERY_RELAY_HOST"),
        ({"DELIVERY_TRANSPORT": "carrier-pigeon"}, "DELIVERY_TRANSPORT='carrier-pigeon' must be one of"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", "import sealpost.settings"],
            env={**base, **extra},
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode != 0
        assert message in result.stderr, result.stderr[-500:]


# --- Which transport ----------------------------------------------------------------------------


def test_configured_transport_is_the_chosen_kind(settings, monkeypatch):
    from delivery.ses import SesTransport
    from delivery.transport import RelayTransport, SmtpTransport
    from delivery.transports import configured_transport

    settings.DELIVERY_TRANSPORT = "mx"
    direct = configured_transport()
    assert type(direct) is SmtpTransport

    settings.DELIVERY_TRANSPORT = "relay"
    settings.DELIVERY_RELAY_HOST = "smtp.relay.example"
    settings.DELIVERY_RELAY_PORT = 2587
    settings.DELIVERY_RELAY_USERNAME, settings.DELIVERY_RELAY_PASSWORD = "u", "p"
    relay = configured_transport()
    assert isinstance(relay, RelayTransport)
    assert (relay.host, relay.port, relay.username, relay.password) == ("smtp.relay.example", 2587, "u", "p")

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    settings.DELIVERY_TRANSPORT = "ses"
    settings.DELIVERY_SES_REGION = "eu-west-1"
    settings.DELIVERY_SES_CONFIGURATION_SET = "tls-required"
    through_ses = configured_transport()
    assert isinstance(through_ses, SesTransport)
    assert through_ses.configuration_set == "tls-required"
    assert through_ses.client.meta.region_name == "eu-west-1"

    settings.DELIVERY_TRANSPORT = "pigeon"
    with pytest.raises(ValueError, match="DELIVERY_TRANSPORT"):
        configured_transport()


def test_the_pipeline_keeps_one_configured_transport_per_process(settings, monkeypatch):
    from delivery import pipeline
    from delivery.transport import RelayTransport

    monkeypatch.setattr(pipeline, "_transport", None)
    settings.DELIVERY_TRANSPORT = "relay"
    settings.DELIVERY_RELAY_HOST = "smtp.relay.example"
    first = pipeline.default_transport()
    assert isinstance(first, RelayTransport)
    assert pipeline.default_transport() is first
