"""The "Server" settings: where to listen and how many requests run the app at once."""

from __future__ import annotations

from typing import Any

from ferrule.settings.addresses import HTTPS_RULE, normalize_bind
from ferrule.settings.setting import Setting
from ferrule.settings.values import (
    BOOL,
    COUNT,
    INT,
    PATH,
    Check,
    Choice,
    InvalidValue,
    StrList,
    ValueType,
    at_most,
)


def _bind_address(text: str) -> str:
    """One `bind` address; `https://` is answered with how TLS is turned on."""
    try:
        return normalize_bind(text)
    except InvalidValue as err:
        if err.rule != HTTPS_RULE:
            raise
        raise InvalidValue("must not be https://: bind HOST:PORT and give certfile and "
                           "keyfile, which serve TLS on every TCP address", err.got) from None


class _Octal(ValueType):
    """A file mode or umask: `0660`, `0o660` or `660` from text (always octal), an int from a
    TOML file or keyword (`0o660`). Empty or None means unset."""

    name = "octal mode (empty = unset)"

    def convert(self, raw: object) -> int | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip().lower().removeprefix("0o")
            if text and all(ch in "01234567" for ch in text):
                return int(text, 8)
        raise InvalidValue("must be an octal mode like 0660", repr(raw))

    def show(self, value: Any) -> str:
        return oct(value) if isinstance(value, int) else repr(value)


class _HttpProtocols(ValueType):
    """The HTTP versions served, in ALPN preference order: gunicorn's comma list of `h1` and
    `h2` (`"h2, h1"`, or a list), converted to `h1`, `h2,h1` or `h1,h2`. HTTP/1.x cannot be
    left out: plain connections without the HTTP/2 preface, and TLS clients without ALPN,
    speak it."""

    name = "h1, h2,h1 or h1,h2"
    choices = ("h1", "h2,h1", "h1,h2")
    RULE = "must be h1, h2,h1 or h1,h2 (HTTP/1.1 cannot be left out)"

    def convert(self, raw: object) -> str:
        if isinstance(raw, str):
            items = [part.strip().lower() for part in raw.split(",")]
        elif isinstance(raw, (list, tuple)) and all(isinstance(part, str) for part in raw):
            items = [part.strip().lower() for part in raw]
        else:
            raise InvalidValue(self.RULE, repr(raw))
        text = ",".join(items)
        if text in self.choices:
            return text
        raise InvalidValue(self.RULE, repr(raw))


class _Cleartext(ValueType):
    """HTTP/2 without TLS: `prior-knowledge` or `off`. gunicorn's `upgrade` and `both`
    (HTTP/1.1 `Upgrade: h2c`, which RFC 9113 deprecated) are refused with the reason."""

    name = "prior-knowledge or off"
    choices = ("off", "prior-knowledge")

    def convert(self, raw: object) -> str:
        text = raw.strip().lower() if isinstance(raw, str) else None
        if text in self.choices:
            return text
        if text in ("upgrade", "both"):
            raise InvalidValue(
                "must be prior-knowledge or off (the HTTP/1.1 Upgrade: h2c handshake is not "
                "served: RFC 9113 deprecates it, and every h2c client and proxy speaks prior "
                "knowledge)", repr(raw))
        raise InvalidValue("must be prior-knowledge or off", repr(raw))


class _Account(ValueType):
    """A user or group, by name or number, converted to its numeric id."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind} name or id (empty = unchanged)"

    def convert(self, raw: object) -> int | None:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            text = raw.strip()
            if text.isdigit():
                return int(text)
            try:
                if self.kind == "user":
                    import pwd

                    return pwd.getpwnam(text).pw_uid
                import grp

                return grp.getgrnam(text).gr_gid
            except KeyError:
                raise InvalidValue(f"must name an existing {self.kind}", repr(raw)) from None
        raise InvalidValue(f"must be a {self.kind} name or id", repr(raw))

    def show(self, value: Any) -> str:
        return str(value)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="bind",
        section="Server",
        type=StrList(item=_bind_address),
        default=("127.0.0.1:8000",),
        flags=("-b", "--bind"),
        repeatable=True,
        metavar="ADDRESS",
        core=True,
        checks=(
            Check("must name at least one address", lambda value: len(value) > 0),
            Check("must not name the same address twice",
                  lambda value: len(set(value)) == len(value)),
        ),
        help=(
            "Where to listen: `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`, or `fd://N` for a "
            "listening socket the process was started with. Under systemd socket activation "
            "(`LISTEN_FDS`) the activated sockets are used instead. A bare `HOST` (or "
            "`[IPv6]`) listens on port 8000; `:PORT` listens on every IPv4 interface "
            "(`0.0.0.0:PORT`), as with gunicorn. Port 0 picks a free port. Repeat the flag (or "
            "separate addresses with commas) to listen on several addresses. `http://` and "
            "`tcp://` in front of `HOST:PORT` are accepted. As with gunicorn, when `PORT` is in "
            "the environment (Heroku, Cloud Run) the default is `0.0.0.0:$PORT`."
        ),
    ),
    Setting(
        name="threads",
        section="Server",
        type=INT,
        # 4, as waitress: enough to overlap apps' I/O waits (database, upstream HTTP), during
        # which the GIL is released, without adding GIL contention and memory for CPU-bound
        # apps. Chosen without measurement; revisit with bench/ numbers.
        default=4,
        flags=("--threads",),
        metavar="N",
        core=True,
        checks=COUNT,
        help=(
            "Python threads per worker that run the app: at most this many requests run app "
            "code at once in a worker. 4 (as in waitress) overlaps requests that wait on I/O "
            "(databases, upstream HTTP) with the GIL released, without the GIL contention and "
            "memory of many threads in CPU-bound apps; raise it for apps that mostly wait."
        ),
    ),
    Setting(
        name="reuse_port",
        section="Server",
        type=BOOL,
        default=False,
        flags=("--reuse-port",),
        core=True,
        help=(
            "Set SO_REUSEPORT on TCP listening sockets, so that another server (another "
            "ferrule, during a blue-green switch) may bind the same port."
        ),
    ),
    Setting(
        name="ws_per_message_deflate",
        section="Server",
        type=BOOL,
        default=True,
        flags=("--ws-per-message-deflate",),
        core=True,
        help=(
            "Accept a client's permessage-deflate offer (RFC 7692) on WebSockets. The server "
            "compresses without context takeover (no window kept between messages) and inflates "
            "under `ws_max_message_bytes`, so a compressed bomb costs at most that."
        ),
    ),
    Setting(
        name="http_protocols",
        section="Server",
        type=_HttpProtocols(),
        default="h2,h1",
        flags=("--http-protocols",),
        metavar="h2,h1",
        core=True,
        help=(
            "The HTTP versions served, in order of preference: `h2,h1` (HTTP/2 offered by ALPN "
            "on TLS listeners, and on plain ones to clients that open with the HTTP/2 preface, "
            "see `http2_cleartext`), `h1,h2`, or `h1` (HTTP/1.x only). gunicorn's spelling "
            "(`h2, h1`) is accepted."
        ),
    ),
    Setting(
        name="http2_cleartext",
        section="Server",
        type=_Cleartext(),
        default="prior-knowledge",
        flags=("--http2-cleartext",),
        metavar="prior-knowledge|off",
        core=True,
        help=(
            "HTTP/2 on plain (non-TLS) listeners: `prior-knowledge` serves a connection that "
            "opens with the HTTP/2 connection preface (`PRI * HTTP/2.0`, what Envoy, Google "
            "Cloud load balancers and `curl --http2-prior-knowledge` send) as HTTP/2 and every "
            "other as HTTP/1.x; `off` serves HTTP/1.x only. No HTTP/1.1 request starts with "
            "the preface, so the check changes nothing for HTTP/1.x clients. The HTTP/1.1 "
            "`Upgrade: h2c` handshake is not served."
        ),
    ),
    Setting(
        name="sendfile",
        section="Server",
        type=Choice("auto", "on", "off"),
        default="auto",
        flags=("--sendfile",),
        gunicorn=("--no-sendfile",),
        metavar="auto|on|off",
        core=True,
        help=(
            "How a `wsgi.file_wrapper` file is sent: `on`, sendfile(2), with no copy through "
            "the server; `off`, read and written in 256 KiB pieces; `auto`, sendfile except to "
            "a loopback client (a proxy on the same host), where copying costs the machine "
            "less in all: measured on 10 MiB files, the reader took 5.1 ms of CPU per file "
            "from sendfile against 2.7 ms from writes, the server 1.0 ms against 1.9 ms."
        ),
    ),
    Setting(
        name="sched_policy",
        section="Server",
        type=Choice("batch", "normal"),
        default="batch",
        flags=("--sched-policy",),
        metavar="batch|normal",
        core=True,
        help=(
            "The Linux scheduling policy of the worker processes' threads. `batch` "
            "(SCHED_BATCH, no privileges needed) stops a worker's I/O thread and Python threads "
            "from preempting each other at every hand-off of a request: measured at 1 worker "
            "on 1 core, hello went from 100k to 134k req/s and Django from 14k to 19k, with "
            "lower p50 and p99. The cost: when other processes keep the CPUs busy, a woken "
            "worker thread waits for the running one's time slice (~1-3 ms) instead of "
            "preempting it. With more than one Python thread per worker, the Python threads "
            "themselves stay SCHED_OTHER under `batch`: CPython hands the GIL between them "
            "when a waiting thread's 5 ms timer wakes it, and a batch thread woke too late "
            "(flask at 4 threads on 1 core: p99 64 ms against 44). `normal` is SCHED_OTHER "
            "for every thread."
        ),
    ),
    Setting(
        name="unix_socket_mode",
        section="Server",
        type=_Octal(),
        # 0666: a proxy running as another user (nginx's workers) must be able to connect, as
        # any local user can to a 127.0.0.1 port; gunicorn's sockets are 0777 for the same
        # reason (it binds them under umask 0). The x bits mean nothing on a socket.
        default="0666",
        default_text="0666 (any local user may connect, as to a loopback port)",
        flags=("--unix-socket-mode",),
        metavar="MODE",
        core=True,
        checks=(at_most(0o7777, "0o7777"),),
        help=(
            "The file mode of `unix:` socket files, set after binding whatever the umask. The "
            "default lets a proxy running as another user (nginx's workers) connect, as gunicorn's "
            "sockets do; `0660` limits it to the socket's group. Empty leaves what the umask "
            "gives."
        ),
    ),
    Setting(
        name="pid_file",
        section="Server",
        type=PATH,
        default=None,
        default_text="none (no file)",
        flags=("--pid-file",),
        gunicorn=("-p", "--pid", "pidfile"),
        metavar="FILE",
        core=True,
        help=(
            "Write the master's pid to this file; it is removed when the master stops (unless "
            "a new master, after SIGUSR2, has written its own)."
        ),
    ),
    Setting(
        name="user",
        section="Server",
        type=_Account("user"),
        default=None,
        default_text="none (unchanged)",
        flags=("--user",),
        gunicorn=("-u",),
        metavar="USER",
        core=True,
        help=(
            "Workers switch to this user (name or id) after the fork, before importing the "
            "app; the master keeps its user to bind ports and reopen logs. Without `group`, the "
            "user's primary group."
        ),
    ),
    Setting(
        name="group",
        section="Server",
        type=_Account("group"),
        default=None,
        default_text="none (unchanged, or the user's primary group)",
        flags=("--group",),
        gunicorn=("-g",),
        metavar="GROUP",
        core=True,
        help="Workers switch to this group (name or id) after the fork.",
    ),
    Setting(
        name="umask",
        section="Server",
        type=_Octal(),
        default=None,
        default_text="none (inherited)",
        flags=("--umask",),
        gunicorn=("-m",),
        metavar="MODE",
        checks=(at_most(0o777, "0o777"),),
        help="The umask of the master and its workers (applies to unix socket and log files).",
    ),
)
