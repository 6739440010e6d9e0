"""The bundled demo app: `ferrule ferrule.demo:app`.

One HTML page showing the request (method, path, the WSGI environ, escaped) and a form that
POSTs to the page itself and reports how many body bytes arrived. Plain PEP 3333, clean under
`wsgiref.validate`; it streams the body without keeping it, so it is safe to point uploads at.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any, Callable
from urllib.parse import quote

__all__ = ["app"]

_ALLOWED = ("GET", "HEAD", "POST")
_CHUNK = 64 * 1024  # read size for the body; 64 KiB chosen without measurement


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The demo page (GET, HEAD), or the page with the posted body's length (POST)."""
    method = environ["REQUEST_METHOD"]
    if method not in _ALLOWED:
        body = f"Method {method} is not allowed here.\n".encode()
        start_response("405 Method Not Allowed", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Allow", ", ".join(_ALLOWED)),
        ])
        return [body]

    received = _drain_body(environ) if method == "POST" else None
    body = _page(environ, received).encode("utf-8")
    start_response("200 OK", [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"),
    ])
    return [body]


def _drain_body(environ: dict[str, Any]) -> int:
    """Reads the request body to its end and returns its length, keeping none of it.

    PEP 3333: read at most CONTENT_LENGTH bytes, unless the server marks the input as
    terminated (`wsgi.input_terminated`), in which case read until it is empty.
    """
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        remaining = None
    else:
        try:
            remaining = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
        except ValueError:
            remaining = 0
    total = 0
    while remaining is None or remaining > 0:
        chunk = stream.read(_CHUNK if remaining is None else min(_CHUNK, remaining))
        if not chunk:
            break
        total += len(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    return total


def _page(environ: dict[str, Any], received: int | None) -> str:
    esc = html.escape
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    # PEP 3333: PATH_INFO holds the raw path bytes decoded as latin-1.
    action = quote(path.encode("latin-1")) or "/"
    rows = "\n".join(
        f"<tr><th>{esc(key)}</th><td>{esc(_text(value))}</td></tr>"
        for key, value in sorted(environ.items())
    )
    result = (
        f"<p class=result>Received {received} byte{'s' if received != 1 else ''} of body.</p>"
        if received is not None else ""
    )
    return f"""<!doctype html>
<html lang=en>
<head>
<meta charset=utf-8>
<title>Ferrule demo</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; vertical-align: top; padding: .2rem .6rem; }}
tr {{ border-bottom: 1px solid #ddd; }}
td {{ font-family: ui-monospace, monospace; word-break: break-all; }}
</style>
</head>
<body>
<h1>Ferrule demo</h1>
<p>{esc(environ["REQUEST_METHOD"])} <code>{esc(path) or "/"}</code></p>
{result}
<form method=post action="{esc(action)}">
<p><textarea name=text rows=4 cols=60></textarea></p>
<p><button type=submit>POST</button></p>
</form>
<h2>WSGI environ</h2>
<table>
{rows}
</table>
</body>
</html>
"""


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)
