"""Block every network connection except loopback, in every Python process.

The test command puts this folder on PYTHONPATH with CNNVISION_BLOCK_NETWORK=1,
so pytest, the Jupyter kernels it starts (nbval, nbgrader, the book build)
and any subprocess fail loudly on an accidental download.
"""

import os
import socket

if os.environ.get("CNNVISION_BLOCK_NETWORK") == "1":
    _LOOPBACK_PREFIXES = ("127.", "::1", "localhost", "0.0.0.0")
    _original_connect = socket.socket.connect
    _original_connect_ex = socket.socket.connect_ex
    _original_getaddrinfo = socket.getaddrinfo

    def _is_local(address) -> bool:
        if isinstance(address, (str, bytes)):  # AF_UNIX path
            return True
        host = str(address[0]) if address else ""
        return host.startswith(_LOOPBACK_PREFIXES) or host == ""

    def _refuse(address):
        raise OSError(f"network blocked during tests: connection to {address!r} refused")

    def _guarded_connect(self, address):
        if not _is_local(address):
            _refuse(address)
        return _original_connect(self, address)

    def _guarded_connect_ex(self, address):
        if not _is_local(address):
            _refuse(address)
        return _original_connect_ex(self, address)

    def _guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local((host,)):
            text = host.decode() if isinstance(host, bytes) else str(host)
            if not text.replace(".", "").isdigit():
                _refuse(host)
        return _original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
    socket.getaddrinfo = _guarded_getaddrinfo
