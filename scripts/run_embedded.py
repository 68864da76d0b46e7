"""Runs Sealpost on its embedded default: what `make run` starts after migrate and seed_demo.

Four child processes on the same Python: the web server (gunicorn), a Celery worker, Celery beat
and the local SMTP sink. Ctrl-C or SIGTERM stops them all (terminate, up to 10 s, then kill) and
exits 0; if one dies on its own, the rest are stopped and the exit status is 1.

Ports: SEALPOST_WEB_PORT (default 8000), SEALPOST_SMTP_PORT (default 8025) and
SEALPOST_SMTP_TLS_PORT (default 8026). The children get EMAIL_HOST/EMAIL_PORT pointing at the
sink, so whatever the app sends lands in the dev mailbox.

The demo's two recipient domains (``delivery.demo_tls``): the sink listens on both SMTP ports,
the second offering STARTTLS with a certificate from a local demo CA made at first run under
the var dir. The children get DELIVERY_MX_OVERRIDES routing ``verified.example.test`` to the
STARTTLS listener and ``plain.example.test`` to the plain one, and DELIVERY_TLS_CA_FILE naming
the demo CA, so mail to the first travels over verified TLS while PHI to the second goes to
escrow (only a PHI-free notice reaches its MX).
Once everything answers, both domains' TLS posture is probed in the background.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from delivery.demo_tls import DemoTls

BASE_DIR = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0
# After the ports answer, a short wait lets a child that fails on import (a worker with a broken
# task module) die before the banner claims everything runs, and lets the children's own start-up
# banners print first so ours stays at the bottom of the terminal.
SETTLE_SECONDS = 3.0
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class Config:
    web_port: int
    smtp_port: int
    smtp_tls_port: int
    var_dir: Path
    dev_mailbox_enabled: bool


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]


@dataclass(frozen=True)
class Child:
    name: str
    process: subprocess.Popen[bytes]

    def running(self) -> bool:
        return self.process.poll() is None


class StopRequest:
    """Set by SIGINT/SIGTERM; the main loop polls it (handlers only flip a flag)."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True


def port_from_env(name: str, default: int) -> int:
    from sealpost.env import EnvError, env_int

    port = env_int(name, default, minimum=1)
    if port > 65535:
        raise EnvError(f"{name}={port} is not a TCP port (1-65535).")
    return port


def load_config() -> Config:
    # Settings are read through Django so that the runner and its children agree on VAR_DIR and
    # so that a bad variable is reported before anything starts.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    from django.conf import settings

    return Config(
        web_port=port_from_env("SEALPOST_WEB_PORT", 8000),
        smtp_port=port_from_env("SEALPOST_SMTP_PORT", 8025),
        smtp_tls_port=port_from_env("SEALPOST_SMTP_TLS_PORT", 8026),
        var_dir=Path(settings.VAR_DIR),
        dev_mailbox_enabled=bool(settings.DEV_MAILBOX_ENABLED),
    )


def demo_tls(config: Config) -> DemoTls:
    from delivery.demo_tls import ensure_demo_tls

    return ensure_demo_tls(config.var_dir)


def child_specs(config: Config, tls: DemoTls) -> list[ChildSpec]:
    """In start order; they are stopped in reverse. The sink comes up first and goes down last,
    so mail the worker is sending still lands; beat goes first so it queues nothing more."""
    python = sys.executable
    manage = str(BASE_DIR / "manage.py")
    return [
        ChildSpec(
            "smtp sink",
            [python, manage, "smtp_sink", "--host", HOST, "--port", str(config.smtp_port),
             "--starttls-port", str(config.smtp_tls_port), "--cert", str(tls.cert_file), "--key", str(tls.key_file)],
        ),
        ChildSpec(
            "celery worker",
            [python, "-m", "celery", "-A", "sealpost", "worker", "--loglevel", "INFO", "--concurrency", "2",
             "--pool", "prefork"],
        ),
        ChildSpec(
            "web server",
            [
                python, "-m", "gunicorn", "sealpost.wsgi:application",
                "--bind", f"{HOST}:{config.web_port}",
                "--workers", "2", "--worker-class", "gthread", "--threads", "4",
                # Generous: the embedded default runs on SQLite on a developer's laptop.
                "--timeout", "120", "--graceful-timeout", "5",
            ],
        ),
        ChildSpec("celery beat", [python, "-m", "celery", "-A", "sealpost", "beat", "--loglevel", "INFO"]),
    ]  # fmt: skip


def demo_delivery_environment(config: Config, tls: DemoTls) -> dict[str, str]:
    """DELIVERY_MX_OVERRIDES with the demo domains routed to the sink (domains the developer
    routed elsewhere keep their route) and DELIVERY_TLS_CA_FILE naming the demo CA (unless one
    is configured: then the developer's CA wins and the verified domain shows unverified)."""
    from django.conf import settings

    from delivery.demo_tls import demo_mx_overrides

    demo = demo_mx_overrides(plain_port=config.smtp_port, starttls_port=config.smtp_tls_port)
    values = {"DELIVERY_MX_OVERRIDES": json.dumps({**demo, **(settings.DELIVERY_MX_OVERRIDES or {})})}
    values["DELIVERY_TLS_CA_FILE"] = settings.DELIVERY_TLS_CA_FILE or str(tls.ca_file)
    return values


def child_environment(config: Config, tls: DemoTls) -> dict[str, str]:
    env = dict(os.environ)
    # settings refuse NAME and NAME_FILE together, so drop any file variant we override.
    for name in ("EMAIL_HOST", "EMAIL_PORT", "DELIVERY_MX_OVERRIDES", "DELIVERY_TLS_CA_FILE"):
        env.pop(f"{name}_FILE", None)
    env["EMAIL_HOST"] = HOST
    env["EMAIL_PORT"] = str(config.smtp_port)
    env.update(demo_delivery_environment(config, tls))
    # Passkeys need a host name, not an IP address, as their relying party: the site is
    # http://localhost:PORT (which the web server on 127.0.0.1 answers).
    env.setdefault("SITE_URL", site_url(config))
    env["DJANGO_SETTINGS_MODULE"] = env.get("DJANGO_SETTINGS_MODULE", "sealpost.settings")
    env["PYTHONUNBUFFERED"] = "1"  # logs appear as they happen, not when a buffer fills
    return env


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def start(specs: list[ChildSpec], env: dict[str, str], children: list[Child]) -> None:
    """Appends each started child to ``children`` at once, so a failure part-way still lets the
    caller stop the ones already running."""
    for spec in specs:
        # Each child leads its own process group: a terminal Ctrl-C reaches only this runner,
        # which then stops the children in order, and a kill takes a child's own workers with it.
        process = subprocess.Popen(spec.argv, cwd=BASE_DIR, env=env, start_new_session=True)
        children.append(Child(spec.name, process))


def first_dead(children: list[Child]) -> Child | None:
    return next((child for child in children if not child.running()), None)


def stop(children: list[Child]) -> None:
    order = list(reversed(children))
    for child in order:
        if child.running():
            child.process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in order:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{child.name} did not stop within {STOP_TIMEOUT_SECONDS:.0f} s; killing it.", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):  # it exited between the timeout and the kill
                os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def settle(children: list[Child], stop_request: StopRequest) -> bool:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        if stop_request.requested or first_dead(children) is not None:
            return False
        time.sleep(POLL_SECONDS)
    return True


def wait_until_ready(children: list[Child], stop_request: StopRequest, config: Config) -> bool:
    """True once the web server and the sink answer; False if a child died or a stop came first."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if stop_request.requested or first_dead(children) is not None:
            return False
        if all(port_answers(port) for port in (config.web_port, config.smtp_port, config.smtp_tls_port)):
            return settle(children, stop_request)
        time.sleep(POLL_SECONDS)
    print(f"The web server did not answer within {READY_TIMEOUT_SECONDS:.0f} s; still waiting.", file=sys.stderr)
    return True


def demo_logins_text(var_dir: Path) -> list[str]:
    path = var_dir / "demo_logins.json"
    try:
        logins = json.loads(path.read_text(encoding="utf-8"))
        password = str(logins["password"])
        users = [(str(user["email"]), str(user["role"])) for user in logins["users"]]
    except (OSError, ValueError, KeyError, TypeError):
        return [f"  No demo sign-ins in {path}.", "  Create them with: python manage.py seed_demo"]
    width = max((len(email) for email, _ in users), default=0)
    lines = [f"  Demo sign-ins (password: {password}):"]
    lines += [f"    {email.ljust(width)}  {role}" for email, role in users]
    return lines


def queue_demo_posture_probes() -> None:
    """Ask the worker to probe the demo domains now (the sink answers by then), so the Recipient
    domains page and the first demo campaign find a fresh posture."""
    from delivery.demo_tls import DEMO_RECIPIENT_DOMAINS
    from sealpost.celery import app

    try:
        for domain in DEMO_RECIPIENT_DOMAINS:
            app.send_task("delivery.probe_domain_posture", args=[domain])
    except Exception as exc:  # the demo still works: the pipeline queues its own probes
        print(f"Could not queue the demo domains' TLS probes ({type(exc).__name__}).", file=sys.stderr)


def site_url(config: Config) -> str:
    return f"http://localhost:{config.web_port}"


def banner(config: Config) -> str:
    url = f"{os.environ.get('SITE_URL') or site_url(config)}/"
    from delivery.demo_tls import DEMO_PLAIN_DOMAIN, DEMO_VERIFIED_DOMAIN

    sink = f"SMTP sink on {HOST}:{config.smtp_port}, with STARTTLS on {config.smtp_tls_port}"
    if config.dev_mailbox_enabled:
        mailbox = f"  Dev mailbox:  {url}dev/mailbox/   ({sink})"
    else:
        mailbox = f"  Dev mailbox:  disabled (SEALPOST_DEV_MAILBOX); {sink}"
    rule = "=" * 72
    lines = [
        rule,
        "  Sealpost is running (embedded default)",
        f"  Web:          {url}",
        mailbox,
        f"  Recipients:   {DEMO_VERIFIED_DOMAIN} (verified TLS), {DEMO_PLAIN_DOMAIN} (no TLS: PHI to escrow)",
        f"                TLS posture: {url}delivery/domains/",
        "",
        *demo_logins_text(config.var_dir),
        "",
        "  Press Ctrl-C to stop everything.",
        rule,
    ]
    return "\n".join(lines)


def exit_description(returncode: int) -> str:
    if returncode < 0:  # Popen's way of saying "killed by signal -returncode"
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def supervise(children: list[Child], stop_request: StopRequest) -> int:
    while not stop_request.requested:
        dead = first_dead(children)
        if dead is not None:
            print(
                f"\n{dead.name} exited unexpectedly ({exit_description(dead.process.returncode)}); stopping the rest.",
                file=sys.stderr,
            )
            stop(children)
            return 1
        time.sleep(POLL_SECONDS)
    print("\nStopping Sealpost ...", file=sys.stderr)
    stop(children)
    return 0


def main() -> int:
    from sealpost.env import EnvError

    try:
        config = load_config()
    except EnvError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    ports = (
        ("SEALPOST_WEB_PORT", config.web_port),
        ("SEALPOST_SMTP_PORT", config.smtp_port),
        ("SEALPOST_SMTP_TLS_PORT", config.smtp_tls_port),
    )
    if len({port for _, port in ports}) < len(ports):
        print("SEALPOST_WEB_PORT, SEALPOST_SMTP_PORT and SEALPOST_SMTP_TLS_PORT must differ.", file=sys.stderr)
        return 2
    for variable, port in ports:
        if not port_is_free(port):
            print(f"Port {port} on {HOST} is in use; set {variable} to another port.", file=sys.stderr)
            return 2

    stop_request = StopRequest()
    signal.signal(signal.SIGINT, stop_request)
    signal.signal(signal.SIGTERM, stop_request)
    children: list[Child] = []
    try:
        tls = demo_tls(config)
        start(child_specs(config, tls), child_environment(config, tls), children)
        if wait_until_ready(children, stop_request, config):
            queue_demo_posture_probes()
            print(banner(config), flush=True)
        return supervise(children, stop_request)
    finally:
        # Reached with children still running only if the runner itself failed.
        if any(child.running() for child in children):
            stop(children)


if __name__ == "__main__":
    # Run as a script, only scripts/ is on the path; the project packages live one level up.
    sys.path.insert(0, str(BASE_DIR))
    sys.exit(main())
