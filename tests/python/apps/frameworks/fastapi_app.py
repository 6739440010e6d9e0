"""The framework test app in FastAPI (see `apps.frameworks`), ASGI; besides the common routes,
a dependency reading the lifespan state (`/lifespan`), a background task (`/background`,
recorded in `/background-done`) and a plain `def` endpoint, run in anyio's worker threads
(`/sync-thread`)."""

from __future__ import annotations

import os
import threading
from contextlib import asynccontextmanager
from typing import Annotated, Optional

from fastapi import BackgroundTasks, Depends, FastAPI, File, Form, Request, UploadFile, WebSocket
from fastapi.responses import FileResponse, StreamingResponse

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary

#: Tokens whose background task has run.
finished: list[str] = []


@asynccontextmanager
async def lifespan(app):
    yield {"started_in": os.getpid(), "greeting": "from lifespan"}


app = FastAPI(lifespan=lifespan)


@app.get("/items/{name}")
async def item(name: str, q: Optional[str] = None):  # noqa: UP045 (evaluated at run time, 3.9 too)
    return {"name": name, "q": q}


@app.post("/form")
async def form(request: Request):
    fields = await request.form()
    return {"fields": dict(fields)}


@app.post("/upload")
async def upload(title: Annotated[str, Form()], n: Annotated[str, Form()],
                 file: Annotated[UploadFile, File()]):
    return {"fields": {"title": title, "n": n},
            "file": file_summary(file.filename, await file.read())}


@app.get("/stream")
async def stream():
    async def generate():
        for chunk in STREAM_CHUNKS:
            yield chunk

    return StreamingResponse(generate(), media_type="application/octet-stream")


@app.api_route("/download", methods=["GET", "HEAD"])
async def download():
    return FileResponse(download_path(), media_type="application/octet-stream", filename="data.bin")


def lifespan_greeting(request: Request) -> str:
    return f"{request.state.greeting} (pid {request.state.started_in})"


@app.get("/lifespan")
async def from_lifespan(greeting: Annotated[str, Depends(lifespan_greeting)]):
    return {"greeting": greeting}


@app.post("/background")
async def background(token: str, tasks: BackgroundTasks):
    tasks.add_task(finished.append, token)
    return {"queued": token}


@app.get("/background-done")
async def background_done():
    return {"finished": finished}


#: How many requests the calling worker thread has run (`/sync-thread`).
_served = threading.local()


@app.get("/sync-thread")
def sync_thread():
    _served.count = getattr(_served, "count", 0) + 1
    return {"served_by_this_thread": _served.count}


@app.websocket("/ws")
async def echo_ws(websocket: WebSocket):
    await websocket.accept()
    while True:
        text = await websocket.receive_text()
        await websocket.send_text(f"fastapi: {text}")
