"""The test command blocks the network: an accidental download must fail loudly."""

import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("CNNVISION_BLOCK_NETWORK") != "1",
    reason="runs under the test command, which blocks the network",
)


def test_outside_connection_is_refused():
    with pytest.raises(OSError, match="network blocked"):
        socket.create_connection(("198.51.100.7", 80), timeout=1)


def test_name_lookup_is_refused():
    with pytest.raises(OSError, match="network blocked"):
        socket.getaddrinfo("pypi.org", 443)


def test_loopback_is_allowed():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=1)
    client.close()
    server.close()


def test_subprocesses_are_blocked_too():
    code = "import socket; socket.create_connection(('198.51.100.7', 80), timeout=1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "network blocked" in result.stderr
