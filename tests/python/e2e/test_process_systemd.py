"""systemd's `Type=notify` protocol without systemd: the test binds the unix datagram socket
systemd would (`NOTIFY_SOCKET`, a path or an abstract name), starts the real server with it,
and reads what the master says and which process said it (`SO_PASSCRED` credentials):
`READY=1` once serving, `RELOADING=1` + `MONOTONIC_USEC=` on HUP and `READY=1` after,
`MAINPID=` + `READY=1` from a new master started by USR2 (the old one says nothing more),
`STOPPING=1` on TERM. Workers do not get `NOTIFY_SOCKET`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import time
import uuid

import pytest
from test_process_signals import get, start, wait_for_count
from test_process_upgrade import alive, stop_pid

#: struct ucred: pid, uid, gid.
_UCRED = struct.Struct("iII")


class NotifySocket:
    """What systemd binds for a `Type=notify` service; `recv` returns (sender pid, text)."""

    def __init__(self, address: str, sock: socket.socket) -> None:
        self.address = address
        self.sock = sock

    @classmethod
    def bind(cls, tmp_path, abstract: bool) -> NotifySocket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"ferrule-test-{uuid.uuid4().hex}"
            sock.bind("\0" + name)
            return cls("@" + name, sock)
        path = str(tmp_path / "notify.sock")
        sock.bind(path)
        return cls(path, sock)

    def recv(self, timeout: float = 10.0) -> tuple[int, str]:
        self.sock.settimeout(timeout)
        data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(_UCRED.size))
        pid = -1
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = _UCRED.unpack(payload[: _UCRED.size])[0]
        return pid, data.decode()

    def nothing_within(self, seconds: float) -> bool:
        try:
            message = self.recv(timeout=seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected notification {message!r}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=[False, True], ids=["path", "abstract"])
def notify(request, tmp_path):
    sock = NotifySocket.bind(tmp_path, abstract=request.param)
    yield sock
    sock.close()


def test_start_hup_usr2_and_term_are_told_to_systemd_in_order(notify):
    server = start(workers=1, env={"NOTIFY_SOCKET": notify.address})
    master = server.proc.pid
    new_master = None
    try:
        assert notify.recv() == (master, "READY=1")
        # The workers cannot speak for the service.
        assert get(server, "/env?name=NOTIFY_SOCKET").endswith("NOTIFY_SOCKET=None")

        server.proc.send_signal(signal.SIGHUP)
        sender, text = notify.recv()
        now_usec = time.monotonic_ns() // 1000
        assert sender == master
        match = re.fullmatch(r"RELOADING=1\nMONOTONIC_USEC=(\d+)", text)
        assert match, text
        assert 0 <= now_usec - int(match.group(1)) < 10_000_000
        assert notify.recv() == (master, "READY=1")
        wait_for_count(server, r"master phase: Running", 2)

        server.proc.send_signal(signal.SIGUSR2)
        line = server.wait_for_log(r"started a new master \(pid \d+\)")
        new_master = int(re.search(r"pid (\d+)", line).group(1))
        assert notify.recv(timeout=20) == (new_master, f"MAINPID={new_master}\nREADY=1")
        assert server.proc.wait(timeout=10) == 0
        # The old master drained and left without saying the service stops.
        assert notify.nothing_within(0.5)

        os.kill(new_master, signal.SIGTERM)
        assert notify.recv() == (new_master, "STOPPING=1")
        stop_pid(new_master)
        new_master = None
    finally:
        if new_master is not None and alive(new_master):
            stop_pid(new_master)
        server.stop()


def test_a_quick_stop_says_stopping_too(notify):
    server = start(workers=1, env={"NOTIFY_SOCKET": notify.address})
    try:
        assert notify.recv() == (server.proc.pid, "READY=1")
        server.proc.send_signal(signal.SIGINT)
        assert notify.recv() == (server.proc.pid, "STOPPING=1")
        assert server.proc.wait(timeout=10) == 0
    finally:
        server.stop()


def test_an_unreachable_notify_socket_is_logged_once_and_serving_goes_on(tmp_path):
    missing = str(tmp_path / "nobody-listens")
    server = start(workers=1, env={"NOTIFY_SOCKET": missing})
    try:
        server.wait_for_log(r"cannot notify systemd \(NOTIFY_SOCKET=.*nobody-listens\)")
        assert get(server).startswith("pid=")
        server.proc.send_signal(signal.SIGHUP)
        wait_for_count(server, r"master phase: Running", 2)
    finally:
        assert server.stop() == 0
    assert server.log().count("cannot notify systemd") == 1
