"""The framework test app in Bottle (see `apps.frameworks`)."""

from __future__ import annotations

import os
from wsgiref.validate import validator

import bottle

from apps.frameworks.common import STREAM_CHUNKS, download_path, file_summary

bottle_app = bottle.Bottle()


@bottle_app.get("/items/<name>")
def item(name):
    return {"name": name, "q": bottle.request.query.getunicode("q")}


def _fields():
    return {k: bottle.request.forms.getunicode(k) for k in bottle.request.forms}


@bottle_app.post("/form")
def form():
    return {"fields": _fields()}


@bottle_app.post("/upload")
def upload():
    part = bottle.request.files.get("file")
    return {"fields": _fields(), "file": file_summary(part.raw_filename, part.file.read())}


@bottle_app.get("/stream")
def stream():
    bottle.response.content_type = "application/octet-stream"

    def generate():
        yield from STREAM_CHUNKS

    return generate()


@bottle_app.get("/download")
def download():
    path = download_path()
    return bottle.static_file(os.path.basename(path), root=os.path.dirname(path),
                              mimetype="application/octet-stream", download="data.bin")


app = validator(bottle_app)
