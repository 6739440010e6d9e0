"""Seeds the working fuzz corpora (fuzz/corpus/<target>/, not committed) from the request
corpus in tests/corpus/requests and the committed minimized corpus in fuzz/corpus-min/.

    python3 fuzz/seed.py
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
REQUESTS = FUZZ.parent / "tests" / "corpus" / "requests"
TARGETS = ("request_head", "request_stream", "chunked_body")


def put(target: str, data: bytes) -> None:
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main() -> None:
    for http in sorted(REQUESTS.glob("*/*.http")):
        data = http.read_bytes()
        put("request_head", data)
        put("request_stream", data)
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and re.search(rb"(?i)\r\ntransfer-encoding:[^\r]*chunked", head):
            put("chunked_body", body)
    for target in TARGETS:
        for kept in sorted((FUZZ / "corpus-min" / target).glob("*")):
            put(target, kept.read_bytes())


if __name__ == "__main__":
    main()
