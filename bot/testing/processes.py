"""Running the real bot in a process of its own: a free port, waiting for it to listen."""

from __future__ import annotations

import socket
import subprocess
import time

START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(process: subprocess.Popen, port: int, timeout: float = START_TIMEOUT):
    """Wait for `port` to accept connections (or the process to die)."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise AssertionError(f"the bot exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout:.0f} s")
