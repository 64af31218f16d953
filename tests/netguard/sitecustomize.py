"""Loaded by every Python process started with this folder on PYTHONPATH (the test kernel included).

When ``C3_NETLOG`` names a file, every attempt to open a network connection through Python's socket module
(connect, connect_ex, sendto, getaddrinfo) is appended to that file and refused, so a test can prove that a
chapter run touched no network. Unix-domain sockets are allowed (local IPC only).
"""

import os
import socket

_LOG = os.environ.get("C3_NETLOG")

if _LOG:
    def _record(what, address):
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()} {what} {address!r}\n")
        raise OSError(f"network access blocked by the test guard: {what} {address!r}")

    _connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto

    def connect(self, address):
        if self.family == socket.AF_UNIX:
            return _connect(self, address)
        _record("connect", address)

    def connect_ex(self, address):
        if self.family == socket.AF_UNIX:
            return _connect_ex(self, address)
        _record("connect_ex", address)

    def sendto(self, data, *args):
        if self.family == socket.AF_UNIX:
            return _sendto(self, data, *args)
        _record("sendto", args[-1])

    def getaddrinfo(host, *args, **kwargs):
        _record("getaddrinfo", host)

    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
