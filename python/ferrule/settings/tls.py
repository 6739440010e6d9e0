"""The "TLS" settings: served by the worker itself (rustls), on every TCP listener."""

from __future__ import annotations

from ferrule.settings.setting import Setting
from ferrule.settings.values import BOOL, PATH, STR, Choice, InvalidValue, ValueType


class _CertReqs(ValueType):
    """Whether clients must send a certificate: gunicorn's numbers (`ssl.CERT_NONE` 0,
    `CERT_OPTIONAL` 1, `CERT_REQUIRED` 2) or the names `none`, `optional`, `required`;
    converted to the name."""

    name = "0, 1, 2 (or none, optional, required)"
    choices = ("none", "optional", "required")

    def convert(self, raw: object) -> str:
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 2:
            return self.choices[raw]
        if isinstance(raw, str):
            text = raw.strip().lower()
            if text in ("0", "1", "2"):
                return self.choices[int(text)]
            if text in self.choices:
                return text
        raise InvalidValue("must be 0 (none), 1 (optional) or 2 (required)", repr(raw))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        name="certfile",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none (plain HTTP)",
        flags=("--certfile",),
        metavar="FILE",
        core=True,
        help=(
            "The server's certificate chain (PEM, leaf first). Setting it makes every TCP "
            "listener speak TLS 1.2 and 1.3 (unix sockets stay plain). The master reads the "
            "files at startup (a missing or broken file stops it, naming the file) and again "
            "on SIGHUP, for the new generation of workers: that is how a certificate is "
            "rotated without downtime."
        ),
    ),
    Setting(
        name="keyfile",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none (the key is in certfile)",
        flags=("--keyfile",),
        metavar="FILE",
        core=True,
        help=(
            "The private key of `certfile` (PEM: PKCS#8, RSA or EC; RSA, ECDSA and Ed25519 "
            "keys). Read by the master, so it may be readable by root only when workers run "
            "as `user`. An encrypted key is refused: decrypt it and protect the file."
        ),
    ),
    Setting(
        name="ca_certs",
        section="TLS",
        type=PATH,
        default=None,
        default_text="none",
        flags=("--ca-certs",),
        metavar="FILE",
        core=True,
        help="CA certificates (PEM) that client certificates must chain to (`cert_reqs`).",
    ),
    Setting(
        name="cert_reqs",
        section="TLS",
        type=_CertReqs(),
        default="none",
        flags=("--cert-reqs",),
        metavar="0|1|2",
        core=True,
        help=(
            "Client certificates, as gunicorn numbers them: 0 not asked for, 1 asked for and "
            "checked when sent, 2 required (mutual TLS). 1 and 2 need `ca_certs`. A verified "
            "client certificate shows in the environ as `SSL_CLIENT_S_DN`, `SSL_CLIENT_I_DN`, "
            "`SSL_CLIENT_CERT` and `SSL_CLIENT_VERIFY`."
        ),
    ),
    Setting(
        name="tls_min_version",
        section="TLS",
        type=Choice("1.2", "1.3"),
        default="1.2",
        flags=("--tls-min-version",),
        metavar="1.2|1.3",
        core=True,
        help="The oldest TLS version served; nothing older than 1.2 ever is.",
    ),
    Setting(
        name="ssl_version",
        section="TLS",
        type=STR,
        default="",
        default_text="ignored",
        flags=("--ssl-version",),
        metavar="VERSION",
        ignored="TLS versions are set by --tls-min-version (1.2 or 1.3); rustls has no older ones",
        help="gunicorn's setting, accepted and ignored (see `tls_min_version`).",
    ),
    Setting(
        name="ciphers",
        section="TLS",
        type=STR,
        default="",
        default_text="ignored",
        flags=("--ciphers",),
        metavar="LIST",
        ignored="rustls offers only AEAD suites with forward secrecy, in its own order",
        help="gunicorn's setting, accepted and ignored: rustls offers only strong suites.",
    ),
    Setting(
        name="do_handshake_on_connect",
        section="TLS",
        type=BOOL,
        default=False,
        flags=("--do-handshake-on-connect",),
        ignored="the handshake always runs first, in the connection's own task, under "
                "header_timeout",
        help="gunicorn's setting, accepted and ignored.",
    ),
    Setting(
        name="suppress_ragged_eofs",
        section="TLS",
        type=BOOL,
        default=True,
        flags=("--suppress-ragged-eofs",),
        ignored="a connection closed without close_notify ends like any closed connection",
        help="gunicorn's setting, accepted and ignored.",
    ),
)
