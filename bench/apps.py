"""Benchmark workloads: plain WSGI apps, the same callable for every server under test.

Each workload is a `Workload` in `WORKLOADS`, keyed by the name `bench/run.py --workload`
takes. A server is pointed at `apps:<attr>` (with `bench/` on its Python path), and
`run.py` checks one response against `expect_*` before it measures anything, so a server
that answers wrongly is reported as failed instead of being timed.

To add a workload (e.g. `json`): write the app here, add a `Workload` to `WORKLOADS`.
Keep apps free of imports that only some servers have; stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HELLO_BODY = b"Hello, world!"
HELLO_HEADERS = [
    ("Content-Type", "text/plain"),
    ("Content-Length", str(len(HELLO_BODY))),
]


def hello(environ, start_response):
    """The smallest useful response: fixed 13-byte body, known length, one chunk."""
    start_response("200 OK", list(HELLO_HEADERS))
    return [HELLO_BODY]


@dataclass(frozen=True)
class Workload:
    """One thing to measure: which app, which request, and what a right answer looks like."""

    name: str
    attr: str                      # attribute in this module: the server's target is "apps:<attr>"
    description: str
    path: str = "/"                # request path wrk hits
    method: str = "GET"
    expect_status: int = 200
    expect_body: bytes | None = None
    expect_headers: dict[str, str] = field(default_factory=dict)   # lower-case name -> value

    @property
    def target(self) -> str:
        return f"apps:{self.attr}"


WORKLOADS: dict[str, Workload] = {
    "hello": Workload(
        name="hello",
        attr="hello",
        description='GET / -> 200, text/plain, Content-Length 13, body [b"Hello, world!"]',
        expect_body=HELLO_BODY,
        expect_headers={"content-type": "text/plain", "content-length": "13"},
    ),
}
