"""What the framework apps and their tests share: the streamed chunks, the downloadable
file's bytes (and where each server process keeps a copy), and how an upload is summed up."""

from __future__ import annotations

import hashlib
import os
import tempfile
from wsgiref.validate import validator

#: Chunks of the streamed response: small and large, so both go through the chunked encoder.
STREAM_CHUNKS = [f"line {i}\n".encode() * (1 + 50 * i) for i in range(5)] + [b"z" * 100_000]

#: Just under 1 MB and odd, so that an off-by-one or a lost block shows.
DOWNLOAD_SIZE = 1_000_003


def download_bytes() -> bytes:
    """The file's content: every 32-byte block differs, so a misplaced block shows."""
    blocks = (hashlib.sha256(i.to_bytes(4, "big")).digest()
              for i in range(DOWNLOAD_SIZE // 32 + 1))
    return b"".join(blocks)[:DOWNLOAD_SIZE]


def download_path() -> str:
    """A copy of `download_bytes()` on disk, written once per server process."""
    path = os.path.join(tempfile.gettempdir(), f"ferrule-download-{os.getpid()}.bin")
    if not os.path.exists(path) or os.path.getsize(path) != DOWNLOAD_SIZE:
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(download_bytes())
        os.replace(tmp, path)
    return path


def file_summary(filename: str, data: bytes) -> dict:
    return {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def validated_allowing_unsized_reads(app):
    """`validator(app)`, except that `wsgi.input.read()` may be called without a size.

    The validator insists on `read(size)`, as PEP 3333 lists it. Werkzeug calls `read()` when
    the server sets `wsgi.input_terminated` (an extension the validator predates, which
    ferrule sets), so Flask's form parsing would fail the validator through no fault of the
    server. Such reads go to the server's own `read()` (its read-to-the-end path), checked
    for returning bytes; everything else still goes through the validator.
    """
    def shim(environ, start_response):
        # Inside the validator: environ["wsgi.input"] is its InputWrapper.
        environ["wsgi.input"] = _UnsizedReads(environ["wsgi.input"])
        return app(environ, start_response)

    return validator(shim)


class _UnsizedReads:
    def __init__(self, validated_input):
        self._validated = validated_input

    def read(self, *args):
        if args and args[0] is not None and args[0] >= 0:
            return self._validated.read(*args)
        data = self._validated.input.read()
        assert type(data) is bytes, f"wsgi.input.read() returned {type(data).__name__}"
        return data

    def __getattr__(self, name):
        return getattr(self._validated, name)

    def __iter__(self):
        return iter(self._validated)
