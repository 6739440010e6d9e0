"""The same small app written with five frameworks (Flask, Django, Pyramid, Bottle, Falcon),
served by tests/python/e2e/test_frameworks.py. Each module exposes `app`, wrapped in
`wsgiref.validate.validator`, with these routes:

- `GET /items/<name>?q=...`: JSON `{"name", "q"}` from the path parameter and query string.
- `POST /form` (urlencoded): JSON `{"fields": {...}}` as the framework parsed them.
- `POST /upload` (multipart): JSON `{"fields": {...}, "file": {"filename", "size", "sha256"}}`.
- `GET /stream`: `common.STREAM_CHUNKS` from a generator, no length.
- `GET /download`: `common.download_bytes()` through the framework's own file helper.
"""
