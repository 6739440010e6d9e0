"""The framework test app in Quart (see `apps.frameworks`), ASGI."""

from __future__ import annotations

from quart import Quart, Response, jsonify, request, send_file, websocket

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary

app = Quart(__name__)


@app.get("/items/<name>")
async def item(name):
    return jsonify(name=name, q=request.args.get("q"))


@app.post("/form")
async def form():
    return jsonify(fields=(await request.form).to_dict())


@app.post("/upload")
async def upload():
    files = await request.files
    part = files["file"]
    return jsonify(fields=(await request.form).to_dict(),
                   file=file_summary(part.filename, part.read()))


@app.get("/stream")
async def stream():
    async def generate():
        for chunk in STREAM_CHUNKS:
            yield chunk

    return Response(generate(), mimetype="application/octet-stream")


@app.route("/download", methods=["GET", "HEAD"])
async def download():
    return await send_file(download_path(), mimetype="application/octet-stream",
                           as_attachment=True, attachment_filename="data.bin")


@app.websocket("/ws")
async def echo_ws():
    while True:
        text = await websocket.receive()
        await websocket.send(f"quart: {text}")
