"""The framework test app in Starlette (see `apps.frameworks`), ASGI."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary


async def item(request):
    return JSONResponse({"name": request.path_params["name"], "q": request.query_params.get("q")})


async def form(request):
    async with request.form() as fields:
        return JSONResponse({"fields": dict(fields)})


async def upload(request):
    async with request.form() as fields:
        part = fields["file"]
        data = await part.read()
        plain = {k: v for k, v in fields.items() if isinstance(v, str)}
        return JSONResponse({"fields": plain, "file": file_summary(part.filename, data)})


async def stream(request):
    async def generate():
        for chunk in STREAM_CHUNKS:
            yield chunk

    return StreamingResponse(generate(), media_type="application/octet-stream")


async def download(request):
    return FileResponse(download_path(), media_type="application/octet-stream", filename="data.bin")


async def echo_ws(websocket):
    await websocket.accept(subprotocol="echo" if "echo" in websocket.scope["subprotocols"] else None)
    async for text in websocket.iter_text():
        await websocket.send_text(f"starlette: {text}")


app = Starlette(routes=[
    WebSocketRoute("/ws", echo_ws),
    Route("/items/{name}", item),
    Route("/form", form, methods=["POST"]),
    Route("/upload", upload, methods=["POST"]),
    Route("/stream", stream),
    Route("/download", download, methods=["GET", "HEAD"]),
])
