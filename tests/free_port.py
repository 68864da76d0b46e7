from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel says is free now (aiosmtpd's Controller cannot listen on port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
