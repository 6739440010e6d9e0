"""The framework test app in Litestar (see `apps.frameworks`), ASGI."""

from __future__ import annotations

from typing import Optional

from litestar import Litestar, Request, WebSocket, get, post, route, websocket
from litestar.response import File, Stream

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary


@get("/items/{name:str}")
async def item(name: str, q: Optional[str] = None) -> dict:  # noqa: UP045 (evaluated at run time, 3.9 too)
    return {"name": name, "q": q}


@post("/form", status_code=200)
async def form(request: Request) -> dict:
    fields = await request.form()
    return {"fields": dict(fields)}


@post("/upload", status_code=200)
async def upload(request: Request) -> dict:
    fields = await request.form()
    part = fields["file"]
    data = await part.read()
    plain = {k: v for k, v in fields.items() if isinstance(v, str)}
    return {"fields": plain, "file": file_summary(part.filename, data)}


@get("/stream")
async def stream() -> Stream:
    async def generate():
        for chunk in STREAM_CHUNKS:
            yield chunk

    return Stream(generate(), media_type="application/octet-stream")


@route("/download", http_method=["GET", "HEAD"])
async def download() -> File:
    return File(path=download_path(), filename="data.bin", media_type="application/octet-stream")


@websocket("/ws")
async def echo_ws(socket: WebSocket) -> None:
    await socket.accept()
    while True:
        text = await socket.receive_text()
        await socket.send_text(f"litestar: {text}")


app = Litestar(route_handlers=[item, form, upload, stream, download, echo_ws])
